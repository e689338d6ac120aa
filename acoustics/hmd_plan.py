"""Which samples and Welch segments of a package belong to which UTC minute.

A package's samples come in contiguous runs (:class:`~.window.Run`); sample
``i`` of a run lies at ``start_tick + 320 i`` (16 ns ticks). Minute ``M``
(Unix minutes) holds the samples whose times lie in ``[60 M, 60 M + 60)`` s:
11,718,750 sample instants at 195312.5 Hz. Within each run's part of a
minute, Welch segments of ``N`` samples start at the part's first sample and
every ``N // 2`` samples after it (50 % overlap); a segment never spans a gap
or a minute boundary, and the samples after the last whole segment are left
out of the spectrum (as ``scipy.signal.welch`` does) but counted in the effort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hydroserve.codecs.raw import NS_PER_TICK, TICKS_PER_SAMPLE, TICKS_PER_SECOND

from .window import Run

TICKS_PER_MINUTE = 60 * TICKS_PER_SECOND


@dataclass(frozen=True)
class MinutePiece:
    """The samples ``[first, first + n_samples)`` of run number ``run`` that lie in one minute."""

    minute: int
    run: int
    first: int
    n_samples: int


@dataclass(frozen=True)
class MinutePlan:
    """The minutes a package touches and its segments in each.

    Attributes
    ----------
    minutes : numpy.ndarray
        Unix minute numbers, ascending (int64).
    pieces : tuple of MinutePiece
        Every run's part of every minute, in sample order.
    segments : tuple of numpy.ndarray
        Per minute, its segments as rows ``(run number, first sample in that run)`` (int64, shape (n, 2)).
    segment_samples : int
    """

    minutes: np.ndarray
    pieces: tuple[MinutePiece, ...]
    segments: tuple[np.ndarray, ...]
    segment_samples: int

    @property
    def minute_start_unix_ns(self) -> np.ndarray:
        return self.minutes * (TICKS_PER_MINUTE * NS_PER_TICK)

    @property
    def n_segments(self) -> np.ndarray:
        return np.array([len(rows) for rows in self.segments], dtype=np.int32)

    def samples_per_minute(self) -> np.ndarray:
        counts = np.zeros(len(self.minutes), dtype=np.int64)
        for piece in self.pieces:
            counts[np.searchsorted(self.minutes, piece.minute)] += piece.n_samples
        return counts


def plan(runs: tuple[Run, ...], segment_samples: int) -> MinutePlan:
    """Cut a package's runs (in time order) at UTC minute boundaries and place Welch segments of ``segment_samples`` in each part.

    Raises
    ------
    ValueError
        When ``segment_samples`` is not even and at least 2, or there are no runs.
    """
    if segment_samples < 2 or segment_samples % 2:
        raise ValueError(f"{segment_samples=} must be even and at least 2")
    if not runs:
        raise ValueError("a package has at least one run")
    hop = segment_samples // 2
    pieces = []
    for number, run in enumerate(runs):
        index = 0
        while index < run.n_samples:
            tick = run.start_tick + index * TICKS_PER_SAMPLE
            minute = tick // TICKS_PER_MINUTE
            next_minute_tick = (minute + 1) * TICKS_PER_MINUTE
            stop = min(run.n_samples, -(-(next_minute_tick - run.start_tick) // TICKS_PER_SAMPLE))
            pieces.append(MinutePiece(int(minute), number, index, stop - index))
            index = stop
    minutes = np.array(sorted({p.minute for p in pieces}), dtype=np.int64)
    segments: list[list[np.ndarray]] = [[] for _ in minutes]
    for piece in pieces:
        count = 0 if piece.n_samples < segment_samples else (piece.n_samples - segment_samples) // hop + 1
        starts = piece.first + hop * np.arange(count, dtype=np.int64)
        segments[int(np.searchsorted(minutes, piece.minute))].append(np.column_stack([np.full(count, piece.run), starts]))
    return MinutePlan(minutes, tuple(pieces), tuple(np.concatenate(rows) for rows in segments), segment_samples)
