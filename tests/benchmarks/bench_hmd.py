"""HMD product of a 300 s package (5 UTC minutes, 595 segments of 195,312 samples): fast engine vs the definition.

The naive computation (one float64 rfft of length 195,312 per segment: a prime factor 313) is the reference measured
in the same run. The goal, from issue 17: the fast engine adds <= 0.7 s of CPU per 300 s package on one core, where
the naive took 4.2 s when the goal was set (i.e. 6x faster); both figures are printed.

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

REPEAT = 3
GOAL_S = 0.7
GOAL_RATIO = 4.2 / GOAL_S


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
    ratio_met = naive.median_cpu_s / fast.median_cpu_s >= GOAL_RATIO
    print(f"\nHMD added per 300 s package: {seconds(fast.median_cpu_s)} CPU (goal <= {GOAL_S} s: met "
          f"{'yes' if fast.median_cpu_s <= GOAL_S else 'no'}); {ratio(naive.median_cpu_s, fast.median_cpu_s)} faster than the "
          f"naive's {seconds(naive.median_cpu_s)} in the same run (the goal's figures imply >= {GOAL_RATIO:.0f}x: met "
          f"{'yes' if ratio_met else 'no'}; the naive transform is faster here than the 7 ms per segment the goal was set on)")
    bands = hmd_bands()
    error_db = np.abs(10 * np.log10(fast.last_result.band_density.astype(np.float64) / naive.last_result.band_density))
    print(f"accuracy vs the naive: max {np.max(error_db[:, bands.centre_hz >= 10]):.1e} dB over bands >= 10 Hz, "
          f"max {np.max(error_db[:, bands.centre_hz < 10_000]):.1e} dB below 10 kHz")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
