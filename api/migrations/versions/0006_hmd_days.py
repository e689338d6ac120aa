"""0006 hmd days: the sensor-days of 1-minute HMD and the revision their day aggregates must be.

* ``hmd_days``: one row per sensor and UTC day with data; ``revision`` +1 per package (or new HMD version) touching the
  day, in the package's transaction (:mod:`hydroserve.acoustics.hmd_days`);
* ``hmd_days_by_day``: the many-sensor band-level queries read a range of days.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hmd_days",
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False, comment="UTC day"),
        sa.Column("revision", sa.Integer(), nullable=False,
                  comment="+1 per package (or new HMD version) touching the day"),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sensor_id"], ["sensors.sensor_id"]),
        sa.PrimaryKeyConstraint("sensor_id", "day"),
    )
    with op.batch_alter_table("hmd_days") as batch_op:
        batch_op.create_index("hmd_days_by_day", ["day", "sensor_id"])


def downgrade() -> None:
    op.drop_table("hmd_days")
