"""Fixed-interval, sample-exact cutting of a sensor's timeline into snippets.

Snippet ``k`` of a sensor covers the time window ``[B_k, B_k + N * 320)``
ticks, where

* ``B_k = k * interval`` is a multiple of the interval since the Unix epoch
  (UTC), and
* ``N = round(duration_s * 195312.5)`` is the number of samples of a complete
  snippet (Python's ``round``: halves go to the even neighbour).

A window is exactly ``N`` sample periods long and half-open, so a complete
snippet holds exactly ``N`` samples: the first is the first sample at or after
``B_k``. Frames straddling a boundary are split. With ``duration ==
interval`` coverage is continuous; with ``duration > interval`` snippets
overlap; with ``duration < interval`` the time between them is not kept.

Missing time inside a window is a gap. Gaps are never filled: a snippet
holds its present samples back to back (``samples``) plus the list of
contiguous runs with their exact start times, from which the gaps follow.
A window is final once the timeline has passed its end (or on
:meth:`SnippetCutter.flush`); it becomes a :class:`Snippet` if its coverage
(present / expected samples) reaches the minimum, else a
:class:`SkippedWindow` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from hydroserve.codecs.raw import SAMPLE_RATE_HZ, TICKS_PER_SAMPLE, TICKS_PER_SECOND, SensorId

from .stream import Piece


@dataclass(frozen=True)
class CutSettings:
    """How a timeline is cut.

    Attributes
    ----------
    duration_s : Fraction
        Snippet duration in seconds.
    interval_s : int
        Whole seconds between snippet starts (package ids carry whole seconds).
    min_coverage : float
        Minimum fraction of expected samples for a snippet to be kept.
    """

    duration_s: Fraction
    interval_s: int
    min_coverage: float = 0.9

    def __post_init__(self):
        if self.duration_s <= 0:
            raise ValueError(f"duration_s={self.duration_s} must be positive")
        if self.n_samples < 1:
            raise ValueError(f"duration_s={self.duration_s} holds less than one sample")
        if not isinstance(self.interval_s, int) or self.interval_s < 1:
            raise ValueError(f"interval_s={self.interval_s!r} must be a whole number of seconds >= 1")
        if not 0 < self.min_coverage <= 1:
            raise ValueError(f"min_coverage={self.min_coverage} must be in (0, 1]")

    @property
    def n_samples(self) -> int:
        """Samples in a complete snippet: round(duration_s * 195312.5)."""
        return round(Fraction(self.duration_s) * SAMPLE_RATE_HZ)

    @property
    def window_ticks(self) -> int:
        return self.n_samples * TICKS_PER_SAMPLE

    @property
    def interval_ticks(self) -> int:
        return self.interval_s * TICKS_PER_SECOND


@dataclass(frozen=True)
class Run:
    """A contiguous run of samples inside a snippet."""

    start_tick: int
    first_sample: int
    n_samples: int

    @property
    def end_tick(self) -> int:
        return self.start_tick + self.n_samples * TICKS_PER_SAMPLE


@dataclass(frozen=True)
class Gap:
    """Missing time ``[start_tick, end_tick)`` inside a window; ``at_sample`` is
    the index in the snippet's samples where the data resumes."""

    start_tick: int
    end_tick: int
    at_sample: int

    @property
    def duration_s(self) -> float:
        return (self.end_tick - self.start_tick) / TICKS_PER_SECOND


@dataclass(frozen=True)
class Snippet:
    """A cut window with its samples.

    Attributes
    ----------
    sensor : SensorId
    boundary_tick : int
        Window start ``B_k``.
    n_expected : int
        ``N``, the samples of a complete snippet.
    runs : tuple of Run
        Contiguous runs, in time order.
    samples : numpy.ndarray
        float32, all present samples back to back (``sum(run.n_samples)``).
    window_size : int
        ADF window size of the source frames.
    sources : tuple of str
        The inputs the samples came from.
    """

    sensor: SensorId
    boundary_tick: int
    n_expected: int
    runs: tuple[Run, ...]
    samples: np.ndarray = field(repr=False)
    window_size: int
    sources: tuple[str, ...]

    @property
    def package_id(self) -> str:
        return package_id(self.sensor, self.boundary_tick)

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def coverage(self) -> float:
        return self.n_samples / self.n_expected

    @property
    def start_tick(self) -> int:
        """Time of the first sample."""
        return self.runs[0].start_tick

    @property
    def end_tick(self) -> int:
        """End of the last sample's period."""
        return self.runs[-1].end_tick

    @property
    def window_end_tick(self) -> int:
        return self.boundary_tick + self.n_expected * TICKS_PER_SAMPLE

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """Missing time in the window: before the first run, between runs, after the last."""
        return window_gaps(self.boundary_tick, self.window_end_tick, self.runs)


def window_gaps(window_start_tick: int, window_end_tick: int, runs: tuple[Run, ...]) -> tuple[Gap, ...]:
    """Gaps of at least one sample period between ``runs`` inside a window."""
    gaps = []
    cursor = window_start_tick
    for run in runs:
        if run.start_tick - cursor >= TICKS_PER_SAMPLE:
            gaps.append(Gap(cursor, run.start_tick, run.first_sample))
        cursor = run.end_tick
    if window_end_tick - cursor >= TICKS_PER_SAMPLE:
        n_samples = runs[-1].first_sample + runs[-1].n_samples if runs else 0
        gaps.append(Gap(cursor, window_end_tick, n_samples))
    return tuple(gaps)


@dataclass(frozen=True)
class SkippedWindow:
    """A window with data that was not kept, and why."""

    sensor: SensorId
    boundary_tick: int
    n_expected: int
    n_samples: int
    reason: str

    @property
    def package_id(self) -> str:
        return package_id(self.sensor, self.boundary_tick)

    @property
    def coverage(self) -> float:
        return self.n_samples / self.n_expected


def package_id(sensor: SensorId, boundary_tick: int) -> str:
    """``<sensor>_<unix start>``, e.g. ``DOM_808956920_CH1_1608751680``."""
    return f"{sensor}_{boundary_tick // TICKS_PER_SECOND}"


class _OpenWindow:
    """Samples gathered so far for one window."""

    def __init__(self, boundary_tick: int, n_expected: int):
        self.boundary_tick = boundary_tick
        self.buffer = np.empty(n_expected, dtype=np.float32)
        self.n_samples = 0
        self.runs: list[Run] = []
        self.window_size: int | None = None
        self.sources: dict[str, None] = {}

    def add(self, start_tick: int, samples: np.ndarray, window_size: int, source: str) -> None:
        n = len(samples)
        self.buffer[self.n_samples : self.n_samples + n] = samples
        last = self.runs[-1] if self.runs else None
        if last is not None and last.end_tick == start_tick:
            self.runs[-1] = Run(last.start_tick, last.first_sample, last.n_samples + n)
        else:
            self.runs.append(Run(start_tick, self.n_samples, n))
        self.n_samples += n
        if self.window_size is None:
            self.window_size = window_size
        self.sources[source] = None


class SnippetCutter:
    """Cuts one sensor's time-ordered, non-overlapping pieces into snippets.

    Parameters
    ----------
    sensor : SensorId
    settings : CutSettings
    first_boundary_tick : int, optional
        Windows starting before this tick are not produced (resume cursor).
    """

    def __init__(self, sensor: SensorId, settings: CutSettings, *, first_boundary_tick: int | None = None):
        self.sensor = sensor
        self.settings = settings
        self._first_k = None if first_boundary_tick is None else -(-first_boundary_tick // settings.interval_ticks)
        self._open: dict[int, _OpenWindow] = {}

    def feed(self, piece: Piece) -> list[Snippet | SkippedWindow]:
        """Add a piece (after the previous one); return the windows it completes, in order."""
        interval, window = self.settings.interval_ticks, self.settings.window_ticks
        t0, t1 = piece.start_tick, piece.end_tick
        k_lo = (t0 - window) // interval + 1
        k_hi = -(-t1 // interval) - 1
        if self._first_k is not None:
            k_lo = max(k_lo, self._first_k)
        for k in range(k_lo, k_hi + 1):
            start = k * interval
            first = max(0, -(-(start - t0) // TICKS_PER_SAMPLE))
            stop = min(len(piece.samples), -(-(start + window - t0) // TICKS_PER_SAMPLE))
            if first >= stop:
                continue
            if k not in self._open:
                self._open[k] = _OpenWindow(start, self.settings.n_samples)
            self._open[k].add(t0 + first * TICKS_PER_SAMPLE, piece.samples[first:stop], piece.window_size, piece.source)
        return self.advance(t1)

    def advance(self, tick: int) -> list[Snippet | SkippedWindow]:
        """Time has reached ``tick``: finish every window that ends at or before it."""
        window = self.settings.window_ticks
        done = sorted(k for k, w in self._open.items() if w.boundary_tick + window <= tick)
        return [self._finish(k) for k in done]

    def flush(self) -> list[Snippet | SkippedWindow]:
        """No more data will come: finish every open window."""
        return [self._finish(k) for k in sorted(self._open)]

    def _finish(self, k: int) -> Snippet | SkippedWindow:
        w = self._open.pop(k)
        n_expected = self.settings.n_samples
        coverage = w.n_samples / n_expected
        if coverage < self.settings.min_coverage:
            return SkippedWindow(
                self.sensor, w.boundary_tick, n_expected, w.n_samples,
                f"coverage {coverage:.4f} is below the minimum {self.settings.min_coverage}",
            )
        return Snippet(
            sensor=self.sensor,
            boundary_tick=w.boundary_tick,
            n_expected=n_expected,
            runs=tuple(w.runs),
            samples=w.buffer[: w.n_samples],
            window_size=w.window_size,
            sources=tuple(w.sources),
        )
