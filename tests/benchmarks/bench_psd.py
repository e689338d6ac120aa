"""PSD of a 300 s snippet (nfft 8192): welch_quantiles vs scipy.signal.spectrogram + numpy.quantile + mean.

Usage: ``python -m tests.benchmarks.bench_psd DATA_DIR`` (DATA_DIR from ``generate_input``).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from hydroserve.acoustics import psd
from hydroserve.codecs import raw

from .common import MB, load_frames, machine, measure, ratio, seconds, snippet_samples, table

NFFT = 8192
FS_HZ = float(raw.SAMPLE_RATE_HZ)
QUANTILES = [0.5, 0.75, 0.95]
REPEAT = 3


def reference(x: np.ndarray) -> dict[str, np.ndarray]:
    """What one would write with scipy and numpy: spectrogram, then statistics over the segment axis."""
    _, _, power = signal.spectrogram(x, FS_HZ, window="hann", nperseg=NFFT, noverlap=NFFT // 2, detrend="constant", scaling="density")
    median, p75, p95 = np.quantile(power, QUANTILES, axis=-1)
    return {"mean": power.mean(axis=-1), "median": median, "p75": p75, "p95": p95}


def bare_rfft(x: np.ndarray, dtype, workers: int) -> None:
    """The floor: rFFT of every (unwindowed, undetrended) segment on ``workers`` threads.

    Segments are converted to ``dtype`` in cache-sized blocks (``psd.BLOCK_SAMPLES`` per thread) and
    transformed in place, so the floor is the transforms themselves, not memory traffic.
    """
    segments = sliding_window_view(x, NFFT)[:: NFFT // 2]
    chunk = max(1, psd.BLOCK_SAMPLES // NFFT) * workers
    block = np.empty((chunk, NFFT), dtype=dtype)
    for first in range(0, len(segments), chunk):
        part = segments[first : first + chunk]
        np.copyto(block[: len(part)], part)
        scipy.fft.rfft(block[: len(part)], axis=1, workers=workers, overwrite_x=True)


def ours(x: np.ndarray, workers: int | None) -> dict[str, np.ndarray]:
    result = psd.welch_quantiles([x], raw.SAMPLE_RATE_HZ, NFFT, workers=workers)
    return {name: getattr(result, name) for name in ("mean", "median", "p75", "p95")}


def stages(x: np.ndarray) -> list[list[str]]:
    """Where one-thread welch_quantiles spends its CPU time: cProfile of one run, by the psd functions of each stage."""
    profile = cProfile.Profile(time.process_time)
    profile.runcall(psd.welch_quantiles, [x], raw.SAMPLE_RATE_HZ, NFFT, workers=1)
    functions = pstats.Stats(profile).get_stats_profile().func_profiles
    total_s = functions["welch_quantiles"].cumtime
    transform_s = functions["_transform"].cumtime
    rfft_s = functions["<built-in method scipy.fft._pocketfft.pypocketfft.r2c>"].tottime
    selection_s = functions["exact_quantiles"].cumtime
    parts = [
        ("transforms: float64 rFFT (pocketfft)", rfft_s),
        ("transforms: the rest (float64 conversion, means, window, squares, their sum, float32 store)", transform_s - rfft_s),
        ("selection: exact quantiles (exact_quantiles)", selection_s),
        ("total (welch_quantiles)", total_s),
    ]
    return [[name, seconds(value), f"{100 * value / total_s:.0f} %"] for name, value in parts]


def max_db_error(got: dict, expected: dict) -> float:
    return max(float(np.max(np.abs(psd.to_db(got[name]) - psd.to_db(expected[name])))) for name in expected)


def main(data_dir: Path) -> None:
    x = snippet_samples(load_frames(data_dir))
    cpus = psd.available_cpus()
    snippet_mb = x.nbytes / MB
    actions = {
        "reference": reference,
        f"welch_quantiles, {cpus} threads": lambda samples: ours(samples, None),
        "welch_quantiles, 1 thread": lambda samples: ours(samples, 1),
        f"floor: bare rfft of all segments, float32, {cpus} threads": lambda samples: bare_rfft(samples, np.float32, cpus),
        f"floor: bare rfft of all segments, float64, {cpus} threads": lambda samples: bare_rfft(samples, np.float64, cpus),
        "floor: bare rfft of all segments, float64, 1 thread": lambda samples: bare_rfft(samples, np.float64, 1),
    }
    cases = {name: (lambda action=action: action(x)) for name, action in actions.items()}
    short = x[: len(x) // 30]
    warmups = {name: (lambda action=action: action(short)) for name, action in actions.items()}
    results = measure(cases, REPEAT, warmups=warmups)
    ref = results.pop("reference")
    rows = [
        [name, seconds(ref.median_s), seconds(m.median_s), ratio(ref.median_s, m.median_s),
         f"{m.peak_mb:.0f} MB ({m.peak_mb / snippet_mb:.2f}x snippet)", f"{100 * m.spread:.0f} %"]
        for name, m in results.items()
    ]
    rows.append(["reference itself (spectrogram + quantile + mean)", seconds(ref.median_s), "", "1.0x",
                 f"{ref.peak_mb:.0f} MB ({ref.peak_mb / snippet_mb:.2f}x snippet)", f"{100 * ref.spread:.0f} %"])
    print(table(
        f"PSD: 300 s snippet ({len(x):,} float32 samples, {snippet_mb:.0f} MB), nfft {NFFT}, mean + median + p75 + p95; "
        f"median of {REPEAT} interleaved runs",
        ["case", "reference", "ours", "ratio", "peak extra memory", "spread"], rows,
    ))
    print()
    for threads in sorted({1, cpus}):
        name = "1 thread" if threads == 1 else f"{threads} threads"
        welch, floor = results[f"welch_quantiles, {name}"], results[f"floor: bare rfft of all segments, float64, {name}"]
        goal = f" (goal <= 2.5x): met {'yes' if welch.median_s <= 2.5 * floor.median_s else 'no'}" if threads == 1 else ""
        print(f"PSD {name} / float64 rfft floor {name} = {welch.median_s / floor.median_s:.1f}x{goal}; "
              f"in CPU time {welch.median_cpu_s / floor.median_cpu_s:.1f}x")
    print()
    print(table("Stages of welch_quantiles, 1 thread (cProfile of one run, CPU time)", ["stage", "CPU", "share"], stages(x)))
    print()
    exact = reference(x.astype(np.float64))
    print(f"accuracy vs the float64 reference, max over all frequencies and statistics: "
          f"welch_quantiles {max_db_error(results[f'welch_quantiles, {cpus} threads'].last_result, exact):.1e} dB (goal 1e-4 dB); "
          f"the float32 reference itself {max_db_error(ref.last_result, exact):.1e} dB")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
