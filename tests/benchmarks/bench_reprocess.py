"""Reprocessing one 300 s package on one CPU, against ingesting the same package in the same run.

The reference is ``hydroserve import`` of the package's ADF files (the ``Ingest`` case of
:mod:`.bench_pipeline`, on a fresh data directory every run). Reprocessing is one job executed by
:meth:`~hydroserve.acoustics.reprocess.Reprocessor.run_due_jobs` on an archive holding the package:

* *changed*: new settings every run (PSD nfft 4096 / 16384, MP3 full scale 0.02 / 0.04 sample units),
  so the MP3 and the PSD are made from the stored samples (read and checked chunk by chunk), stored
  as new versions, and their resources registered;
* *unchanged*: the settings of the current version: the products are made and compared, nothing written.

Usage: ``python -m tests.benchmarks.bench_reprocess DATA_DIR``, pinned to one CPU by the runner.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

from hydroserve.acoustics import reprocess_jobs
from hydroserve.acoustics.loudness import LoudnessPolicy
from hydroserve.acoustics.product_settings import ProductSettings
from hydroserve.api import wiring
from hydroserve.api.db import writer

from .bench_pipeline import Ingest
from .common import SNIPPET_S, load_frames, machine, measure, ratio, seconds, table, write_adf_files

REPEAT = 3
CHANGES = itertools.cycle([(4096, 0.02), (16384, 0.04)])


class Reprocess:
    """One reprocessing job of the archived package; :meth:`submit` queues it (untimed)."""

    def __init__(self, archived: Ingest):
        self.settings, self.engine = archived.settings, archived.engine
        self.package_id = archived.ingestor.report.packages_made[0]
        self.reprocessor = wiring.build_reprocessor(self.settings, self.engine)
        self.current = self.settings.products
        self.expect_changed = False

    def submit(self, product_settings: ProductSettings | None) -> None:
        """Queue a job with ``product_settings`` (None: those of the current version)."""
        self.expect_changed = product_settings is not None
        if product_settings is not None:
            self.current = product_settings
        with writer(self.engine).begin() as conn:
            reprocess_jobs.submit(conn, "bench", [(self.package_id, None)], ("mp3", "psd"), self.current.as_json())

    def __call__(self) -> None:
        result = self.reprocessor.run_one()
        changed = {kind: outcome["changed"] for kind, outcome in result.outcome.items()}
        if changed != {"mp3": self.expect_changed, "psd": self.expect_changed}:
            raise RuntimeError(f"expected changed={self.expect_changed}, got {result}")


def new_settings() -> ProductSettings:
    nfft, full_scale = next(CHANGES)
    return ProductSettings(psd_nfft=nfft, loudness=LoudnessPolicy(full_scale_sample_units=full_scale))


def main(data_dir: Path) -> None:
    frames = load_frames(data_dir)
    with tempfile.TemporaryDirectory(prefix="reprocess-", dir=data_dir) as tmp:
        work_dir = Path(tmp)
        files = write_adf_files(frames, work_dir / "adf")
        archived = Ingest(files, work_dir / "archived")
        archived.prepare()
        archived()
        reprocess = Reprocess(archived)
        ingest = Ingest(files, work_dir)
        results = measure(
            {"ingest": ingest, "changed": reprocess, "unchanged": reprocess}, REPEAT,
            setups={"ingest": ingest.prepare, "changed": lambda: reprocess.submit(new_settings()),
                    "unchanged": lambda: reprocess.submit(None)},
        )
        ingest.engine.dispose()
        archived.engine.dispose()
    reference = results["ingest"]
    rows = [[f"reprocess mp3 + psd, {case}", f"{seconds(reference.median_s)} ({seconds(reference.median_cpu_s)} CPU)",
             f"{seconds(results[case].median_s)} ({seconds(results[case].median_cpu_s)} CPU)",
             f"{ratio(reference.median_s, results[case].median_s)} ({ratio(reference.median_cpu_s, results[case].median_cpu_s)} CPU)",
             f"{results[case].peak_mb:.0f} MB (ingest {reference.peak_mb:.0f} MB)", f"{SNIPPET_S / results[case].median_s:.0f}x"]
            for case in ("changed", "unchanged")]
    print(table(f"Reprocessing one {SNIPPET_S} s package, 1 CPU; median of {REPEAT} interleaved runs",
                ["case", "ingest (reference)", "reprocess", "ingest / reprocess", "peak extra memory", "real-time factor"], rows))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
