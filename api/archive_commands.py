"""The archive-keeping commands: ``retention``, ``export`` and ``import-archive`` (registered by :mod:`.cli`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import schema, wiring
from .db import writer
from .progress import Progress


def retention(settings, args) -> int:
    engine = wiring.open_existing_catalog(settings)
    report = wiring.build_retention(settings, engine).run(dry_run=args.dry_run).summary()
    engine.dispose()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    rules = settings.retention.rules()
    print(f"retention{' (dry run: nothing changed)' if args.dry_run else ''}: "
          f"{', '.join(f'{name} {days:g} days' for name, days in rules.items()) or 'every class kept forever'}; "
          f"{report['n_expired']} products {'would expire' if args.dry_run else 'expired'}, "
          f"{report['blobs_deleted']} files ({report['bytes_deleted'] / 1e6:.1f} MB) deleted")
    for item in report["expired"]:
        print(f"  {item['package_id']} {item['kind']}")
    return 0


def export(settings, args) -> int:
    from . import backup

    engine = wiring.open_existing_catalog(settings)
    blobs = wiring.open_blobs(settings)
    progress = Progress(0)
    try:
        manifest = backup.export(engine, wiring.open_integrity(engine, blobs), schema.METADATAS,
                                 Path(args.directory), progress.advance)
    except backup.BackupError as error:
        print(f"hydroserve export: {error}", file=sys.stderr)
        return 1
    finally:
        progress.close()
        engine.dispose()
    size = sum(blob["size_bytes"] for blob in manifest["blobs"].values())
    print(f"exported catalog {manifest['catalog_id']}: {sum(manifest['tables'].values())} rows, "
          f"{len(manifest['blobs'])} files ({size / 1e6:.1f} MB) to {args.directory}")
    return 0


def import_archive(settings, args) -> int:
    from . import backup

    directory = Path(args.directory)
    try:
        manifest = backup.read_manifest(directory)
    except backup.BackupError as error:
        print(f"hydroserve import-archive: {error}", file=sys.stderr)
        return 2
    engine = wiring.init_catalog(settings)
    progress = Progress(sum(blob["size_bytes"] for blob in manifest["blobs"].values()))
    try:
        backup.restore(writer(engine), wiring.open_blobs(settings), schema.METADATAS, directory,
                       progress.advance)
    except backup.BackupError as error:
        print(f"hydroserve import-archive: {error}", file=sys.stderr)
        return 1
    finally:
        progress.close()
        engine.dispose()
    print(f"restored catalog {manifest['catalog_id']} (exported {manifest['exported_at']}): "
          f"{sum(manifest['tables'].values())} rows, {len(manifest['blobs'])} files; check it with `hydroserve verify`")
    return 0


def add(commands) -> None:
    """Register the commands on the ``hydroserve`` argument parser's subcommands."""
    ret = commands.add_parser("retention", help="delete the products whose retention_days have run out (410 Gone, tombstones)",
                              description="Marks every product whose retention class (retention_days: samples = raw/wav, "
                                          "mp3, psd) has run out as deleted, turns its resource into a tombstone (OAI-PMH "
                                          "status=deleted, since-feed, ODC), then deletes its files. The ingest worker runs "
                                          "it every retention_interval_s.")
    ret.add_argument("--dry-run", action="store_true", help="list what would expire; change nothing")
    ret.add_argument("--json", action="store_true", help="print the summary as JSON")
    ret.set_defaults(run=retention)

    exp = commands.add_parser("export", help="back up the catalog and every stored file into a new folder",
                              description="Writes DIR (first as DIR.partial, renamed when complete): manifest.json, every "
                                          "catalog row as JSON lines (one snapshot; SQLite and PostgreSQL alike) and every "
                                          "blob the catalog points to, each checked against its checksums as it is copied.")
    exp.add_argument("directory", metavar="DIR", help="the backup folder to make (must not exist)")
    exp.set_defaults(run=export)

    imp_archive = commands.add_parser("import-archive", help="restore a backup made by `export` into an empty archive",
                                      description="Restores DIR into this configuration's data folder and catalog, which "
                                                  "must hold no package and no resource (made by `db init` if missing): "
                                                  "every file checked against the manifest's SHA-256, then every row in "
                                                  "one transaction. Run `hydroserve verify` afterwards.")
    imp_archive.add_argument("directory", metavar="DIR", help="a folder written by `hydroserve export`")
    imp_archive.set_defaults(run=import_archive)
