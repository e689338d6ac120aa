"""``hydroserve import FILE|DIRECTORY...``: archive ADF files (a backfill), with progress and a summary (arguments:
:mod:`.cli`)."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from hydroserve.acoustics.ingest import ArchiveWriteFailed
from hydroserve.codecs import raw, raw_decoder

from . import reprocess_cli, wiring
from .cli import ADF_NAME
from .progress import Progress


def inputs(names: list[str]) -> list[tuple[Path, str | None]]:
    """Each named path, a directory replaced by the ADF files in it (sorted); with a problem for a directory holding
    none."""
    found: list[tuple[Path, str | None]] = []
    for name in names:
        path = Path(name)
        if not path.is_dir():
            found.append((path, None))
            continue
        files = sorted(p for p in path.rglob("DOM_*.bin") if p.is_file())
        found += [(file, None) for file in files]
        if not files:
            found.append((path, f"a directory without ADF files (named {ADF_NAME})"))
    return found


def cmd_import(settings, args) -> int:
    wiring.init_catalog(settings).dispose()  # a backfill may start an archive; then the start check of every writer
    engine = wiring.open_existing_catalog(settings)
    archive = wiring.build_archive(settings, engine)
    ingestor = wiring.build_ingestor(settings, archive, retry_for_s=args.retry_for_s)
    by_sensor = defaultdict(list)
    for path, problem in inputs(args.files):
        if problem:
            ingestor.problem(raw.RawFormatError(str(path), None, problem))
            continue
        try:
            parsed = raw.RawFileName.parse(path)
            if not path.is_file():
                raise raw.RawFormatError(str(path), None, "no such file")
        except raw.RawFormatError as error:
            ingestor.problem(error)
            continue
        by_sensor[parsed.sensor].append((parsed.unix_time_s, path.name, path))
    sizes = {path: path.stat().st_size for files in by_sensor.values() for _, _, path in files}
    progress = Progress(sum(sizes.values()))
    try:
        for sensor in sorted(by_sensor):  # each sensor's files in time order (the unix time in their names)
            for _, _, path in sorted(by_sensor[sensor]):
                ingestor.feed(sensor, raw_decoder.read_file(path, frame_length=settings.adf_frame_length))
                progress.advance(sizes[path], path.name)
            ingestor.flush([sensor])
    except ArchiveWriteFailed as error:
        progress.close()
        print(f"hydroserve import: {error}; run the same import again to resume", file=sys.stderr)
        return 1
    progress.close()
    summary = ingestor.report.summary()
    for sensor, seen in summary["before_resume_cursor"].items():
        seen["reprocess"] = reprocess_cli.command(args.config, sensor, seen["first_window_start"], seen["resume_cursor"])
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    if summary["input_problems"]:
        print(f"hydroserve import: {len(summary['input_problems'])} input problem(s): what they name was not imported "
              "(the rest was)", file=sys.stderr)
        return 1
    return 0


def print_summary(summary: dict) -> None:
    print(f"packages made: {len(summary['packages_made'])}, already archived: {len(summary['already_archived'])} "
          f"(+ {summary['frames_already_archived']} frames before the resume cursor), "
          f"windows skipped: {len(summary['windows_skipped'])}, input problems: {len(summary['input_problems'])}")
    for sensor, seen in summary["before_resume_cursor"].items():
        print(f"  {sensor}: {seen['frames']} frames lie before the resume cursor {seen['resume_cursor']} (their windows "
              f"are archived or skipped already) and were not archived again, whatever the settings; to rebuild the "
              f"archived products with the current settings run: {seen['reprocess']}")
    for pid, reason in summary["windows_skipped"].items():
        print(f"  skipped {pid}: {reason}")
    for problem in summary["input_problems"]:
        print(f"  problem: {problem}")
