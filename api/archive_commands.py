"""The archive-keeping commands: ``retention``, ``export`` and ``import-archive`` (their arguments: :mod:`.cli`)."""

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
