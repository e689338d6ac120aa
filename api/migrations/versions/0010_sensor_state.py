"""0010 sensor state: what a sensor holds is kept in its row, so ``/metrics`` and the sensor list read no package.

``sensors`` gains ``n_skipped_windows`` (counted in each skip's transaction), the window start and first sample of the
oldest package (``oldest_boundary_tick``, ``oldest_start_tick``) and the window start, end and id of the newest one
(``newest_boundary_tick``, ``newest_end_tick``, ``newest_package_id``) and its frame time-stamp deviations
(``newest_timestamp_deviation``, of its raw product, which is never rebuilt), kept in each package's transaction
(:mod:`hydroserve.acoustics.catalog_by_sensor`). They are filled here, in two statements, from the packages and skipped
windows already in the catalog: a few index lookups per sensor (``packages_by_sensor_time``, the skipped windows'
primary key), however many packages there are.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DEVIATION = "newest_timestamp_deviation"
"""The newest package's frame time-stamp deviations (its raw product's ``input_timestamp_deviation``): ``/metrics``."""
EDGES = {  # column -> (the package column it copies, from the oldest (ASC) or the newest (DESC) package)
    "oldest_boundary_tick": ("boundary_tick", "ASC"),
    "oldest_start_tick": ("start_tick", "ASC"),
    "newest_boundary_tick": ("boundary_tick", "DESC"),
    "newest_end_tick": ("end_tick", "DESC"),
    "newest_package_id": ("package_id", "DESC"),
}


def upgrade() -> None:
    with op.batch_alter_table("sensors") as batch_op:
        batch_op.add_column(sa.Column("n_skipped_windows", sa.BigInteger(), nullable=False, server_default=sa.text("0"),
                                      comment="skipped windows of the sensor, counted in each skip's transaction"))
        batch_op.add_column(sa.Column("oldest_boundary_tick", sa.BigInteger(), nullable=True,
                                      comment="window start of the oldest package; NULL: none"))
        batch_op.add_column(sa.Column("oldest_start_tick", sa.BigInteger(), nullable=True,
                                      comment="first sample of the oldest package"))
        batch_op.add_column(sa.Column("newest_boundary_tick", sa.BigInteger(), nullable=True,
                                      comment="window start of the newest package; NULL: none"))
        batch_op.add_column(sa.Column("newest_end_tick", sa.BigInteger(), nullable=True,
                                      comment="end of the last sample of the newest package"))
        batch_op.add_column(sa.Column("newest_package_id", sa.String(96), nullable=True,
                                      comment="the newest package (latest window)"))
        batch_op.add_column(sa.Column(DEVIATION, sa.JSON(none_as_null=True), nullable=True,
                                      comment="its raw product's input_timestamp_deviation (the raw product is never "
                                              "rebuilt); NULL: none"))
    edges = ", ".join(
        f"{column} = (SELECT p.{source} FROM packages p WHERE p.sensor_id = sensors.sensor_id "
        f"ORDER BY p.boundary_tick {direction} LIMIT 1)"
        for column, (source, direction) in EDGES.items())
    op.execute("UPDATE sensors SET n_skipped_windows = (SELECT count(*) FROM skipped_windows s "
               f"WHERE s.sensor_id = sensors.sensor_id), {edges}")
    # then the newest package's deviations (set above), extracted by the database in its own JSON dialect
    sensors, products = sa.table("sensors", sa.column("newest_package_id"), sa.column(DEVIATION, sa.JSON)), \
        sa.table("products", sa.column("package_id"), sa.column("kind"), sa.column("details", sa.JSON))
    op.execute(sensors.update().values({DEVIATION: sa.select(products.c.details["input_timestamp_deviation"]).where(
        products.c.package_id == sensors.c.newest_package_id, products.c.kind == "raw").scalar_subquery()}))


def downgrade() -> None:
    # a plain ALTER TABLE … DROP COLUMN on both engines (SQLite 3.35 and later): batch mode's copy of the table would
    # drop the old one, which the packages' foreign key refuses while the sensor has packages
    for column in (DEVIATION, *EDGES, "n_skipped_windows"):
        op.drop_column("sensors", column)
