"""The ``hydroserve`` command line: its arguments, and each command's handler named as ``module.function``.

Parsing the arguments and printing help import nothing but the standard library; the module of the command that runs
is imported then (:func:`resolve`), so ``hydroserve --help`` starts at once and ``hydroserve list`` never imports
what building products or serving needs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from datetime import UTC, datetime

ADF_NAME = "DOM_<domid>_CH<n>_<unixtime>.bin"


def _utc_time(text: str) -> datetime:
    """An ISO 8601 time for ``--since`` (UTC unless it names an offset)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2024-05-01T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hydroserve", description="Acoustic data service: ingest, archive and serve ADF hydrophone data.")
    top.add_argument("--config", metavar="FILE", help="TOML configuration file (HYDROSERVE_* environment variables override it)")
    top.set_defaults(config_defaults=None)
    commands = top.add_subparsers(dest="command", required=True)

    imp = commands.add_parser("import", help="archive ADF files (backfill); idempotent; exit status 1 if an input could not "
                                             "be imported", description=f"Each FILE is an ADF raw file named {ADF_NAME}; "
                                             "a DIRECTORY stands for the files so named in it and its subfolders.")
    imp.add_argument("files", nargs="+", metavar="FILE|DIRECTORY")
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp.add_argument("--retry-for-s", type=float, default=60.0, help="give up on a failing archive write after this long")
    imp.set_defaults(run="import_cli.cmd_import")

    ing = commands.add_parser("ingest", help="follow the spool directory and archive continuously (on PostgreSQL: one of many "
                              "workers sharing the sensors; on SQLite: the one writer)")
    ing.add_argument("--once", action="store_true", help="one pass over the spool directory, then exit")
    ing.set_defaults(run="commands.cmd_ingest")

    syn = commands.add_parser("sync", help="deliver the outbox: resources to the ODC, alerts to VTP brokers")
    syn.add_argument("--once", action="store_true", help="one delivery round, then exit")
    syn.add_argument("--status", action="store_true", help="print outbox counts and failed rows as JSON")
    syn.add_argument("--retry-failed", metavar="DESTINATION", help="requeue the failed rows of a destination (e.g. odc)")
    syn.set_defaults(run="commands.cmd_sync")

    lst = commands.add_parser("list", help="list archived packages")
    lst.add_argument("--sensor", help="only this sensor (DOM_<domid>_CH<n>)")
    lst.add_argument("--limit", type=int, default=10_000)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run="commands.cmd_list")

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
    ver.set_defaults(run="commands.cmd_verify")

    rep = commands.add_parser(
        "reprocess", help="rebuild a sensor's MP3, PSD and HMD with the current settings, as jobs the ingest workers execute",
        description="Queues one job per package of the sensor whose window starts in [--start, --end), carrying the "
                    "product settings and the sensor's calibration of this command's configuration, then waits until "
                    "every job of its batch is finished, showing progress, and prints a summary. The jobs are executed by "
                    "the running ingest workers ('hydroserve ingest'), in parallel on PostgreSQL; with --run-here this "
                    "process executes jobs too (the way to reprocess when no worker runs). Interrupting the command "
                    "(Ctrl-C) leaves the queued jobs to the workers; a job interrupted half-way is done again.")
    rep.add_argument("--sensor", required=True, help="the sensor (DOM_<domid>_CH<n>)")
    rep.add_argument("--start", type=_utc_time, metavar="TIME", help="packages whose window starts at or after TIME (ISO 8601)")
    rep.add_argument("--end", type=_utc_time, metavar="TIME", help="packages whose window starts before TIME (ISO 8601)")
    rep.add_argument("--products", metavar="KINDS", help="comma-separated products to rebuild (default: all of them)")
    rep.add_argument("--run-here", action="store_true", help="execute jobs in this process too (needed when no worker runs)")
    rep.add_argument("--json", action="store_true", help="print the summary as JSON")
    rep.set_defaults(run="reprocess_cli.cmd_reprocess")

    ret = commands.add_parser("retention", help="delete the products whose retention_days have run out (410 Gone, tombstones)",
                              description="Marks every product whose retention class (retention_days: samples = raw/wav, "
                                          "mp3, psd) has run out as deleted, turns its resource into a tombstone (OAI-PMH "
                                          "status=deleted, since-feed, ODC), then deletes its files. The ingest worker runs "
                                          "it every retention_interval_s.")
    ret.add_argument("--dry-run", action="store_true", help="list what would expire; change nothing")
    ret.add_argument("--json", action="store_true", help="print the summary as JSON")
    ret.set_defaults(run="archive_commands.retention")

    exp = commands.add_parser("export", help="back up the catalog and every stored file into a new folder",
                              description="Writes DIR (first as DIR.partial, renamed when complete): manifest.json, every "
                                          "catalog row as JSON lines (one snapshot; SQLite and PostgreSQL alike) and every "
                                          "blob the catalog points to, each checked against its checksums as it is copied.")
    exp.add_argument("directory", metavar="DIR", help="the backup folder to make (must not exist)")
    exp.set_defaults(run="archive_commands.export")

    imp_archive = commands.add_parser("import-archive", help="restore a backup made by `export` into an empty archive",
                                      description="Restores DIR into this configuration's data folder and catalog, which "
                                                  "must hold no package and no resource (made by `db init` if missing): "
                                                  "every file checked against the manifest's SHA-256, then every row in "
                                                  "one transaction. Run `hydroserve verify` afterwards.")
    imp_archive.add_argument("directory", metavar="DIR", help="a folder written by `hydroserve export`")
    imp_archive.set_defaults(run="archive_commands.import_archive")

    srv = commands.add_parser("serve", help="serve the API under gunicorn (bind, workers, threads, timeout from the configuration)")
    srv.set_defaults(run="commands.cmd_serve")

    dem = commands.add_parser("demo", help="run everything on the embedded default with a synthetic live stream")
    dem.add_argument("--backfill-s", type=float, default=60.0, help="seconds of past synthetic data written at start")
    dem.set_defaults(run="commands.cmd_demo", config_defaults="demo.DEMO_DEFAULTS")

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
    pub.set_defaults(run="commands.cmd_events_publish")

    db = commands.add_parser("db", help="the catalog")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("init", help="upgrade the catalog's schema to the newest revision, then add the registry entries "
                                        "and the catalog id if missing (idempotent)").set_defaults(run="commands.cmd_db_init")
    db_commands.add_parser("upgrade", help="upgrade the catalog's schema to the newest revision (a catalog from before "
                                           "migrations is upgraded in place)").set_defaults(run="commands.cmd_db_upgrade")
    db_commands.add_parser("current", help="print the catalog's schema revision and whether it is the newest "
                                           "(exit status 1 when it is not)").set_defaults(run="commands.cmd_db_current")

    cfg = commands.add_parser("config", help="print the effective configuration")
    cfg.set_defaults(run="commands.cmd_config")
    return top


def resolve(name: str):
    """``name`` = ``module.attribute`` of ``hydroserve.api``, its module imported now: a command's handler (and the
    modules it needs) is imported when the command runs, never to parse arguments or print help."""
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(f"{__package__}.{module}"), attribute)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # BLAS on one thread unless told otherwise, before numpy loads it: a package's products are built side by side on
    # threads of their own, and a multi-threaded BLAS would both oversubscribe the CPUs and split its sums by how busy
    # its pool was (results, and so product bytes, must not depend on that)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from . import logs  # imported after parsing: --help and a mistyped argument need none of these three
    from .catalog_identity import CatalogNotReady
    from .config import ConfigError, load_settings

    run = resolve(args.run)
    try:
        settings = load_settings(args.config, defaults=resolve(args.config_defaults) if args.config_defaults else None)
    except ConfigError as error:
        print(f"hydroserve: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        return run(settings, args)
    except CatalogNotReady as error:
        print(f"hydroserve {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
