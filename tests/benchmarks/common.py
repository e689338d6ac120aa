"""Shared by the benchmarks: the synthetic input, interleaved timing with peak memory, Markdown tables.

Every benchmark runs the reference and our code in the same process,
alternating them, ``repeat`` times, and reports the median time and the
largest extra peak memory (resident set high-water mark above the resident
size just before the call; Linux ``/proc/self/clear_refs``).
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hydroserve.codecs import raw
from hydroserve.samples.synthetic import SyntheticSensor

SENSOR = raw.SensorId(808956920, 1)
BOUNDARY_TICK = 1608751800 * raw.TICKS_PER_SECOND  # a 300 s boundary (2020-12-23T19:30:00Z)
FIRST_FRAME_TICK = BOUNDARY_TICK - 7_654_400  # first frame starts 0.122 s before it, on the sample lattice
SNIPPET_S = 300
SNIPPET_SAMPLES = round(SNIPPET_S * raw.SAMPLE_RATE_HZ)  # 58_593_750
N_FRAMES = SNIPPET_SAMPLES // raw.DEFAULT_FRAME_LENGTH + 2  # covers the whole window
SAMPLES_FILE = "frames.npy"
MB = 1e6


def generate_input(directory: Path) -> Path:
    """Write ``N_FRAMES`` contiguous synthetic frames' samples (float32) to ``directory/frames.npy``."""
    source = SyntheticSensor(SENSOR)
    first = FIRST_FRAME_TICK // raw.TICKS_PER_SAMPLE
    samples = np.empty(N_FRAMES * raw.DEFAULT_FRAME_LENGTH, dtype=np.float32)
    step = 1 << 22
    for start in range(0, len(samples), step):
        n = min(step, len(samples) - start)
        samples[start : start + n] = source.samples(first + start, n)
    path = directory / SAMPLES_FILE
    np.save(path, samples)
    return path


def load_frames(directory: Path) -> np.ndarray:
    """The benchmark input: ``N_FRAMES`` contiguous frames starting at ``FIRST_FRAME_TICK``."""
    return np.load(directory / SAMPLES_FILE)


def snippet_samples(frames: np.ndarray) -> np.ndarray:
    """The 300 s of samples the cutter makes into the package at ``BOUNDARY_TICK``."""
    skip = (BOUNDARY_TICK - FIRST_FRAME_TICK) // raw.TICKS_PER_SAMPLE
    return frames[skip : skip + SNIPPET_SAMPLES]


def write_adf_files(frames: np.ndarray, directory: Path, frames_per_file: int = 16) -> list[Path]:
    """The input as ADF raw files, ``frames_per_file`` frames each (as the DAQ writes them)."""
    directory.mkdir(parents=True, exist_ok=True)
    frame_length = raw.DEFAULT_FRAME_LENGTH
    ticks = FIRST_FRAME_TICK + np.arange(N_FRAMES, dtype=np.int64) * frame_length * raw.TICKS_PER_SAMPLE
    paths = []
    for first in range(0, N_FRAMES, frames_per_file):
        chunk = slice(first, min(first + frames_per_file, N_FRAMES))
        name = raw.RawFileName(SENSOR, int(ticks[first]) // raw.TICKS_PER_SECOND)
        path = directory / str(name)
        path.write_bytes(raw.encode(ticks[chunk], frames.reshape(N_FRAMES, frame_length)[chunk]))
        paths.append(path)
    return paths


def machine() -> str:
    """CPU model, CPUs usable by this process, load average, library versions."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")), model)
    import scipy

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{model}, {len(os.sched_getaffinity(0))} of {os.cpu_count()} CPUs usable, load average {load}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}"
    )


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class Measurement:
    """Times (s) and extra peak resident memory (bytes) of the repetitions of one case."""

    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    peak_bytes: list[int] = field(default_factory=list)
    last_result: object = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_seconds)

    @property
    def spread(self) -> float:
        """(max - min) / median of the times."""
        return (max(self.seconds) - min(self.seconds)) / self.median_s

    @property
    def peak_mb(self) -> float:
        return max(self.peak_bytes) / MB


def run_once(action: Callable[[], object], measurement: Measurement) -> object:
    """Run ``action`` once, adding its wall time, CPU time and extra peak memory to ``measurement``."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the resident set high-water mark
    before_kb = _status_kb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    measurement.last_result = action()
    measurement.seconds.append(time.perf_counter() - wall)
    measurement.cpu_seconds.append(time.process_time() - cpu)
    measurement.peak_bytes.append((_status_kb("VmHWM") - before_kb) * 1024)
    return measurement.last_result


def measure(
    cases: dict[str, Callable[[], object]],
    repeat: int,
    *,
    setups: dict[str, Callable[[], object]] | None = None,
    warmups: dict[str, Callable[[], object]] | None = None,
) -> dict[str, Measurement]:
    """Run the cases alternately ``repeat`` times after one untimed warm-up round.

    ``setups[name]``, if given, runs untimed before every run of case
    ``name``; ``warmups[name]`` replaces the case itself in the warm-up round
    (e.g. the same code on a short input: imports, FFT plans, caches).
    """
    setups, warmups = setups or {}, warmups or {}
    results = {name: Measurement() for name in cases}
    for name, action in cases.items():
        setups.get(name, lambda: None)()
        warmups.get(name, action)()
    for _ in range(repeat):
        for name, action in cases.items():
            setups.get(name, lambda: None)()
            run_once(action, results[name])
    return results


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table with a bold title line."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([f"**{title}**", "", line(header), separator, *map(line, rows)])


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def ratio(reference_s: float, ours_s: float) -> str:
    return f"{reference_s / ours_s:.1f}x"
