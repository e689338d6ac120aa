"""``hydroserve verify``: the scrub of the whole archive, packages and event tables (see :mod:`hydroserve.acoustics.scrub`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from hydroserve.acoustics import product_keys, scrub
from hydroserve.acoustics.integrity import Integrity
from hydroserve.api.events import store as event_store
from hydroserve.codecs.times import datetime_to_tick


def targets(engine: Engine, integrity: Integrity, *, sensor: str | None, since: datetime | None) -> list[scrub.ScrubTarget]:
    """The blobs to check: those of the packages of ``sensor`` (all sensors: None) whose window starts at or after
    ``since``, and, unless a sensor is named, the files of the event tables published at or after ``since``."""
    found = []
    start_tick = None if since is None else datetime_to_tick(since)
    for record in scrub.packages(engine, sensor=sensor, start_tick=start_tick):
        prefix = product_keys.package_prefix(record.package_id, record.sensor, record.boundary_tick)
        found += scrub.package_targets(record, integrity.blobs.keys(prefix + "."))
    if sensor is None:
        for table in _event_tables(engine):
            if since is None or table.created >= since:
                found += [scrub.ScrubTarget(p["key"], table.table_id, p["sha256"], False) for p in table.products.values()]
    return found


def _event_tables(engine: Engine):
    after = None
    while True:
        with engine.connect() as conn:
            page = event_store.list_tables(conn, after=after, limit=scrub.PAGE_SIZE)
        yield from page
        if len(page) < scrub.PAGE_SIZE:
            return
        after = page[-1].table_id


def run(integrity: Integrity, found: list[scrub.ScrubTarget], advance: Callable[[int, str], None]) -> dict:
    """Check every target, calling ``advance(bytes, key)`` after each; return :func:`~hydroserve.acoustics.scrub.summary`."""
    results = []
    for target in found:
        result = scrub.check(integrity, target)
        results.append(result)
        advance(result.size_bytes, target.key)
    return scrub.summary(results)
