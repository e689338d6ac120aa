"""0003 ingest leases: the live ingest workers and which of them cuts each sensor (:mod:`hydroserve.acoustics.leases`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_workers",
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, comment="the worker counts as live until then"),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    op.create_table(
        "sensor_leases",
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("worker_id", sa.String(length=128), nullable=True, comment="the worker cutting this sensor; NULL: free"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True, comment="the lease is void after this"),
        sa.PrimaryKeyConstraint("sensor_id"),
    )
    with op.batch_alter_table("sensor_leases") as batch_op:
        batch_op.create_index("sensor_leases_by_worker", ["worker_id"])


def downgrade() -> None:
    op.drop_table("sensor_leases")
    op.drop_table("ingest_workers")
