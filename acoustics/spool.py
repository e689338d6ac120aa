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

Once every frame of a file is *final* (the file is done and its sensor's
resume cursor, committed in the catalog, is at or past the end of its last
frame: every window holding its samples is archived or skipped), the file
is deleted, moved away or kept, as :class:`SpoolDone` says. Never before: a
crash (even ``kill -9``) before the cursor commits leaves the file where it
was, and after a restart it is skipped unread and then disposed of. Refused
files and files without a whole frame are always kept, for the operator.
"""

from __future__ import annotations

import logging
import shutil
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


@dataclass(frozen=True)
class SpoolDone:
    """What happens to a spool file whose frames are all final: ``keep`` it, ``delete`` it, or ``move`` it into
    ``directory`` (created if missing)."""

    action: str = "keep"
    directory: Path | None = None

    @classmethod
    def parse(cls, text: str) -> SpoolDone:
        """From the configuration's form: ``keep``, ``delete`` or ``move:<dir>``.

        Raises
        ------
        ValueError
            Naming ``spool_done`` and the forms it takes.
        """
        if text in ("keep", "delete"):
            return cls(text)
        if text.startswith("move:") and text[5:].strip():
            return cls("move", Path(text[5:].strip()).expanduser())
        raise ValueError(f"spool_done={text!r} must be keep, delete or move:<dir>")

    def apply(self, path: Path) -> None:
        if self.action == "delete":
            path.unlink(missing_ok=True)
        elif self.action == "move":
            self.directory.mkdir(parents=True, exist_ok=True)
            shutil.move(path, self.directory / path.name)


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
    done : SpoolDone
        What happens to a file once all its frames are final (needs ``resume_from``).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        frame_length: int,
        settle_s: float = 30.0,
        resume_from: Callable[[SensorId], int | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        done: SpoolDone = SpoolDone(),
    ):
        self.directory = Path(directory)
        self.frame_length = frame_length
        self.frame_bytes = raw.frame_bytes(frame_length)
        self.settle_s = settle_s
        self.resume_from = resume_from
        self.clock = clock
        self.done = done
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
        if self.done.action != "keep":
            self._dispose_final()
        return result

    def _dispose_final(self) -> None:
        """Apply :attr:`done` to every finished file whose last frame ends at or before its sensor's cursor."""
        for path, state in list(self._files.items()):
            if not state.finished or state.refused or self.resume_from is None:
                continue
            cursor = self.resume_from(state.name.sensor)
            try:
                last_end = self._last_end_tick(path, state.size)
                if cursor is None or last_end is None or last_end > cursor:  # no whole frame: kept, like refused files
                    continue
                self.done.apply(path)
            except FileNotFoundError:  # gone already (reported when it disappeared)
                del self._files[path]
                continue
            except OSError as error:
                log.error("%s: could not %s the finished spool file (%s); trying again at the next poll", path,
                          self.done.action, error)
                continue
            log.info("%s: every frame is archived or skipped: %sd", path, self.done.action)
            del self._files[path]

    def _last_end_tick(self, path: Path, size: int) -> int | None:
        """End of the file's last whole frame in ticks (None: no whole frame)."""
        n_frames = size // self.frame_bytes
        if n_frames == 0:
            return None
        with open(path, "rb") as file:
            file.seek((n_frames - 1) * self.frame_bytes)
            seconds, cycles = np.frombuffer(file.read(8), dtype="<u4")
        return int(seconds) * raw.TICKS_PER_SECOND + int(cycles) + self.frame_length * raw.TICKS_PER_SAMPLE

    def _before_cursor(self, path: Path, state: _FileState, size: int) -> bool:
        cursor = None if self.resume_from is None else self.resume_from(state.name.sensor)
        last_end = self._last_end_tick(path, size)
        if cursor is None or last_end is None:
            return False
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
