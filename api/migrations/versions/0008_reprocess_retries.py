"""0008 reprocess retries: a reprocessing job ended by a catalog or storage error waits, then fails after its attempts.

``reprocess_jobs`` gains ``attempts`` (executions ended so), ``retry_at`` (not taken again before) and ``last_error``
(:func:`hydroserve.acoustics.reprocess_jobs.defer`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reprocess_jobs") as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0", comment=(
            "executions ended by a catalog or storage error (the job stays pending until max attempts)")))
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True,
                                      comment="not taken again before this time"))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True,
                                      comment="the catalog or storage error of the last attempt"))


def downgrade() -> None:
    with op.batch_alter_table("reprocess_jobs") as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("retry_at")
        batch_op.drop_column("attempts")
