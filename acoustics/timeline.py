"""Time navigation: a sensor's packages of a day as a strip with its gaps, and the sensors nearest to one.

A strip lists the package windows of a period in order; every run of
missing windows between them (or before the first, after the last) is one
:class:`Gap` with the number of windows it misses, so a picture of the strip
shows where data is missing and for how long. Windows start at whole
multiples of the snippet interval (``B_k = k * interval``).

The nearest sensors of a sensor are ordered by the distance between their
positions (metres) when both are known, then by string and floor difference
on the same string, then by id: "the same time, other sensors" shows the
neighbours first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .catalog import PackageSummary, packages
from .sensors import SensorInfo


@dataclass(frozen=True)
class Gap:
    """``n_windows`` missing package windows from ``start_tick``."""

    start_tick: int
    n_windows: int


def strip(records: list[PackageSummary], *, start_tick: int, end_tick: int, interval_ticks: int) -> list[PackageSummary | Gap]:
    """The packages (oldest first, windows starting in ``[start_tick, end_tick)``) with the missing windows between
    them as :class:`Gap`; ``start_tick`` and ``end_tick`` on window boundaries."""
    if interval_ticks < 1 or end_tick <= start_tick:
        raise ValueError(f"{interval_ticks=} must be positive and {end_tick=} after {start_tick=}")
    items: list[PackageSummary | Gap] = []
    expected = start_tick
    for record in records:
        if record.boundary_tick > expected:
            items.append(Gap(expected, (record.boundary_tick - expected) // interval_ticks))
        items.append(record)
        expected = record.boundary_tick + interval_ticks
    if end_tick > expected:
        items.append(Gap(expected, (end_tick - expected) // interval_ticks))
    return items


def distance_m(origin: SensorInfo, other: SensorInfo) -> float | None:
    """The distance between two sensors in metres, or None unless both positions are known in the same frame."""
    if origin.position_m is None or other.position_m is None or origin.position_frame != other.position_frame:
        return None
    return math.dist(origin.position_m, other.position_m)


def distance_key(origin: SensorInfo, other: SensorInfo) -> tuple:
    """Sort key of ``other`` by closeness to ``origin``."""
    distance = distance_m(origin, other)
    if distance is not None:
        return (0, distance, str(other.sensor))
    if origin.string is not None and other.string == origin.string and (origin.detector == other.detector):
        return (1, abs((other.floor or 0) - (origin.floor or 0)), str(other.sensor))
    return (2, 0.0, str(other.sensor))


def sensors_with_window(conn: Connection, boundary_tick: int) -> list[str]:
    """The sensors that have a package of the window starting at ``boundary_tick`` (one index scan, no records)."""
    query = select(packages.c.sensor_id).where(packages.c.boundary_tick == boundary_tick)
    return [row.sensor_id for row in conn.execute(query)]


def nearest(origin: SensorInfo, others: list[SensorInfo], n: int) -> list[SensorInfo]:
    """The ``n`` sensors of ``others`` (``origin`` excluded) nearest to ``origin``."""
    return sorted((o for o in others if o.sensor != origin.sensor), key=lambda o: distance_key(origin, o))[:n]
