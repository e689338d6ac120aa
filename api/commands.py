"""The handlers of the ``hydroserve`` commands that have no module of their own (the command line itself is
:mod:`.cli`, which imports this module only when one of these commands runs)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from hydroserve.acoustics import catalog
from hydroserve.codecs.times import tick_rfc3339

from . import catalog_identity, schema, stop_signals, wiring
from .catalog_identity import CatalogNotReady
from .config import SettingsSchema, settings_text
from .db import writer
from .progress import Progress


def cmd_ingest(settings, args) -> int:
    from . import ingest_worker, single_writer

    engine = wiring.open_existing_catalog(settings)
    try:
        with stop_signals.stop_event(signal.SIGTERM) as stop:  # a clean stop frees this worker's leases at once
            ingest_worker.run(settings, engine, once=args.once, stop=stop)
    except single_writer.WriterBusy as error:
        print(f"hydroserve ingest: {error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def cmd_sync(settings, args) -> int:
    from hydroserve.odc_sync import outbox, sync

    engine = wiring.open_existing_catalog(settings)
    if args.retry_failed:
        with writer(engine).begin() as conn:
            print(f"requeued {outbox.requeue_failed(conn, args.retry_failed)} failed rows of {args.retry_failed}")
        return 0
    if args.status:
        with engine.connect() as conn:
            counts = outbox.counts(conn)
            failed = outbox.failed_rows(conn)
        report = {
            "outbox": [{"destination": d, "state": s, "rows": n} for (d, s), n in sorted(counts.items())],
            "failed": [{"destination": r.destination, "resource": r.resource_kid, "attempts": r.attempts,
                        "status": r.last_status, "error": r.last_error} for r in failed],
        }
        print(json.dumps(report, indent=2))
        return 0
    deliverers = wiring.deliverers(settings, engine)
    if not deliverers:
        print("hydroserve sync: nothing to deliver to: set odc_url (HYDROSERVE_ODC_URL) or vtp_brokers (HYDROSERVE_VTP_BROKERS)",
              file=sys.stderr)
        return 2
    sync.run(deliverers, poll_interval_s=settings.poll_interval_s, once=args.once)
    return 0


def cmd_list(settings, args) -> int:
    engine = wiring.open_existing_catalog(settings)
    with engine.connect() as conn:
        records = catalog.list_package_summaries(conn, sensor=args.sensor, newest_first=False, limit=args.limit)
    rows = [
        {
            "package_id": r.package_id,
            "sensor": str(r.sensor),
            "start": tick_rfc3339(r.start_tick),
            "end": tick_rfc3339(r.end_tick),
            "n_samples": r.n_samples,
            "coverage": r.coverage,
            "gaps": [g.as_json() for g in r.gaps],
        }
        for r in records
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['package_id']:40} {row['start']:32} {row['n_samples']:>10} {row['coverage']:7.4f} {len(row['gaps'])} gaps")
    return 0


def cmd_db_init(settings, args) -> int:
    wiring.init_catalog(settings).dispose()
    print(f"catalog ready: {_shown(settings.database_url)}")
    return 0


def cmd_db_upgrade(settings, args) -> int:
    engine = wiring.open_catalog(settings)
    try:
        before, after = schema.upgrade(engine)
        wiring.complete_registry(settings, engine)  # without the streams of the new products, their packages fail
    finally:
        engine.dispose()
    if before.revision == after.revision:
        print(f"catalog {_shown(settings.database_url)}: schema at {after.describe()}, nothing to do")
    else:
        was = "a catalog from before migrations" if before.legacy else (before.revision or "empty")
        print(f"catalog {_shown(settings.database_url)}: schema upgraded from {was} to {after.describe()}")
    return 0


def cmd_db_current(settings, args) -> int:
    path = catalog_identity.sqlite_path(settings.database_url)
    if path is not None and not path.is_file():  # connecting would make an empty file
        raise CatalogNotReady(f"there is no catalog at {path}: {catalog_identity.INIT_HINT}")
    engine = wiring.open_catalog(settings)
    try:
        with engine.connect() as conn:
            found = schema.state(conn)
    finally:
        engine.dispose()
    print(found.describe())
    return 0 if found.at_head else 1


def _shown(database_url: str) -> str:
    return make_url(database_url).render_as_string()  # the password hidden


def cmd_verify(settings, args) -> int:
    from hydroserve.acoustics.blobstore import BlobNotFound

    from . import verify

    engine = wiring.open_existing_catalog(settings)
    blobs = wiring.open_blobs(settings)
    integrity = wiring.open_integrity(engine, blobs)
    found = verify.targets(engine, integrity, sensor=args.sensor, since=args.since)

    def size(key: str) -> int:
        try:
            return blobs.size(key)
        except BlobNotFound:
            return 0

    progress = Progress(sum(size(target.key) for target in found))
    summary = verify.run(integrity, found, progress.advance)
    progress.close()
    engine.dispose()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"blobs checked: {summary['blobs_checked']} ({summary['bytes_checked'] / 1e6:.1f} MB), ok: {summary['ok']}, "
              f"damaged: {len(summary['damaged'])}, missing: {len(summary['missing'])}, "
              f"checksums added: {len(summary['checksums_added'])}, repaired: {len(summary['repaired'])}")
        for state in ("damaged", "missing", "unchecked"):
            for entry in summary[state]:
                print(f"  {state} {entry['blob_key']} ({entry['owner']}): {entry['detail']}")
    return 1 if summary["damaged"] or summary["missing"] else 0


def cmd_serve(settings, args) -> int:
    from .serve import serve

    serve(settings)
    return 0


def cmd_demo(settings, args) -> int:
    from .demo import run_demo

    return run_demo(settings, backfill_s=args.backfill_s)


def cmd_events_publish(settings, args) -> int:
    from hydroserve.api.events import publishing, registration

    try:
        table_data, metadata_data = Path(args.table).read_bytes(), Path(args.metadata).read_bytes()
    except OSError as error:
        print(f"hydroserve events publish: {error}", file=sys.stderr)
        return 2
    event_settings = wiring.event_settings(settings)
    wiring.init_catalog(settings).dispose()
    engine = wiring.open_existing_catalog(settings)
    try:
        published = publishing.publish(writer(engine), wiring.open_blobs(settings), event_settings, table_data, metadata_data,
                                       hdf5_dataset=args.hdf5_dataset)
    except publishing.InvalidInput as error:
        print(f"hydroserve events publish: {args.table} with {args.metadata} is not a valid event table:", file=sys.stderr)
        for line in error.lines():
            print(f"  {line}", file=sys.stderr)
        return 2
    except publishing.TableConflict as error:
        print(f"hydroserve events publish: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    record = published.record
    summary = {
        "id": record.table_id,
        "status": "published" if published.created else "already published (identical), nothing changed",
        "n_rows": record.n_rows,
        "digest": record.digest,
        "cone_search": None if record.cone_search is None else registration.cone_search_url(event_settings, record.table_id),
        "resources": list(record.resources),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{record.table_id}: {summary['status']}; {record.n_rows} events; "
              f"cone search: {summary['cone_search'] or 'none (no sky positions)'}")
        for kid in record.resources:
            print(f"  resource {kid}")
    return 0


def cmd_config(settings, args) -> int:
    values = settings_text(settings)
    for key, field in SettingsSchema().fields.items():
        print(f"{key:24} = {values[key]!s:50} # HYDROSERVE_{key.upper()}: {field.metadata['description']}")
    return 0
