"""What a data package covers: its time window, the sample instants expected in it, and the runs present.

A window is ``[boundary_tick, window_end_tick)`` in 16 ns ticks. Its samples
come in contiguous runs (no sample missing inside a run); the time not covered
by a run is a gap. Gaps are never filled: the runs' samples are kept back to
back, and a gap says where the data resumes (``at_sample``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hydroserve.codecs.raw import NS_PER_TICK, TICKS_PER_SAMPLE, TICKS_PER_SECOND, SensorId
from hydroserve.codecs.times import tick_rfc3339


@dataclass(frozen=True)
class Run:
    """A contiguous run of samples inside a window: its first sample's time and index, its length."""

    start_tick: int
    first_sample: int
    n_samples: int

    @property
    def end_tick(self) -> int:
        """End of the last sample's period."""
        return self.start_tick + self.n_samples * TICKS_PER_SAMPLE


@dataclass(frozen=True)
class Gap:
    """Missing time ``[start_tick, end_tick)`` inside a window; ``at_sample`` is
    the index in the window's samples where the data resumes."""

    start_tick: int
    end_tick: int
    at_sample: int

    @property
    def duration_s(self) -> float:
        return (self.end_tick - self.start_tick) / TICKS_PER_SECOND

    def as_json(self) -> dict:
        """The gap as the API, the CLI and /info give it: RFC 3339 (microseconds) and exact Unix nanoseconds."""
        return {
            "start": tick_rfc3339(self.start_tick),
            "end": tick_rfc3339(self.end_tick),
            "start_unix_ns": self.start_tick * NS_PER_TICK,
            "end_unix_ns": self.end_tick * NS_PER_TICK,
            "duration_s": self.duration_s,
            "at_sample": self.at_sample,
        }


def package_id(sensor: SensorId, boundary_tick: int) -> str:
    """``<sensor>_<unix start>``, e.g. ``DOM_808956920_CH1_1608751680``."""
    return f"{sensor}_{boundary_tick // TICKS_PER_SECOND}"


@dataclass(frozen=True)
class Window:
    """A sensor's package window and the runs of samples present in it.

    Attributes
    ----------
    sensor : SensorId
    boundary_tick : int
        Window start ``B_k``.
    window_end_tick : int
        Window end ``B_k + D`` (excluded).
    n_expected : int
        Sample instants in the window on the grid of the first run.
    runs : tuple of Run
        Contiguous runs, in time order (at least one).
    """

    sensor: SensorId
    boundary_tick: int
    window_end_tick: int
    n_expected: int
    runs: tuple[Run, ...]

    @property
    def package_id(self) -> str:
        return package_id(self.sensor, self.boundary_tick)

    @property
    def n_samples(self) -> int:
        """Samples present (the runs' total)."""
        return sum(run.n_samples for run in self.runs)

    @property
    def coverage(self) -> float:
        """Present / expected samples."""
        return self.n_samples / self.n_expected

    @property
    def duration_s(self) -> float:
        """Length of the window in seconds."""
        return (self.window_end_tick - self.boundary_tick) / TICKS_PER_SECOND

    @property
    def start_tick(self) -> int:
        """Time of the first sample."""
        return self.runs[0].start_tick

    @property
    def end_tick(self) -> int:
        """End of the last sample's period."""
        return self.runs[-1].end_tick

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """Missing time inside the window.

        A gap is reported before the first run if a sample instant of its grid
        lies in the window before it (``start - B >= 320`` ticks), between runs
        whenever a run does not start at the previous run's end (any positive
        difference: runs split only where the time stamps left the tolerance),
        and after the last run if its next sample instant lies in the window.
        """
        gaps = []
        cursor = self.boundary_tick
        for index, run in enumerate(self.runs):
            if run.start_tick - cursor >= (TICKS_PER_SAMPLE if index == 0 else 1):
                gaps.append(Gap(cursor, run.start_tick, run.first_sample))
            cursor = run.end_tick
        if self.window_end_tick > cursor:
            gaps.append(Gap(cursor, self.window_end_tick, self.n_samples))
        return tuple(gaps)
