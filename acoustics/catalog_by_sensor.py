"""The catalog by sensor: each sensor's package count, first and last package and skipped windows, a detail of its
newest package, packages per sensor and time bin.

What a sensor holds is kept in its ``sensors`` row, in the transaction that archives a package
(:func:`count_package`) or records a skipped window (:func:`count_skipped_window`): the package and skipped-window
counts, the window start and first sample of its oldest package, the window start, end and id of its newest one and
the frame time-stamp deviations of its raw product (never rebuilt: reprocessing rebuilds other products).
Packages may be archived in any order (an older window imported or archived late), so an edge moves only to a package
beyond it. Reading them (:func:`sensor_summaries`, :func:`newest_timestamp_deviations`) reads one row per sensor and no package,
however many there are. No package row is ever deleted (retention deletes a package's products and marks them, the
package stays: :mod:`.retention`), so the edges stay those of the packages; rows written all at once (a restored
backup) are set from their packages by :func:`recount`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, String, case, func, literal, or_, select, update
from sqlalchemy.engine import Connection

from hydroserve.codecs.raw import SensorId

from .catalog import PackageRecord, packages, products, sensors, skipped_windows

DEVIATION_DETAIL = "input_timestamp_deviation"
"""The raw product's detail of the frame time-stamp deviations, which a sensor's row keeps of its newest package."""


def count_package(conn: Connection, record: PackageRecord) -> None:
    """Count the package ``record``, just inserted in ``conn``'s transaction, in its sensor's row: one more package,
    and the oldest or newest edge moved to it if it lies beyond that edge (whatever order packages come in). A sensor's
    packages have distinct window starts (a package id is the sensor and the start's second), so there are no ties."""
    row = sensors.c
    boundary_tick = literal(record.boundary_tick, BigInteger)
    older = or_(row.oldest_boundary_tick.is_(None), boundary_tick < row.oldest_boundary_tick)
    newer = or_(row.newest_boundary_tick.is_(None), boundary_tick > row.newest_boundary_tick)
    conn.execute(update(sensors).where(row.sensor_id == str(record.sensor)).values(
        n_packages=row.n_packages + 1,
        oldest_boundary_tick=case((older, boundary_tick), else_=row.oldest_boundary_tick),
        oldest_start_tick=case((older, literal(record.start_tick, BigInteger)), else_=row.oldest_start_tick),
        newest_boundary_tick=case((newer, boundary_tick), else_=row.newest_boundary_tick),
        newest_end_tick=case((newer, literal(record.end_tick, BigInteger)), else_=row.newest_end_tick),
        newest_package_id=case((newer, literal(record.package_id, String)), else_=row.newest_package_id),
        newest_timestamp_deviation=case((newer, literal(_timestamp_deviation(record), row.newest_timestamp_deviation.type)),
                                        else_=row.newest_timestamp_deviation),
    ))


def _timestamp_deviation(record: PackageRecord) -> dict | None:
    raw = record.products.get("raw")
    return None if raw is None else raw.details.get(DEVIATION_DETAIL)


def count_skipped_window(conn: Connection, sensor: str) -> None:
    """Count a skipped window of ``sensor``, just inserted in ``conn``'s transaction."""
    conn.execute(update(sensors).where(sensors.c.sensor_id == sensor)
                 .values(n_skipped_windows=sensors.c.n_skipped_windows + 1))


def recount(conn: Connection) -> None:
    """Set every sensor's row from its packages and skipped windows as they are, for rows written otherwise than by
    :func:`count_package` and :func:`count_skipped_window` (a restored backup): one statement, a few index lookups
    per sensor."""
    def of_sensor(table):
        return table.c.sensor_id == sensors.c.sensor_id

    def edge(column, newest: bool):
        order = packages.c.boundary_tick.desc() if newest else packages.c.boundary_tick.asc()
        return select(column).where(of_sensor(packages)).order_by(order).limit(1).scalar_subquery()

    conn.execute(update(sensors).values(
        n_packages=select(func.count()).where(of_sensor(packages)).scalar_subquery(),
        n_skipped_windows=select(func.count()).where(of_sensor(skipped_windows)).scalar_subquery(),
        oldest_boundary_tick=edge(packages.c.boundary_tick, newest=False),
        oldest_start_tick=edge(packages.c.start_tick, newest=False),
        newest_boundary_tick=edge(packages.c.boundary_tick, newest=True),
        newest_end_tick=edge(packages.c.end_tick, newest=True),
        newest_package_id=edge(packages.c.package_id, newest=True),
        newest_timestamp_deviation=select(products.c.details[DEVIATION_DETAIL]).where(
            products.c.package_id == edge(packages.c.package_id, newest=True), products.c.kind == "raw").scalar_subquery(),
    ))


def newest_timestamp_deviations(conn: Connection) -> dict[str, dict]:
    """The frame time-stamp deviations (``input_timestamp_deviation``) of every sensor's newest package (latest window),
    by sensor id; sensors without a package, or whose newest package has none, are absent: their rows."""
    rows = conn.execute(select(sensors.c.sensor_id, sensors.c.newest_timestamp_deviation)
                        .where(sensors.c.newest_timestamp_deviation.is_not(None)).order_by(sensors.c.sensor_id))
    return dict(rows.all())


def package_counts(conn: Connection, *, start_tick: int, bin_ticks: int, n_bins: int) -> dict[tuple[str, int], int]:
    """Packages per (sensor id, time bin) whose window starts in bin ``i`` =
    ``[start_tick + i * bin_ticks, start_tick + (i + 1) * bin_ticks)``, i < n_bins; empty bins are absent."""
    if bin_ticks < 1 or n_bins < 1:
        raise ValueError(f"{bin_ticks=} and {n_bins=} must be at least 1")
    bin_index = ((packages.c.boundary_tick - start_tick) // bin_ticks).label("bin")
    query = (
        select(packages.c.sensor_id, bin_index, func.count().label("n"))
        .where(packages.c.boundary_tick >= start_tick, packages.c.boundary_tick < start_tick + n_bins * bin_ticks)
        .group_by(packages.c.sensor_id, bin_index)
    )
    return {(row.sensor_id, int(row.bin)): row.n for row in conn.execute(query)}


@dataclass(frozen=True)
class SensorSummary:
    sensor: SensorId
    n_packages: int
    first_tick: int | None
    last_tick: int | None
    n_skipped: int


def sensor_summaries(conn: Connection, sensor: str | None = None) -> list[SensorSummary]:
    """Every sensor (or one) with its package count, the start of its first and the end of its last package
    (windows do not overlap, so these are the oldest and newest packages' own) and its skipped windows: its row."""
    row = sensors.c
    query = select(row.sensor_id, row.n_packages, row.oldest_start_tick, row.newest_end_tick,
                   row.n_skipped_windows).order_by(row.sensor_id)
    if sensor is not None:
        query = query.where(row.sensor_id == sensor)
    return [
        SensorSummary(SensorId.parse(r.sensor_id), r.n_packages, r.oldest_start_tick, r.newest_end_tick,
                      r.n_skipped_windows)
        for r in conn.execute(query)
    ]
