"""A live synthetic DAQ: writes ADF files into a spool directory in real time (for the demo).

Each sensor's frames follow each other without gaps; a frame is appended to
the sensor's current file as soon as its last sample lies in the past, and a
new file is started every ``frames_per_file`` frames, as the DAQ does. On
start, the last ``backfill_s`` seconds are written at once (continuing an
earlier run's files when they are recent), so data is there immediately.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from hydroserve.codecs import raw
from hydroserve.codecs.raw import DEFAULT_FRAME_LENGTH, DEFAULT_WINDOW_SIZE, TICKS_PER_SAMPLE, TICKS_PER_SECOND

from .synthetic import SyntheticSensor, frames

log = logging.getLogger(__name__)


class LiveSpoolWriter:
    """Writes the synthetic signal of several sensors into ``directory`` as time passes.

    Parameters
    ----------
    directory : path
        The spool directory.
    sources : list of SyntheticSensor
    backfill_s : float
        Seconds of past data written at start.
    frames_per_file : int
        Frames per ADF file before a new file is started.
    clock : callable
        Unix time in seconds.
    """

    def __init__(self, directory, sources: list[SyntheticSensor], *, backfill_s: float = 60.0, frames_per_file: int = 96,
                 frame_length: int = DEFAULT_FRAME_LENGTH, clock=time.time):
        self.directory = Path(directory)
        self.sources = sources
        self.frame_length = frame_length
        self.frame_ticks = frame_length * TICKS_PER_SAMPLE
        self.frames_per_file = frames_per_file
        self.clock = clock
        self.directory.mkdir(parents=True, exist_ok=True)
        now_tick = int(clock() * TICKS_PER_SECOND)
        self._next_tick = {s.sensor: self._resume_tick(s, now_tick - int(backfill_s * TICKS_PER_SECOND)) for s in sources}
        self._file: dict = {s.sensor: None for s in sources}
        self._frames_in_file = {s.sensor: 0 for s in sources}

    def _resume_tick(self, source: SyntheticSensor, earliest_tick: int) -> int:
        """Continue after the sensor's newest file if it ends after ``earliest_tick``."""
        frame_bytes = raw.frame_bytes(self.frame_length)
        candidates = sorted(self.directory.glob(f"{source.sensor}_*.bin"))
        if candidates:
            newest = candidates[-1]
            n_frames = newest.stat().st_size // frame_bytes
            if n_frames:
                with open(newest, "rb") as file:
                    file.seek((n_frames - 1) * frame_bytes)
                    seconds, cycles = np.frombuffer(file.read(8), dtype="<u4")
                end = int(seconds) * TICKS_PER_SECOND + int(cycles) + self.frame_ticks
                if end > earliest_tick:
                    return end
        return earliest_tick - earliest_tick % TICKS_PER_SAMPLE

    def write_due(self) -> int:
        """Append every frame whose end is in the past; return how many were written."""
        now_tick = int(self.clock() * TICKS_PER_SECOND)
        written = 0
        for source in self.sources:
            sensor = source.sensor
            while self._next_tick[sensor] + self.frame_ticks <= now_tick:
                tick = self._next_tick[sensor]
                if self._file[sensor] is None or self._frames_in_file[sensor] >= self.frames_per_file:
                    name = raw.RawFileName(sensor, tick // TICKS_PER_SECOND)
                    self._file[sensor] = self.directory / str(name)
                    self._frames_in_file[sensor] = 0
                data = raw.encode([tick], frames(source, [tick], self.frame_length), window_size=DEFAULT_WINDOW_SIZE)
                with open(self._file[sensor], "ab") as file:
                    file.write(data)
                self._frames_in_file[sensor] += 1
                self._next_tick[sensor] = tick + self.frame_ticks
                written += 1
        return written

    def run(self, stop: threading.Event, period_s: float = 0.25) -> None:
        """Write frames as they become due until ``stop`` is set."""
        while not stop.is_set():
            self.write_due()
            stop.wait(period_s)
