"""``hydroserve reprocess``: rebuild a sensor's MP3, PSD and HMD products with the current settings, as jobs.

What the command does and its arguments: its description in :mod:`.cli` (``hydroserve reprocess --help``).
"""

from __future__ import annotations

import json
import sys
import time
import uuid

from hydroserve.acoustics import catalog, reprocess_jobs, sensors
from hydroserve.acoustics.reprocess import KINDS
from hydroserve.codecs.raw import SensorId
from hydroserve.codecs.times import datetime_to_tick

from . import wiring
from .db import writer

PAGE_SIZE = 1000


def product_kinds(text: str) -> tuple[str, ...]:
    """The ``--products`` list, e.g. ``psd,mp3``, checked."""
    kinds = tuple(dict.fromkeys(kind.strip() for kind in text.split(",") if kind.strip()))
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"--products {text!r}: reprocessing rebuilds {', '.join(KINDS)} (raw and wav are views of the "
                         f"stored samples, which never change)")
    return kinds


def command(config: str | None, sensor: str, start: str, end: str) -> str:
    """The command line that reprocesses a sensor's packages in [start, end) (named by ``import``)."""
    config_part = f"--config {config} " if config else ""
    return f"hydroserve {config_part}reprocess --sensor {sensor} --start {start} --end {end}"


def _package_ids(engine, sensor: str, start_tick: int | None, end_tick: int | None) -> list[str]:
    found, after = [], None
    while True:
        with engine.connect() as conn:
            page = catalog.list_packages(conn, sensor=sensor, start_tick=start_tick, end_tick=end_tick, after=after,
                                         newest_first=False, limit=PAGE_SIZE)
        found += [record.package_id for record in page]
        if len(page) < PAGE_SIZE:
            return found
        after = (page[-1].boundary_tick, page[-1].package_id)


def _show(counts: dict[str, int], total: int) -> None:
    if sys.stderr.isatty():
        finished = counts[reprocess_jobs.DONE] + counts[reprocess_jobs.FAILED]
        filled = int(30 * finished / max(total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {finished}/{total} packages, "
                         f"{counts[reprocess_jobs.FAILED]} failed")
        sys.stderr.flush()


def summary(engine, batch_id: str, sensor: str, kinds: tuple[str, ...], settings: dict) -> dict:
    """What the batch did, from its finished jobs."""
    changed, unchanged = dict.fromkeys(kinds, 0), dict.fromkeys(kinds, 0)
    rebuilt, failed = {}, []
    with engine.connect() as conn:
        rows = reprocess_jobs.finished(conn, batch_id)
    for row in rows:
        if row.state == reprocess_jobs.FAILED:
            failed.append({"package_id": row.package_id, "error": row.error})
            continue
        for kind, result in row.outcome.items():
            if result["changed"]:
                changed[kind] += 1
                rebuilt.setdefault(row.package_id, {})[kind] = result["version"]
            else:
                unchanged[kind] += 1
    return {"batch_id": batch_id, "sensor": sensor, "products": list(kinds), "settings": settings, "packages": len(rows),
            "new_versions": changed, "unchanged": unchanged, "rebuilt": rebuilt, "failed": failed}


def cmd_reprocess(settings, args) -> int:
    try:
        kinds = KINDS if args.products is None else product_kinds(args.products)
        sensor = str(SensorId.parse(args.sensor))
    except ValueError as error:
        print(f"hydroserve reprocess: {error}", file=sys.stderr)
        return 2
    engine = wiring.open_existing_catalog(settings)
    start_tick = None if args.start is None else datetime_to_tick(args.start)
    end_tick = None if args.end is None else datetime_to_tick(args.end)
    package_ids = _package_ids(engine, sensor, start_tick, end_tick)
    calibration = sensors.load(settings.sensors_file).info(SensorId.parse(sensor)).calibration
    product_settings = settings.products.as_json()
    batch_id = uuid.uuid4().hex[:16]
    with writer(engine).begin() as conn:
        reprocess_jobs.submit(conn, batch_id, [(pid, None if calibration is None else calibration.to_json()) for pid in package_ids],
                              kinds, product_settings)
    where = "this process and the running ingest workers" if args.run_here else \
        "the running ingest workers (none running? use --run-here; Ctrl-C leaves the jobs queued)"
    print(f"hydroserve reprocess: batch {batch_id}: {len(package_ids)} packages of {sensor} queued ({', '.join(kinds)}), "
          f"executed by {where}", file=sys.stderr)
    reprocessor = wiring.build_reprocessor(settings, engine) if args.run_here else None
    while True:
        with engine.connect() as conn:
            counts = reprocess_jobs.counts(conn, batch_id)
        _show(counts, len(package_ids))
        if counts[reprocess_jobs.PENDING] == 0:
            break
        if reprocessor is None or reprocessor.run_due_jobs(1) == 0:
            time.sleep(settings.poll_interval_s)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    result = summary(engine, batch_id, sensor, kinds, product_settings)
    engine.dispose()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"packages: {result['packages']}, new versions: "
              f"{', '.join(f'{kind} {n}' for kind, n in result['new_versions'].items())}, unchanged: "
              f"{', '.join(f'{kind} {n}' for kind, n in result['unchanged'].items())}, failed: {len(result['failed'])}")
        for entry in result["failed"]:
            print(f"  failed {entry['package_id']}: {entry['error']}")
    return 1 if result["failed"] else 0
