"""0002 keyset indexes and a package count per sensor.

* ``packages_by_sensor_time`` and ``packages_by_time`` end in ``package_id``, so a keyset page (``(tick, id) <
  cursor``) starts at its place in the index;
* ``outbox_due`` leads with ``state`` and ends in ``id``: the claim reads the due rows of a destination in order;
* ``sensors.n_packages`` counts each sensor's packages (kept in the package's own transaction), so the sensor list
  reads no growing table whole; filled here from the packages already archived.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("packages") as batch_op:
        batch_op.drop_index("packages_by_sensor_time")
        batch_op.drop_index("packages_by_time")
        batch_op.create_index("packages_by_sensor_time", ["sensor_id", "boundary_tick", "package_id"])
        batch_op.create_index("packages_by_time", ["boundary_tick", "package_id"])
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("outbox_due")
        batch_op.create_index("outbox_due", ["state", "destination", "next_attempt_at", "id"])
    with op.batch_alter_table("sensors") as batch_op:
        batch_op.add_column(sa.Column("n_packages", sa.BigInteger(), nullable=False, server_default=sa.text("0"),
                                      comment="packages of the sensor, counted in each package's transaction "
                                              "(a count per scrape would read them all)"))
    op.execute("UPDATE sensors SET n_packages = (SELECT count(*) FROM packages WHERE packages.sensor_id = sensors.sensor_id)")


def downgrade() -> None:
    with op.batch_alter_table("sensors") as batch_op:
        batch_op.drop_column("n_packages")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("outbox_due")
        batch_op.create_index("outbox_due", ["destination", "state", "next_attempt_at"])
    with op.batch_alter_table("packages") as batch_op:
        batch_op.drop_index("packages_by_sensor_time")
        batch_op.drop_index("packages_by_time")
        batch_op.create_index("packages_by_sensor_time", ["sensor_id", "boundary_tick"])
        batch_op.create_index("packages_by_time", ["boundary_tick"])
