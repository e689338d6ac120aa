"""Per-sensor continuous timeline: pieces of samples in, time-ordered non-overlapping pieces out.

A :class:`Piece` is a run of contiguous samples of one sensor with an exact
start time in 16 ns ticks (see :mod:`hydroserve.codecs.raw`). Sources (spool
directory, synthetic generator, a future live socket) produce pieces; the
:class:`SensorTimeline` makes them a clean timeline before the cutter sees
them:

* a piece starting within ``tolerance_ticks`` of the end of the previous one
  (timestamp jitter of the DAQ: its time stamps are quantised and can
  wander by a few 16 ns ticks) continues the run: it is placed on the run's
  sample grid, exactly at the previous piece's end, and its measured
  deviation is kept with it (``deviation_ticks``). No sample is dropped or
  doubled;
* a piece starting later leaves a gap (kept for the record; the cutter sees
  it as missing time, never as zeros);
* a piece overlapping the end of the previous one by more than the tolerance
  is trimmed to its new samples, with a warning (an exact repetition is a
  "duplicate");
* a piece starting before the start of the previous one is out of order and
  rejected with :class:`StreamOrderError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from hydroserve.codecs.raw import TICKS_PER_SAMPLE, TICKS_PER_SECOND, RawFrames, SensorId, format_tick

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    """Contiguous samples of one sensor.

    Attributes
    ----------
    start_tick : int
        Time of ``samples[0]`` in 16 ns ticks since the Unix epoch.
    samples : numpy.ndarray
        float32 samples, one every ``TICKS_PER_SAMPLE`` ticks.
    window_size : int
        ADF window size recorded with the samples.
    source : str
        Where the samples come from (a file name), for messages and provenance.
    offset : int or None
        Byte offset of the samples' frame in ``source``, if it is a file.
    deviation_ticks : int or None
        For a piece that continues a run: its time stamp minus the exact
        continuation of the run (16 ns ticks, signed; ``start_tick`` is then
        the exact continuation). None for a piece that starts a run.
    """

    start_tick: int
    samples: np.ndarray
    window_size: int
    source: str
    offset: int | None = None
    deviation_ticks: int | None = None

    @property
    def origin(self) -> str:
        return self.source if self.offset is None else f"{self.source} at byte {self.offset}"

    @property
    def end_tick(self) -> int:
        """Tick just after the last sample's period: ``start_tick + 320 * len(samples)``."""
        return self.start_tick + TICKS_PER_SAMPLE * len(self.samples)

    def from_tick(self, tick: int) -> Piece | None:
        """The samples at or after ``tick``; None if there are none."""
        skip = max(0, -(-(tick - self.start_tick) // TICKS_PER_SAMPLE))
        if skip == 0:
            return self
        if skip >= len(self.samples):
            return None
        return Piece(self.start_tick + skip * TICKS_PER_SAMPLE, self.samples[skip:], self.window_size, self.source, self.offset)


def pieces_from_frames(frames: RawFrames) -> list[Piece]:
    """One :class:`Piece` per decoded ADF frame (views, no copies)."""
    starts = frames.start_ticks
    return [
        Piece(
            int(starts[i]),
            frames.samples[i, : frames.valid_lengths[i]],
            int(frames.records["window_size"][i]),
            frames.source,
            int(frames.offsets[i]),
        )
        for i in range(len(frames))
    ]


class StreamOrderError(ValueError):
    """A piece that starts before the previous piece of the same sensor."""


DEFAULT_TOLERANCE_TICKS = 159
"""Default timing tolerance: the largest whole number of ticks below half a sample period (160 ticks)."""


class SensorTimeline:
    """Makes one sensor's pieces time-ordered and non-overlapping.

    Parameters
    ----------
    sensor : SensorId
        The sensor, for messages.
    not_before_tick : int, optional
        Samples before this tick are dropped silently (already archived:
        used when resuming).
    tolerance_ticks : int
        A piece whose time stamp is within this many 16 ns ticks of the
        previous piece's end continues the run. Must be below half a sample
        period (160 ticks), so that the sample grid a piece belongs to is
        unambiguous.
    """

    def __init__(self, sensor: SensorId, *, not_before_tick: int | None = None, tolerance_ticks: int = DEFAULT_TOLERANCE_TICKS):
        if not 0 <= tolerance_ticks < TICKS_PER_SAMPLE // 2:
            raise ValueError(f"{tolerance_ticks=} must be in [0, {TICKS_PER_SAMPLE // 2}) ticks (below half a sample)")
        self.sensor = sensor
        self.not_before_tick = not_before_tick
        self.tolerance_ticks = tolerance_ticks
        self._last: Piece | None = None

    def accept(self, piece: Piece) -> Piece | None:
        """Return the part of ``piece`` that extends the timeline, or None.

        A piece continuing the run within the tolerance is returned re-timed
        to the run's grid, with ``deviation_ticks`` set.

        Raises
        ------
        StreamOrderError
            If ``piece`` starts before the previously accepted piece.
        """
        if self.not_before_tick is not None:
            piece = piece.from_tick(self.not_before_tick)
            if piece is None:
                return None
        last = self._last
        if last is None:
            self._last = piece
            return piece
        deviation = piece.start_tick - last.end_tick
        if abs(deviation) <= self.tolerance_ticks:
            piece = replace(piece, start_tick=last.end_tick, deviation_ticks=deviation)
            self._last = piece
            return piece
        if piece.start_tick < last.start_tick:
            raise StreamOrderError(
                f"{self.sensor}: {piece.origin}: out-of-order data: starts at {format_tick(piece.start_tick)}, "
                f"before the previous data's start {format_tick(last.start_tick)} ({last.origin})"
            )
        if piece.start_tick < last.end_tick:
            if (
                piece.start_tick == last.start_tick
                and len(piece.samples) == len(last.samples)
                and np.array_equal(piece.samples, last.samples)
            ):
                log.warning("%s: %s: duplicate of %s dropped", self.sensor, piece.origin, last.origin)
                return None
            new_part = piece.from_tick(last.end_tick)
            overlap_samples = len(piece.samples) - (0 if new_part is None else len(new_part.samples))
            log.warning(
                "%s: %s: overlaps the previous data (%s) by %d samples; the overlapping samples are dropped",
                self.sensor, piece.origin, last.origin, overlap_samples,
            )
            if new_part is None:
                return None
            piece = new_part
        elif piece.start_tick > last.end_tick:
            log.info(
                "%s: gap of %.6f s from %s to %s before %s", self.sensor,
                (piece.start_tick - last.end_tick) / TICKS_PER_SECOND,
                format_tick(last.end_tick), format_tick(piece.start_tick), piece.origin,
            )
        self._last = piece
        return piece
