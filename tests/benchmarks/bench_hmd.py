"""HMD product of a 300 s package (5 UTC minutes, 595 segments of 195,312 samples): fast engine vs the definition.

The naive computation (one float64 rfft of length 195,312 per segment: a prime factor 313) is the reference measured
in the same run. The goal, from issue 17: the naive costs ~4.2 s per package, the fast one should add <= 0.7 s,
i.e. be at least 6x faster than the naive in the same run.

Usage: ``python -m tests.benchmarks.bench_hmd DATA_DIR`` (DATA_DIR from ``generate_input``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hydroserve.acoustics import hmd_product
from hydroserve.acoustics.hmd_bands import hmd_bands
from hydroserve.acoustics.hmd_spectrum import band_integrals_naive
from hydroserve.acoustics.window import Run

from .common import BOUNDARY_TICK, load_frames, machine, measure, ratio, seconds, snippet_samples, table

REPEAT = 2
GOAL_RATIO = 4.2 / 0.7


def main(data_dir: Path) -> None:
    x = snippet_samples(load_frames(data_dir))
    runs = (Run(BOUNDARY_TICK, 0, len(x)),)
    short = x[: len(x) // 50]
    short_runs = (Run(BOUNDARY_TICK, 0, len(short)),)
    cases = {
        "naive (definition)": lambda: hmd_product.compute([x], runs, None, band_integrals=band_integrals_naive),
        "fast": lambda: hmd_product.compute([x], runs, None),
    }
    warmups = {
        "naive (definition)": lambda: hmd_product.compute([short], short_runs, None, band_integrals=band_integrals_naive),
        "fast": lambda: hmd_product.compute([short], short_runs, None),
    }
    results = measure(cases, REPEAT, warmups=warmups)
    naive, fast = results["naive (definition)"], results["fast"]
    segments = int(fast.last_result.n_segments.sum())
    print(table(
        f"HMD per 300 s package ({len(x):,} samples, {len(fast.last_result.n_segments)} minutes, {segments} segments); "
        f"median of {REPEAT} interleaved runs, one CPU",
        ["case", "time", "CPU time", "per segment", "spread"],
        [[name, seconds(m.median_s), seconds(m.median_cpu_s), f"{1000 * m.median_s / segments:.2f} ms", f"{100 * m.spread:.0f} %"]
         for name, m in results.items()],
    ))
    met = naive.median_s / fast.median_s >= GOAL_RATIO
    print(f"\nHMD per 300 s package: fast {seconds(fast.median_s)} vs naive {seconds(naive.median_s)} in the same run, "
          f"ratio {ratio(naive.median_s, fast.median_s)} (goal >= {GOAL_RATIO:.0f}x, i.e. <= 0.7 s where the naive takes 4.2 s): "
          f"goal met {'yes' if met else 'no'}")
    bands = hmd_bands()
    error_db = np.abs(10 * np.log10(fast.last_result.band_density.astype(np.float64) / naive.last_result.band_density))
    print(f"accuracy vs the naive: max {np.max(error_db[:, bands.centre_hz >= 10]):.1e} dB over bands >= 10 Hz, "
          f"max {np.max(error_db[:, bands.centre_hz < 10_000]):.1e} dB below 10 kHz")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
