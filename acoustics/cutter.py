"""Fixed-interval, sample-exact cutting of a sensor's timeline into snippets.

Snippet ``k`` of a sensor covers the half-open time window
``[B_k, B_k + D)`` ticks, where

* ``B_k = k * interval`` is a multiple of the interval since the Unix epoch
  (UTC), and
* ``D = duration_s * 62 500 000`` is the duration in 16 ns ticks (a whole
  number of ticks).

A snippet holds exactly the samples whose times lie in its window. The
samples lie on a grid of period 320 ticks, so a window of ``D`` ticks holds
``n_expected = ceil((B_k + D - p) / 320) - ceil((B_k - p) / 320)`` sample
instants of a grid with phase ``p``: for a whole number of seconds that is
``duration_s * 195312.5`` rounded up or down (195312 or 195313 samples per
odd second), depending on the grid's phase. With ``duration == interval``
the windows partition the time axis, so every sample is in exactly one
snippet and consecutive snippets join bit for bit; with ``duration >
interval`` snippets overlap; with ``duration < interval`` the time between
them is not kept. Frames straddling a boundary are split.

Missing time inside a window is a gap. Gaps are never filled: a snippet
holds its present samples back to back (``samples``) plus the list of
contiguous runs with their exact start times, from which the gaps follow.
A window is final once the timeline has passed its end (or on
:meth:`SnippetCutter.flush`); it becomes a :class:`Snippet` if its coverage
(present / expected samples) reaches the minimum, else a
:class:`SkippedWindow` with the reason.

Pieces continuing a run within the timing tolerance (see
:class:`~.stream.SensorTimeline`) carry their time-stamp deviation; each
window summarises the deviations of the frames starting in it
(:class:`TimestampDeviation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from hydroserve.codecs.raw import NS_PER_TICK, TICKS_PER_SAMPLE, TICKS_PER_SECOND, SensorId

from .stream import DEFAULT_TOLERANCE_TICKS, Piece
from .window import Run, Window, package_id


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
    timing_tolerance_ticks : int
        Frames starting within this many 16 ns ticks of the exact
        continuation of the previous frame continue its run (see
        :class:`~.stream.SensorTimeline`); below 160 (half a sample).
    """

    duration_s: Fraction
    interval_s: int
    min_coverage: float = 0.9
    timing_tolerance_ticks: int = DEFAULT_TOLERANCE_TICKS

    def __post_init__(self):
        if self.duration_s <= 0:
            raise ValueError(f"duration_s={self.duration_s} must be positive")
        if (Fraction(self.duration_s) * TICKS_PER_SECOND).denominator != 1:
            raise ValueError(f"duration_s={self.duration_s} must be a whole number of 16 ns ticks")
        if self.window_ticks < TICKS_PER_SAMPLE:
            raise ValueError(f"duration_s={self.duration_s} is shorter than one sample period (5.12 us)")
        if not isinstance(self.interval_s, int) or self.interval_s < 1:
            raise ValueError(f"interval_s={self.interval_s!r} must be a whole number of seconds >= 1")
        if not 0 < self.min_coverage <= 1:
            raise ValueError(f"min_coverage={self.min_coverage} must be in (0, 1]")
        if not 0 <= self.timing_tolerance_ticks < TICKS_PER_SAMPLE // 2:
            raise ValueError(f"timing_tolerance_ticks={self.timing_tolerance_ticks} must be in [0, {TICKS_PER_SAMPLE // 2})")

    @property
    def window_ticks(self) -> int:
        """``D``, the window length in 16 ns ticks."""
        return int(Fraction(self.duration_s) * TICKS_PER_SECOND)

    @property
    def max_samples(self) -> int:
        """The most samples a window can hold: ``ceil(D / 320)``."""
        return -(-self.window_ticks // TICKS_PER_SAMPLE)

    @property
    def interval_ticks(self) -> int:
        return self.interval_s * TICKS_PER_SECOND


def samples_in_window(start_tick: int, end_tick: int, grid_tick: int) -> int:
    """Sample instants ``grid_tick + 320 i`` (any integer i) in ``[start_tick, end_tick)``."""
    return -(-(end_tick - grid_tick) // TICKS_PER_SAMPLE) - -(-(start_tick - grid_tick) // TICKS_PER_SAMPLE)


DEVIATION_BUCKETS_TICKS = (0, 1, 2, 4, 8, 16, 32, 64, 128)
"""Upper bounds (inclusive) of the histogram of absolute time-stamp deviations; the last bucket is open."""


@dataclass(frozen=True)
class TimestampDeviation:
    """Time-stamp deviations of the frames that continued a run inside one window.

    Attributes
    ----------
    n_frames : int
        Frames (pieces) that continued a run, their junction inside the window.
    n_deviated : int
        Of those, frames whose time stamp was not the exact continuation.
    max_abs_ticks : int
        Largest absolute deviation, 16 ns ticks.
    sum_abs_ticks : int
        Sum of absolute deviations, ticks.
    sum_squares_ticks2 : int
        Sum of squared deviations, ticks squared (exact).
    histogram : tuple of int
        Counts of absolute deviations per bucket of :data:`DEVIATION_BUCKETS_TICKS`
        (``<= bound``, not cumulative), plus one open bucket above the last bound.
    """

    n_frames: int = 0
    n_deviated: int = 0
    max_abs_ticks: int = 0
    sum_abs_ticks: int = 0
    sum_squares_ticks2: int = 0
    histogram: tuple[int, ...] = (0,) * (len(DEVIATION_BUCKETS_TICKS) + 1)

    @property
    def max_abs_ns(self) -> int:
        return self.max_abs_ticks * NS_PER_TICK

    @property
    def rms_ns(self) -> float:
        """Root mean square deviation over the continuing frames, ns (0 if none)."""
        return NS_PER_TICK * (self.sum_squares_ticks2 / self.n_frames) ** 0.5 if self.n_frames else 0.0

    def add(self, deviation_ticks: int) -> TimestampDeviation:
        """These statistics with one more continuing frame."""
        size = abs(deviation_ticks)
        bucket = next((i for i, bound in enumerate(DEVIATION_BUCKETS_TICKS) if size <= bound), len(DEVIATION_BUCKETS_TICKS))
        histogram = list(self.histogram)
        histogram[bucket] += 1
        return TimestampDeviation(
            self.n_frames + 1, self.n_deviated + (size != 0), max(self.max_abs_ticks, size),
            self.sum_abs_ticks + size, self.sum_squares_ticks2 + size * size, tuple(histogram),
        )

    def as_json(self) -> dict:
        return {
            "n_frames_continuing": self.n_frames,
            "n_frames_deviated": self.n_deviated,
            "max_abs_ns": self.max_abs_ns,
            "rms_ns": self.rms_ns,
            "sum_abs_ns": self.sum_abs_ticks * NS_PER_TICK,
            "histogram_abs_ns": {"le": [b * NS_PER_TICK for b in DEVIATION_BUCKETS_TICKS] + ["+Inf"], "counts": list(self.histogram)},
        }


@dataclass(frozen=True)
class Snippet(Window):
    """A cut window (see :class:`~.window.Window`) with its samples.

    Attributes
    ----------
    samples : numpy.ndarray
        float32, all present samples back to back (``sum(run.n_samples)``).
    window_size : int
        ADF window size of the source frames.
    sources : tuple of str
        The inputs the samples came from.
    timestamp_deviation : TimestampDeviation
        Time-stamp deviations of the frames continuing a run in the window.
    """

    samples: np.ndarray = field(repr=False)
    window_size: int
    sources: tuple[str, ...]
    timestamp_deviation: TimestampDeviation = TimestampDeviation()

    def __post_init__(self):
        if len(self.samples) != self.n_samples:
            raise ValueError(f"{len(self.samples)} samples do not match runs holding {self.n_samples}")

    def skipped(self, reason: str) -> SkippedWindow:
        """This window as not kept, for ``reason``."""
        return SkippedWindow(self.sensor, self.boundary_tick, self.n_expected, self.n_samples, reason)


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


class _OpenWindow:
    """Samples gathered so far for one window."""

    def __init__(self, boundary_tick: int, max_samples: int):
        self.boundary_tick = boundary_tick
        self.buffer = np.empty(max_samples, dtype=np.float32)
        self.n_samples = 0
        self.runs: list[Run] = []
        self.window_size: int | None = None
        self.sources: dict[str, None] = {}
        self.deviation = TimestampDeviation()

    def add(self, start_tick: int, samples: np.ndarray, window_size: int, source: str, deviation_ticks: int | None) -> None:
        """Append samples starting at ``start_tick``; ``deviation_ticks`` if they continue a run at its junction."""
        if deviation_ticks is not None:
            self.deviation = self.deviation.add(deviation_ticks)
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
                self._open[k] = _OpenWindow(start, self.settings.max_samples)
            junction = piece.deviation_ticks if first == 0 else None  # the frame's junction lies in this window
            self._open[k].add(t0 + first * TICKS_PER_SAMPLE, piece.samples[first:stop], piece.window_size, piece.source, junction)
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
        window_end = w.boundary_tick + self.settings.window_ticks
        n_expected = samples_in_window(w.boundary_tick, window_end, w.runs[0].start_tick)
        coverage = w.n_samples / n_expected
        if coverage < self.settings.min_coverage:
            return SkippedWindow(
                self.sensor, w.boundary_tick, n_expected, w.n_samples,
                f"coverage {coverage:.4f} is below the minimum {self.settings.min_coverage}",
            )
        return Snippet(
            sensor=self.sensor,
            boundary_tick=w.boundary_tick,
            window_end_tick=window_end,
            n_expected=n_expected,
            runs=tuple(w.runs),
            samples=w.buffer[: w.n_samples],
            window_size=w.window_size,
            sources=tuple(w.sources),
            timestamp_deviation=w.deviation,
        )
