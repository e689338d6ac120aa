"""Sample storage on one CPU: 24-bit FLAC against float32 — size, ingest cost per 300 s package, serving throughput.

1. Storage ratio (FLAC bytes / float32 bytes) of the real file in km3net-testdata and of the 300 s synthetic
   stream (24-bit counts, like the real ADC's).
2. Ingest cost of the 300 s package's samples: :func:`~hydroserve.acoustics.sample_storage.store` with
   ``samples_storage = "auto"`` (exactness check, FLAC encoding, decoding and bit-for-bit comparison, blob write with
   SHA-256 and fsync) against ``"float32"`` (the blob write alone); median of interleaved runs on fresh stores.
3. Serving: the package's /wav and /raw bytes as the HTTP layer streams them (through
   :class:`~hydroserve.acoustics.package_products.PackageProducts`: chunk checksums, and for FLAC the decoding), read
   whole in 1 MiB pieces and as random 1 MiB ranges, from a FLAC-stored and a float32-stored archive: MB/s on one core.

Usage: ``python -m tests.benchmarks.bench_storage DATA_DIR``, pinned to one CPU by the runner.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hydroserve.acoustics import catalog, sample_storage
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.acoustics.integrity import DamageLog, Integrity
from hydroserve.acoustics.package_products import PackageProducts
from hydroserve.acoustics.sensors import SensorCatalog
from hydroserve.api import wiring
from hydroserve.api.config import load_settings
from hydroserve.api.db import writer
from hydroserve.codecs import flac, raw, raw_decoder

from .common import MB, SENSOR, load_frames, machine, measure, seconds, snippet_samples, table, write_adf_files

REPEAT = 3
PIECE_BYTES = 1 << 20
N_RANGES = 48


def real_file_ratio() -> str:
    try:
        from km3net_testdata import data_path
    except ImportError:
        return "km3net-testdata not installed"
    samples = raw_decoder.read_file(data_path("acoustics/DOM_808956920_CH1_1608751683.bin"),
                                    frame_length=raw.DEFAULT_FRAME_LENGTH).samples.reshape(-1).astype(np.float32)
    data = b"".join(flac.encode_samples(samples, sample_rate_hz=195_312))
    return f"{len(data) / samples.nbytes:.3f} ({len(data) / 1e3:.0f} kB of {samples.nbytes / 1e3:.0f} kB)"


def archive(frames: np.ndarray, work_dir: Path, storage: str):
    """Ingest the 300 s package into a fresh archive stored as ``storage``; its products reader and record."""
    settings = load_settings(env={}, data_dir=str(work_dir / storage), samples_storage=storage)
    engine = wiring.init_catalog(settings)
    ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=0)
    for path in write_adf_files(frames, work_dir / "adf"):
        ingestor.feed(SENSOR, raw_decoder.read_file(path, frame_length=settings.adf_frame_length))
    ingestor.flush()
    (package_id,) = ingestor.report.packages_made
    with engine.connect() as conn:
        record = catalog.get_package(conn, package_id)
    blobs = wiring.open_blobs(settings)
    products = PackageProducts(blobs, SensorCatalog(), settings.products, Integrity(blobs, DamageLog(engine, writer(engine))))
    return products, record


def read_whole(served) -> int:
    total = 0
    with served.file as file:
        while piece := file.read(PIECE_BYTES):
            total += len(piece)
    if total != served.size_bytes:
        raise RuntimeError(f"read {total} of {served.size_bytes} bytes")
    return total


def read_ranges(served, starts: np.ndarray) -> int:
    total = 0
    with served.file as file:
        for start in starts:
            file.seek(int(start))
            total += len(file.read(PIECE_BYTES))
    return total


def throughput(make_served, read) -> tuple[float, int]:
    """MB/s of one ``read(make_served())`` (and the bytes read), best of ``REPEAT``."""
    best, n = 0.0, 0
    for _ in range(REPEAT):
        served = make_served()
        started = time.process_time()
        n = read(served)
        best = max(best, n / MB / (time.process_time() - started))
    return best, n


def main(data_dir: Path) -> None:
    frames = load_frames(data_dir)
    x = snippet_samples(frames)
    synthetic = b"".join(flac.encode_samples(x, sample_rate_hz=195_312))
    print(table("Storage ratio: FLAC bytes / float32 bytes (lossless, 24-bit, libFLAC level 5, 4096-sample frames)",
                ["input", "ratio"],
                [["real KM3NeT file (km3net-testdata, 1.26 s)", real_file_ratio()],
                 ["synthetic sensor, 300 s (24-bit counts)", f"{len(synthetic) / x.nbytes:.3f} ({len(synthetic) / MB:.0f} MB of "
                                                               f"{x.nbytes / MB:.0f} MB)"]]))
    del synthetic
    with tempfile.TemporaryDirectory(prefix="storage-", dir=data_dir) as tmp:
        work_dir = Path(tmp)
        runs = {"float32": 0, "auto": 0}

        def store(storage: str):
            runs[storage] += 1
            blobs = LocalBlobStore(work_dir / f"store-{storage}-{runs[storage]}")
            return sample_storage.store(x, prefix="s/p", package_id="p", start_tick=0, storage=storage, blobs=blobs)

        results = measure({"float32": lambda: store("float32"), "auto": lambda: store("auto")}, REPEAT,
                          warmups={"float32": lambda: None, "auto": lambda: None})
        reference, ours = results["float32"], results["auto"]
        print()
        print(table(f"Ingest cost of the samples of one 300 s package, 1 CPU; median of {REPEAT} interleaved runs",
                    ["time", "float32 blob", "FLAC (check, encode, verify, write)", "extra per package", "ratio"],
                    [["wall", seconds(reference.median_s), seconds(ours.median_s), seconds(ours.median_s - reference.median_s),
                      f"{ours.median_s / reference.median_s:.1f}x"],
                     ["CPU", seconds(reference.median_cpu_s), seconds(ours.median_cpu_s),
                      seconds(ours.median_cpu_s - reference.median_cpu_s), f"{ours.median_cpu_s / reference.median_cpu_s:.1f}x"],
                     ["peak extra memory", f"{reference.peak_mb:.0f} MB", f"{ours.peak_mb:.0f} MB", "", ""]]))
        served = {form: archive(frames, work_dir / "archives", storage)
                  for form, storage in (("float32", "float32"), ("flac", "auto"))}
        rows = []
        rng = np.random.default_rng(0)
        for kind in ("wav", "raw"):
            for how in ("whole, 1 MiB reads", f"{N_RANGES} random 1 MiB ranges"):
                rates = {}
                for storage, (products, record) in served.items():
                    make = lambda p=products, r=record: getattr(p, kind)(r)  # noqa: E731
                    probe = make()
                    size = probe.size_bytes
                    probe.file.close()
                    starts = rng.integers(0, size - PIECE_BYTES, N_RANGES)
                    read = read_whole if how.startswith("whole") else (lambda s, st=starts: read_ranges(s, st))
                    rates[storage], _ = throughput(make, read)
                rows.append([f"/{kind} {how}", f"{rates['float32']:.0f} MB/s", f"{rates['flac']:.0f} MB/s",
                             f"{rates['flac'] / rates['float32']:.2f}"])
        print()
        print(table(f"Serving from the store, one core (CPU time; best of {REPEAT}): bytes of the product per second",
                    ["product", "float32 store", "FLAC store", "ratio"], rows))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
