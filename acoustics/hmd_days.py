"""Sensor-days of 1-minute HMD: which exist, and which revision their day aggregates must be.

One row per sensor and UTC day that holds data (table ``hmd_days`` in the
acoustic catalog's metadata). Every package, and every new version of a
package's HMD made by reprocessing, adds 1 to the ``revision`` of each day
it touches, in the package's own transaction (:func:`touch`). The day
aggregates (:mod:`.hmd_day`) are stored under a key holding the revision,
so a later package of the day makes a new key (rebuilt when first asked)
and a stored aggregate never changes. Queries over many sensors and days
read this small table first (:func:`revisions`), never the packages.

The aggregates of earlier revisions go once a later revision is committed
(:func:`superseded_keys`): whoever reads the current revision finds its
aggregates or makes them, so there is no moment when a reader of the
current revision finds neither. Retention of a package's HMD raises the
revision of its days too (its minutes leave the aggregates).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, insert, select, update
from sqlalchemy.engine import Connection

from hydroserve.codecs.raw import TICKS_PER_SECOND

from . import product_keys
from .blobstore import BlobStore
from .catalog import metadata

hmd_days = Table(
    "hmd_days",
    metadata,
    Column("sensor_id", String(64), ForeignKey("sensors.sensor_id"), primary_key=True),
    Column("day", Date, primary_key=True, comment="UTC day"),
    Column("revision", Integer, nullable=False, comment="+1 per package (or new HMD version) touching the day"),
    Column("modified", DateTime(timezone=True), nullable=False),
    Index("hmd_days_by_day", "day", "sensor_id"),
)

DAY_S = 86400


def day_start_unix_s(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def days_touched(start_tick: int, end_tick: int) -> list[date]:
    """The UTC days that the ticks ``[start_tick, end_tick)`` touch (the first day when the range is empty)."""
    return _days(start_tick // TICKS_PER_SECOND, (max(end_tick, start_tick + 1) - 1) // TICKS_PER_SECOND)


def days_between(start_unix_s: float, end_unix_s: float) -> list[date]:
    """The UTC days that the times ``[start_unix_s, end_unix_s)`` touch (empty if ``end <= start``)."""
    if end_unix_s <= start_unix_s:
        return []
    return _days(math.floor(start_unix_s), math.ceil(end_unix_s) - 1)


def _days(first_s: int, last_s: int) -> list[date]:
    """The UTC days from the one holding second ``first_s`` to the one holding second ``last_s``."""
    first, last = (datetime.fromtimestamp(s, UTC).date() for s in (first_s, last_s))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def package_days(records) -> set[tuple[str, date]]:
    """The ``(sensor, day)`` pairs that the packages ``records`` (:class:`~.catalog.PackageRecord`) touch."""
    return {(str(record.sensor), day) for record in records for day in days_touched(record.start_tick, record.end_tick)}


def touch(conn: Connection, sensor: str, days: list[date]) -> dict[date, int]:
    """Add 1 to the revision of ``sensor``'s ``days`` (made at revision 1), in the caller's transaction; returns the new
    revisions. One ingest worker owns a sensor at a time (its lease), so the insert never races another."""
    now = datetime.now(UTC)
    revisions = {}
    for day in days:
        where = (hmd_days.c.sensor_id == sensor) & (hmd_days.c.day == day)
        if conn.execute(update(hmd_days).where(where).values(revision=hmd_days.c.revision + 1, modified=now)).rowcount == 0:
            conn.execute(insert(hmd_days).values(sensor_id=sensor, day=day, revision=1, modified=now))
        revisions[day] = conn.execute(select(hmd_days.c.revision).where(where)).scalar_one()
    return revisions


def revisions(conn: Connection, *, first_day: date, last_day: date, sensors: list[str] | None = None
              ) -> dict[tuple[str, date], int]:
    """The revision of every sensor-day with data in ``[first_day, last_day]`` (of ``sensors``; all by default)."""
    query = select(hmd_days.c.sensor_id, hmd_days.c.day, hmd_days.c.revision).where(
        hmd_days.c.day >= first_day, hmd_days.c.day <= last_day)
    if sensors is not None:
        query = query.where(hmd_days.c.sensor_id.in_(sensors))
    return {(row.sensor_id, row.day): row.revision for row in conn.execute(query)}


def superseded_keys(blobs: BlobStore, sensor: str, day: date, revision: int) -> list[str]:
    """The stored aggregates of ``sensor``'s ``day`` made at revisions before ``revision`` (the day's committed
    revision): to be deleted."""
    return sorted(key for key, made_at in product_keys.hmd_day_keys(blobs.keys, sensor, day).items() if made_at < revision)
