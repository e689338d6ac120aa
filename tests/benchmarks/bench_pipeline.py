"""Per-snippet ingest on one CPU and on all: ADF files -> cut -> Archive.store (real wiring, SQLite) vs the naive chain.

Ours is exactly what ``hydroserve import`` does for 300 s of one sensor:
decode the ADF files (memory-mapped), stitch and cut, check, encode and
verify the samples as FLAC (the synthetic samples are 24-bit counts) and write
that blob (sha256, fsync), hash the raw and wav views, resample and encode the MP3,
compute the PSD and the HMD, write their blobs, commit the package, product,
resource and outbox rows. The samples and the products are made side by side
on as many threads as the process may use CPUs: the benchmark runs ours pinned
to one CPU and on all of them (``sched_setaffinity``), interleaved. Every repetition starts on an empty data
directory. The naive chain does only the products, the obvious way:
``soundfile.write`` of a float32 WAV, ``scipy.signal.resample_poly`` (default
filter) + LAME at quality 2, ``scipy.signal.welch`` for the mean and
``scipy.signal.spectrogram`` + ``numpy.quantile`` for the quantiles.

The peak extra memory of building one package (``Archive.store`` of a cut
snippet: the samples already in memory) is measured on its own, against the
goal of 1.5x the package's float32 size.

Usage: ``python -m tests.benchmarks.bench_pipeline DATA_DIR``.
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

from hydroserve.acoustics import hmd_product, products, psd, psd_product, sample_storage
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.acoustics.cutter import SnippetCutter
from hydroserve.acoustics.resample import PolyphaseResampler
from hydroserve.api import wiring
from hydroserve.api.config import load_settings
from hydroserve.codecs import flac, mp3, raw, raw_decoder

from .common import MB, SENSOR, SNIPPET_S, load_frames, machine, measure, ratio, seconds, snippet_samples, table, write_adf_files

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
        self.ingestor.report.packages_made.clear()
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
    stages.wrap(flac, "encode_samples", "samples: 24-bit check + FLAC encoding (libFLAC level 5, MD5)")
    stages.wrap(sample_storage, "_verification_error", "samples: FLAC decoded and compared bit for bit")
    stages.wrap(LocalBlobStore, "put", "blob writes: sha256, write, fsync (samples as FLAC, mp3, psd)")
    stages.wrap(products, "_digest", "raw + wav views: sha256")
    stages.wrap(PolyphaseResampler, "__call__", "mp3: anti-alias resampling")
    stages.wrap(mp3, "encode", "mp3: LAME encoding")
    stages.wrap(psd, "welch_quantiles", "psd: welch_quantiles")
    stages.wrap(psd_product, "document", "psd: JSON document")
    stages.wrap(hmd_product, "compute", "hmd: 1-minute HMD spectra, levels, quality")
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


def pin(cpus: set[int]):
    return lambda: os.sched_setaffinity(0, cpus)


class OnePackage:
    """``Archive.store`` of one cut snippet (kept from an ingest run) into a fresh, empty data directory each time."""

    def __init__(self, ingest: Ingest):
        self.ingest = ingest
        self.snippet = None
        original = ingest.ingestor.archive.store

        def keep(snippet):
            self.snippet = snippet
            return original(snippet)

        ingest.ingestor.archive.store = keep
        ingest()
        ingest.ingestor.archive.store = original

    def __call__(self) -> None:
        if self.ingest.ingestor.archive.store(self.snippet) is None:
            raise RuntimeError("the package was already archived")


def main(data_dir: Path) -> None:
    frames = load_frames(data_dir)
    x = snippet_samples(frames)
    cpus = os.sched_getaffinity(0)
    one_cpu = {max(cpus)}
    with tempfile.TemporaryDirectory(prefix="pipeline-", dir=data_dir) as tmp:
        work_dir = Path(tmp)
        ingest = Ingest(write_adf_files(frames, work_dir / "adf"), work_dir)
        stages = instrument()
        per_run = []
        all_cpus = f"ours, {len(cpus)} CPUs"

        def prepare(affinity: set[int], keep_stages: bool):
            def setup() -> None:
                taken = stages.take()
                if keep_stages:  # the stages of the one-CPU run just before (the only one whose stages add up)
                    per_run.append(taken)
                pin(affinity)()
                ingest.prepare()
            return setup

        results = measure({"naive": lambda: naive(x, work_dir), "ours, 1 CPU": ingest, all_cpus: ingest}, REPEAT,
                          setups={"naive": pin(one_cpu), "ours, 1 CPU": prepare(one_cpu, False), all_cpus: prepare(cpus, True)},
                          warmups={"naive": lambda: naive(x[: len(x) // 30], work_dir)})
        per_run = per_run[1:]  # drop the warm-up round's
        pin(cpus)()
        ingest.prepare()
        package = OnePackage(ingest)
        built = measure({"build, 1 CPU": package, f"build, {len(cpus)} CPUs": package}, REPEAT,
                        setups={"build, 1 CPU": lambda: (pin(one_cpu)(), ingest.prepare()),
                                f"build, {len(cpus)} CPUs": lambda: (pin(cpus)(), ingest.prepare())})
        pin(cpus)()
        ingest.engine.dispose()
    reference, ours, parallel = results["naive"], results["ours, 1 CPU"], results[all_cpus]
    snippet_mb = x.nbytes / MB
    print(table(
        f"Per-snippet pipeline, 300 s of one sensor; median of {REPEAT} interleaved runs",
        ["case", "naive chain (1 CPU)", "ours", "ratio", "real-time factor", "peak extra memory", "CPU time (ours)",
         "spread (ours)"],
        [[f"ADF files -> published package, {name}", seconds(reference.median_s), seconds(m.median_s),
          ratio(reference.median_s, m.median_s), f"{SNIPPET_S / m.median_s:.0f}x", f"{m.peak_mb:.0f} MB (naive {reference.peak_mb:.0f} MB)",
          seconds(m.median_cpu_s), f"{100 * m.spread:.0f} %"]
         for name, m in (("1 CPU", ours), (f"{len(cpus)} CPUs", parallel))],
    ))
    realtime, realtime_all = SNIPPET_S / ours.median_s, SNIPPET_S / parallel.median_s
    print(f"\nreal-time factor on 1 CPU {realtime:.0f}x (goal >= 100x: met {'yes' if realtime >= 100 else 'no'}): one core "
          f"keeps up with {int(realtime)} sensors at continuous coverage ({SNIPPET_S / ours.median_cpu_s:.0f} by CPU time); "
          f"on {len(cpus)} CPUs {realtime_all:.0f}x wall for one package (goal >= 170x on 2: met "
          f"{'yes' if realtime_all >= 170 else 'no'}); naive chain {SNIPPET_S / reference.median_s:.0f}x, and it makes the "
          f"products only (no cut, FLAC, HMD, hashes or catalog)")
    print(f"peak extra memory of building one package (Archive.store of a cut snippet, samples already in memory), "
          f"goal <= 1.5x its float32 size ({1.5 * snippet_mb:.0f} MB): "
          + "; ".join(f"{name} {m.peak_mb:.0f} MB = {m.peak_mb / snippet_mb:.2f}x (met {'yes' if m.peak_mb <= 1.5 * snippet_mb else 'no'}), "
                      f"{seconds(m.median_s)}" for name, m in built.items()) + "\n")
    print(table(f"Where the time goes (ours on 1 CPU, median of the {REPEAT} runs)", ["stage", "wall", "share", "user CPU", "kernel CPU"],
                stage_rows(per_run)))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
