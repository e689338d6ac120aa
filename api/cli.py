"""The ``hydroserve`` command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from hydroserve.acoustics import catalog
from hydroserve.codecs.times import rfc3339, tick_to_datetime

from . import archive_commands, catalog_identity, import_cli, logs, reprocess_cli, schema, wiring
from .catalog_identity import CatalogNotReady
from .config import ConfigError, SettingsSchema, load_settings, settings_text
from .db import writer
from .progress import Progress


def cmd_ingest(settings, args) -> int:
    from . import ingest_worker, single_writer

    engine = wiring.open_existing_catalog(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a clean stop frees this worker's leases at once
    try:
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
        records = catalog.list_packages(conn, sensor=args.sensor, newest_first=False, limit=args.limit)
    rows = [
        {
            "package_id": r.package_id,
            "sensor": str(r.sensor),
            "start": rfc3339(tick_to_datetime(r.start_tick)),
            "end": rfc3339(tick_to_datetime(r.end_tick)),
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


def _utc_time(text: str) -> datetime:
    """An ISO 8601 time for ``--since`` (UTC unless it names an offset)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2024-05-01T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hydroserve", description="Acoustic data service: ingest, archive and serve ADF hydrophone data.")
    top.add_argument("--config", metavar="FILE", help="TOML configuration file (HYDROSERVE_* environment variables override it)")
    commands = top.add_subparsers(dest="command", required=True)

    import_cli.add_parser(commands)

    ing = commands.add_parser("ingest", help="follow the spool directory and archive continuously (on PostgreSQL: one of many "
                              "workers sharing the sensors; on SQLite: the one writer)")
    ing.add_argument("--once", action="store_true", help="one pass over the spool directory, then exit")
    ing.set_defaults(run=cmd_ingest)

    syn = commands.add_parser("sync", help="deliver the outbox: resources to the ODC, alerts to VTP brokers")
    syn.add_argument("--once", action="store_true", help="one delivery round, then exit")
    syn.add_argument("--status", action="store_true", help="print outbox counts and failed rows as JSON")
    syn.add_argument("--retry-failed", metavar="DESTINATION", help="requeue the failed rows of a destination (e.g. odc)")
    syn.set_defaults(run=cmd_sync)

    lst = commands.add_parser("list", help="list archived packages")
    lst.add_argument("--sensor", help="only this sensor (DOM_<domid>_CH<n>)")
    lst.add_argument("--limit", type=int, default=10_000)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=cmd_list)

    ver = commands.add_parser("verify", help="check every stored file against its checksums; exit status 1 on damage",
                              description="Reads every blob of the archive (package samples, MP3, PSD, derived pictures and "
                                          "event-table files) and checks it against the SHA-256 of each 1 MiB chunk recorded "
                                          "when it was stored. Damage is recorded (the package shows as damaged in /info and "
                                          "/metrics), repaired files are marked repaired, and files stored before chunk "
                                          "checksums were kept get them when their SHA-256 matches the catalog's.")
    ver.add_argument("--sensor", help="only the packages of this sensor (DOM_<domid>_CH<n>); event tables are then skipped")
    ver.add_argument("--since", type=_utc_time, metavar="TIME",
                     help="only packages whose window starts at or after TIME (ISO 8601; UTC unless an offset is given), "
                          "and event tables published since")
    ver.add_argument("--json", action="store_true", help="print the summary as JSON")
    ver.set_defaults(run=cmd_verify)

    reprocess_cli.add_parser(commands, time_type=_utc_time)
    archive_commands.add(commands)

    srv = commands.add_parser("serve", help="serve the API under gunicorn (bind, workers, threads, timeout from the configuration)")
    srv.set_defaults(run=cmd_serve)

    from .demo import DEMO_DEFAULTS

    dem = commands.add_parser("demo", help="run everything on the embedded default with a synthetic live stream")
    dem.add_argument("--backfill-s", type=float, default=60.0, help="seconds of past synthetic data written at start")
    dem.set_defaults(run=cmd_demo, config_defaults=DEMO_DEFAULTS)

    events = commands.add_parser("events", help="particle-event tables")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    pub = event_commands.add_parser(
        "publish", help="validate an event table and its metadata, store it as CSV + metadata, HDF5 and VOTable, register it",
        description="TABLE is CSV (a header line naming the columns) or HDF5 (a 1-d compound dataset); METADATA is JSON or "
                    "TOML describing every column, the provenance, the data taking and the publication. Publishing the "
                    "same table again changes nothing; a different table under a published id is refused.")
    pub.add_argument("table", metavar="TABLE", help="the rows: CSV or HDF5 file")
    pub.add_argument("metadata", metavar="METADATA", help="the metadata: JSON or TOML file")
    pub.add_argument("--hdf5-dataset", default="events", metavar="NAME",
                     help="the dataset holding the rows in an HDF5 TABLE (default: events)")
    pub.add_argument("--json", action="store_true", help="print the summary as JSON")
    pub.set_defaults(run=cmd_events_publish)

    db = commands.add_parser("db", help="the catalog")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("init", help="upgrade the catalog's schema to the newest revision, then add the registry entries "
                                        "and the catalog id if missing (idempotent)").set_defaults(run=cmd_db_init)
    db_commands.add_parser("upgrade", help="upgrade the catalog's schema to the newest revision (a catalog from before "
                                           "migrations is upgraded in place)").set_defaults(run=cmd_db_upgrade)
    db_commands.add_parser("current", help="print the catalog's schema revision and whether it is the newest "
                                           "(exit status 1 when it is not)").set_defaults(run=cmd_db_current)

    cfg = commands.add_parser("config", help="print the effective configuration")
    cfg.set_defaults(run=cmd_config)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings(args.config, defaults=getattr(args, "config_defaults", None))
    except ConfigError as error:
        print(f"hydroserve: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        return args.run(settings, args)
    except CatalogNotReady as error:
        print(f"hydroserve {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
