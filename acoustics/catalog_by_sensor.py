"""The catalog by sensor: each sensor's package count, first and last package and skipped windows, a detail of its
newest package, packages per sensor and time bin; a few index lookups per sensor, however many packages there are."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from hydroserve.codecs.raw import SensorId

from .catalog import packages, products, sensors, skipped_windows


def _edge_of_sensor(column, newest: bool):
    """``column`` of the oldest or newest package of the outer query's sensor: one index lookup per sensor."""
    order = packages.c.boundary_tick.desc() if newest else packages.c.boundary_tick.asc()
    return select(column).where(packages.c.sensor_id == sensors.c.sensor_id).order_by(order).limit(1).scalar_subquery()


def newest_detail(conn: Connection, kind: str, key: str) -> dict[str, object]:
    """``details[key]`` of the ``kind`` product of every sensor's newest package (latest window), by sensor id; sensors
    whose newest package has no such product, or whose details have no ``key``, are absent. One index lookup per sensor
    and one product row each, of whose details only ``key`` is read (the database extracts it)."""
    newest_ids = select(_edge_of_sensor(packages.c.package_id, newest=True).label("package_id")).select_from(sensors).subquery()
    rows = conn.execute(
        select(packages.c.sensor_id, products.c.details[key].label("value"))
        .join(products, products.c.package_id == packages.c.package_id)
        .where(packages.c.package_id.in_(select(newest_ids.c.package_id)), products.c.kind == kind)
        .order_by(packages.c.sensor_id)
    )
    return {row.sensor_id: row.value for row in rows if row.value is not None}


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
    (windows do not overlap, so these are the oldest and newest packages' own) and its skipped windows; a few
    index lookups per sensor, however many packages there are."""
    n_skipped = (
        select(func.count()).select_from(skipped_windows).where(skipped_windows.c.sensor_id == sensors.c.sensor_id)
        .scalar_subquery()
    )
    query = select(
        sensors.c.sensor_id,
        sensors.c.n_packages,
        _edge_of_sensor(packages.c.start_tick, newest=False).label("first"),
        _edge_of_sensor(packages.c.end_tick, newest=True).label("last"),
        n_skipped.label("n_skipped"),
    ).order_by(sensors.c.sensor_id)
    if sensor is not None:
        query = query.where(sensors.c.sensor_id == sensor)
    return [
        SensorSummary(SensorId.parse(row.sensor_id), row.n_packages, row.first, row.last, row.n_skipped)
        for row in conn.execute(query)
    ]
