"""0004 product versions and reprocessing jobs (:mod:`hydroserve.acoustics.reprocess_jobs`).

Every product row gets a version (1: made at ingest) and, once rebuilt, the settings, software and time that made
it and a summary of the version it replaced; ``reprocess_jobs`` holds the jobs that any worker executes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"),
                                      comment="1 as made at ingest, +1 per rebuild that changed it"))
        batch_op.add_column(sa.Column("job_id", sa.BigInteger(), nullable=True,
                                      comment="the reprocessing job that made this version; NULL: made at ingest"))
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=True,
                                      comment="the settings that made this version; NULL: the package's"))
        batch_op.add_column(sa.Column("software_version", sa.String(length=32), nullable=True,
                                      comment="the software that made this version; NULL: the package's"))
        batch_op.add_column(sa.Column("made_at", sa.DateTime(timezone=True), nullable=True,
                                      comment="when this version was made; NULL: the package's created_at"))
        batch_op.add_column(sa.Column("replaces", sa.JSON(), nullable=True,
                                      comment="summary of the version this one replaced; NULL for version 1"))
    op.create_table(
        "reprocess_jobs",
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False, comment="the `hydroserve reprocess` run that submitted it"),
        sa.Column("package_id", sa.String(length=96), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False, comment='product kinds to rebuild, e.g. ["mp3", "psd"]'),
        sa.Column("settings", sa.JSON(), nullable=False, comment="product settings to rebuild with (configuration keys)"),
        sa.Column("calibration", sa.JSON(), nullable=True, comment="the sensor calibration to rebuild with; NULL: uncalibrated"),
        sa.Column("state", sa.String(length=16), nullable=False, comment="pending | done | failed"),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True, comment="who finished it (host:pid)"),
        sa.Column("outcome", sa.JSON(), nullable=True, comment='per kind: {"version": n, "changed": bool}'),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["package_id"], ["packages.package_id"]),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("reprocess_jobs") as batch_op:
        batch_op.create_index("reprocess_jobs_due", ["state", "job_id"])
        batch_op.create_index("reprocess_jobs_by_batch", ["batch_id", "state"])


def downgrade() -> None:
    op.drop_table("reprocess_jobs")
    with op.batch_alter_table("products") as batch_op:
        for column in ("replaces", "made_at", "software_version", "settings", "job_id", "version"):
            batch_op.drop_column(column)
