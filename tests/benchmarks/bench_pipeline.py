"""Per-snippet ingest on one CPU: ADF files -> cut -> Archive.publish (real wiring, SQLite) vs the naive chain.

Ours is exactly what ``hydroserve import`` does for 300 s of one sensor:
decode the ADF files (memory-mapped), stitch and cut, check, encode and
verify the samples as FLAC (the synthetic samples are 24-bit counts) and write
that blob (sha256, fsync), hash the raw and wav views, resample and encode the MP3,
compute the PSD, write its npz and JSON, commit the package, product,
resource and outbox rows. Every repetition starts on an empty data
directory. The naive chain does only the products, the obvious way:
``soundfile.write`` of a float32 WAV, ``scipy.signal.resample_poly`` (default
filter) + LAME at quality 2, ``scipy.signal.welch`` for the mean and
``scipy.signal.spectrogram`` + ``numpy.quantile`` for the quantiles.

Usage: ``python -m tests.benchmarks.bench_pipeline DATA_DIR``, pinned to one CPU by the runner.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lameenc
import numpy as np
import soundfile
from scipy import signal

from hydroserve.acoustics import products, psd, psd_product, sample_storage
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.acoustics.cutter import SnippetCutter
from hydroserve.acoustics.resample import PolyphaseResampler
from hydroserve.api import wiring
from hydroserve.api.config import load_settings
from hydroserve.codecs import flac, mp3, raw, raw_decoder

from .common import SENSOR, SNIPPET_S, load_frames, machine, measure, ratio, seconds, snippet_samples, table, write_adf_files

REPEAT = 3
FS_HZ = float(raw.SAMPLE_RATE_HZ)


class Ingest:
    """``hydroserve import`` of the ADF files; :meth:`prepare` opens a fresh, empty data directory first (untimed)."""

    def __init__(self, files: list[Path], work_dir: Path):
        self.files = files
        self.work_dir = work_dir
        self.runs = 0
        self.settings = self.engine = self.ingestor = None

    def prepare(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        self.runs += 1
        self.settings = load_settings(env={}, data_dir=str(self.work_dir / f"data{self.runs}"))
        self.engine = wiring.init_catalog(self.settings)
        self.ingestor = wiring.build_ingestor(self.settings, wiring.build_archive(self.settings, self.engine), retry_for_s=0)

    def __call__(self) -> None:
        for path in self.files:
            self.ingestor.feed(SENSOR, raw_decoder.read_file(path, frame_length=self.settings.adf_frame_length))
        self.ingestor.flush()
        if len(self.ingestor.report.packages_made) != 1:
            raise RuntimeError(f"expected one package, got {self.ingestor.report.summary()}")


def naive(x: np.ndarray, work_dir: Path) -> None:
    soundfile.write(work_dir / "naive.wav", x, 195_312, subtype="FLOAT")
    resampled = signal.resample_poly(x - np.float32(x.mean(dtype=np.float64)), 768, 3125)
    pcm = np.rint(resampled * (32_000 / np.abs(resampled).max())).astype(np.int16)
    encoder = lameenc.Encoder()
    encoder.set_channels(1)
    encoder.set_in_sample_rate(48_000)
    encoder.set_out_sample_rate(48_000)
    encoder.set_bit_rate(128)
    encoder.set_quality(2)
    (work_dir / "naive.mp3").write_bytes(encoder.encode(pcm.tobytes()) + encoder.flush())
    signal.welch(x, FS_HZ, window="hann", nperseg=8192, noverlap=4096, scaling="density")
    _, _, power = signal.spectrogram(x, FS_HZ, window="hann", nperseg=8192, noverlap=4096, scaling="density")
    np.quantile(power, [0.5, 0.75, 0.95], axis=-1)


class Stages:
    """Wall, user and kernel time per pipeline stage, by wrapping the functions that make up each stage.

    The wrappers stay in place during the measured runs (a few calls per
    snippet, no measurable overhead); ``take`` returns one run's times and starts over.
    """

    def __init__(self):
        self.times: dict[str, list[float]] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)
        self.times[label] = [0.0, 0.0, 0.0]

        def timed(*args, **kwargs):
            started, wall = os.times(), time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                ended, spent = os.times(), self.times[label]
                spent[0] += time.perf_counter() - wall
                spent[1] += ended.user - started.user
                spent[2] += ended.system - started.system

        setattr(owner, name, timed)

    def take(self) -> dict[str, list[float]]:
        taken = {label: list(spent) for label, spent in self.times.items()}
        for spent in self.times.values():
            spent[:] = [0.0, 0.0, 0.0]
        return taken


def instrument() -> Stages:
    stages = Stages()
    stages.wrap(Ingest, "__call__", TOTAL)
    stages.wrap(raw_decoder, "decode", "decode ADF files (memory map, checks)")
    stages.wrap(SnippetCutter, "feed", "stitch + cut (copy into the window)")
    stages.wrap(flac, "exact_counts", "samples: 24-bit exactness check")
    stages.wrap(flac, "encode", "samples: FLAC encoding (libFLAC level 5)")
    stages.wrap(sample_storage, "_verification_error", "samples: FLAC decoded and compared bit for bit")
    stages.wrap(LocalBlobStore, "put", "blob writes: sha256, write, fsync (samples as FLAC, mp3, psd)")
    stages.wrap(products, "_digest", "raw + wav views: sha256")
    stages.wrap(PolyphaseResampler, "__call__", "mp3: anti-alias resampling")
    stages.wrap(mp3, "encode", "mp3: LAME encoding")
    stages.wrap(psd, "welch_quantiles", "psd: welch_quantiles")
    stages.wrap(psd_product, "document", "psd: JSON document")
    return stages


TOTAL = "total"


REST = "rest: catalog + registration transactions, skipped windows, glue"


def stage_rows(runs: list[dict[str, list[float]]]) -> list[list[str]]:
    """Per stage, the median over the runs of its wall, user and kernel seconds (the rest is total minus the stages, per run)."""
    for run in runs:
        run[REST] = [run[TOTAL][i] - sum(spent[i] for label, spent in run.items() if label != TOTAL) for i in range(3)]
    medians = {label: [statistics.median(run[label][i] for run in runs) for i in range(3)] for label in runs[0]}
    total = medians.pop(TOTAL)
    rows = [[label, seconds(wall), f"{100 * wall / total[0]:.0f} %", seconds(user), seconds(kernel)]
            for label, (wall, user, kernel) in medians.items()]
    rows.append(["total", seconds(total[0]), "100 %", seconds(total[1]), seconds(total[2])])
    return rows


def main(data_dir: Path) -> None:
    frames = load_frames(data_dir)
    x = snippet_samples(frames)
    with tempfile.TemporaryDirectory(prefix="pipeline-", dir=data_dir) as tmp:
        work_dir = Path(tmp)
        ingest = Ingest(write_adf_files(frames, work_dir / "adf"), work_dir)
        stages = instrument()
        per_run = []

        def prepare() -> None:
            per_run.append(stages.take())
            ingest.prepare()

        results = measure({"naive": lambda: naive(x, work_dir), "ours": ingest}, REPEAT, setups={"ours": prepare},
                          warmups={"naive": lambda: naive(x[: len(x) // 30], work_dir)})
        per_run = per_run[2:] + [stages.take()]  # drop the warm-up (and the empty first take)
        ingest.engine.dispose()
    reference, ours = results["naive"], results["ours"]
    realtime = SNIPPET_S / ours.median_s
    print(table(
        f"Per-snippet pipeline, 300 s of one sensor, 1 CPU (psd workers={psd.available_cpus()}); median of {REPEAT} interleaved runs",
        ["case", "naive chain", "ours", "ratio", "peak extra memory", "CPU time (ours)", "spread (ours)"],
        [["ADF files -> published package", seconds(reference.median_s), seconds(ours.median_s), ratio(reference.median_s, ours.median_s),
          f"{ours.peak_mb:.0f} MB (naive {reference.peak_mb:.0f} MB)", seconds(ours.median_cpu_s), f"{100 * ours.spread:.0f} %"]],
    ))
    print(f"\nreal-time factor {realtime:.0f}x (goal >= 100x): one core keeps up with {int(realtime)} sensors at continuous coverage "
          f"({SNIPPET_S / ours.median_cpu_s:.0f} by CPU time, if I/O waits overlap); naive chain {SNIPPET_S / reference.median_s:.0f}x, "
          f"and it makes the products only (no cut, hashes or catalog)\n")
    print(table(f"Where the time goes (ours, median of the {REPEAT} runs)", ["stage", "wall", "share", "user CPU", "kernel CPU"],
                stage_rows(per_run)))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
