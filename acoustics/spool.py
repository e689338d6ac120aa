"""A spool directory where the DAQ drops ADF files, some still growing.

:meth:`SpoolDirectory.poll` returns the frames that arrived since the last
poll, per file, in time order per sensor. Whole frames are read as soon as
they are there. A partial last frame is left for later while the file may
still grow; it is reported as truncated (the complete frames are kept) once
a newer file of the same sensor exists or the file has not changed for
``settle_s`` seconds. A file is done only when a newer file of its sensor
exists: the newest file of a sensor is watched even after a pause of the
writer, so frames appended after a long silence are not lost.

Files that end before a sensor's resume cursor are skipped without
decoding (only the last frame header is read). A file whose frame headers
show that ``frame_length`` is wrong for it (see
:func:`hydroserve.codecs.raw_frame_length.infer_frame_length`) is refused as a whole: the
problem is reported once, naming the likely right length, and none of its
bytes, present or appended later, becomes samples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hydroserve.codecs import raw, raw_decoder, raw_frame_length
from hydroserve.codecs.raw import RawFileName, RawFormatError, RawFrames, SensorId

log = logging.getLogger(__name__)


@dataclass
class _FileState:
    name: RawFileName
    consumed: int = 0
    size: int = -1
    changed_at: float = 0.0
    finished: bool = False
    truncated: bool = False
    refused: bool = False
    last_start_tick: int | None = None


@dataclass
class PollResult:
    """What one poll found: frames per file (time order per sensor) and bad-file problems."""

    frames: list[RawFrames] = field(default_factory=list)
    issues: list[RawFormatError] = field(default_factory=list)


class SpoolDirectory:
    """Follows the ADF files in a directory.

    Parameters
    ----------
    directory : path
    frame_length : int
        Samples per ADF frame.
    settle_s : float
        A file unchanged for this long is finished.
    resume_from : callable, optional
        ``resume_from(sensor) -> tick or None``: files ending at or before
        this tick are skipped unread.
    clock : callable
        Seconds, for settling (tests pass a fake clock).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        frame_length: int,
        settle_s: float = 30.0,
        resume_from: Callable[[SensorId], int | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.directory = Path(directory)
        self.frame_length = frame_length
        self.frame_bytes = raw.frame_bytes(frame_length)
        self.settle_s = settle_s
        self.resume_from = resume_from
        self.clock = clock
        self._files: dict[Path, _FileState] = {}
        self._rejected: set[Path] = set()
        self._issues: list[RawFormatError] = []

    def scan(self) -> set[SensorId]:
        """Look for new files; return every sensor that has a file here. Badly named files are reported by the next
        :meth:`poll`."""
        now = self.clock()
        for path in sorted(self.directory.glob("*.bin")):
            if path in self._files or path in self._rejected:
                continue
            try:
                self._files[path] = _FileState(RawFileName.parse(path), changed_at=now)
            except RawFormatError as error:
                self._rejected.add(path)
                self._issues.append(error)
        return {state.name.sensor for state in self._files.values()}

    def forget(self, sensor: SensorId) -> None:
        """Drop what was read of ``sensor``'s files: if it is polled again, its files are read afresh from its resume
        cursor (a sensor handed over between ingest workers)."""
        for path in [path for path, state in self._files.items() if state.name.sensor == sensor]:
            del self._files[path]

    def poll(self, sensors: Collection[SensorId] | None = None) -> PollResult:
        """The frames that arrived since the last poll, of every sensor or only of ``sensors``."""
        self.scan()
        result = PollResult(issues=self._issues)
        self._issues = []
        now = self.clock()
        newest = {}
        for state in self._files.values():
            sensor = state.name.sensor
            newest[sensor] = max(newest.get(sensor, state.name.unix_time_s), state.name.unix_time_s)
        ordered = sorted(self._files.items(), key=lambda item: (item[1].name.sensor, item[1].name.unix_time_s, item[0].name))
        for path, state in ordered:
            if state.finished or (sensors is not None and state.name.sensor not in sensors):
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                log.warning("%s: disappeared from the spool directory", path)
                state.finished = True
                continue
            if size != state.size:
                state.size, state.changed_at = size, now
            has_newer = newest[state.name.sensor] > state.name.unix_time_s
            settled = has_newer or now - state.changed_at >= self.settle_s
            if state.consumed == 0 and self._before_cursor(path, state, size):
                state.consumed = size - size % self.frame_bytes
            if state.refused:  # wrong frame length, reported once: none of the file is used, however it grows
                state.consumed = size
            elif state.truncated and size > state.consumed:
                result.issues.append(RawFormatError(
                    str(path), state.consumed, "file grew after its truncated last frame was reported; the new bytes are ignored"
                ))
                state.consumed = size
            elif size > state.consumed:
                frames = self._read(path, state, size, complete=settled)
                if frames is not None:
                    result.frames.append(frames)
            state.finished = has_newer and state.consumed >= size
        return result

    def _before_cursor(self, path: Path, state: _FileState, size: int) -> bool:
        cursor = None if self.resume_from is None else self.resume_from(state.name.sensor)
        n_frames = size // self.frame_bytes
        if cursor is None or n_frames == 0:
            return False
        with open(path, "rb") as file:
            file.seek((n_frames - 1) * self.frame_bytes)
            seconds, cycles = np.frombuffer(file.read(8), dtype="<u4")
        last_end = int(seconds) * raw.TICKS_PER_SECOND + int(cycles) + self.frame_length * raw.TICKS_PER_SAMPLE
        return last_end <= cursor

    def _read(self, path: Path, state: _FileState, size: int, *, complete: bool) -> RawFrames | None:
        length = size - state.consumed
        if not complete:
            length -= length % self.frame_bytes
            if length == 0:
                return None
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=state.consumed, shape=(length,))
        frames = raw_decoder.decode(
            data,
            frame_length=self.frame_length,
            source=str(path),
            complete=complete,
            previous_start_tick=state.last_start_tick,
            base_offset=state.consumed,
        )
        state.consumed += length if complete else frames.consumed_bytes
        state.truncated = complete and length % self.frame_bytes != 0
        state.refused = any(isinstance(issue, raw_frame_length.FrameLengthError) for issue in frames.issues)
        if len(frames):
            state.last_start_tick = int(frames.start_ticks[-1])
        return frames
