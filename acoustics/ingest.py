"""Ingest: decoded frames -> per-sensor timeline -> cutter -> archive, resumable.

Each sensor has a :class:`~.stream.SensorTimeline` and a
:class:`~.cutter.SnippetCutter` that start at the sensor's resume cursor
from the catalog: windows before it are final (archived or skipped), and
samples before it are dropped. After a crash the same input therefore gives
the same packages, none twice and none missing.

Bad input never stops ingest: every problem is logged naming file and byte
offset, counted, and the valid data around it goes on. Every finished window
is either archived or recorded as skipped with its reason (too little
coverage, too short for a PSD segment, samples a product refused). Archive writes that
fail (disk full, catalog locked) are retried with backoff, the window stays
pending until it succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from sqlalchemy.exc import OperationalError

from hydroserve.codecs import raw
from hydroserve.codecs.raw import RawFormatError, RawFrames, SensorId
from hydroserve.codecs.times import tick_rfc3339

from . import products
from .archive import Archive
from .cutter import CutSettings, SkippedWindow, Snippet, SnippetCutter
from .leases import LeaseLost, SensorLeases
from .spool import SpoolDirectory
from .stream import SensorTimeline, StreamOrderError, pieces_from_frames
from .worker import Duty, run_duties

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What an ingest run did."""

    packages_made: list[str] = field(default_factory=list)
    """Ids of the packages archived by this run."""
    already_archived: list[str] = field(default_factory=list)
    """Ids of packages that were in the archive already (nothing done)."""
    frames_already_archived: int = 0
    """Frames skipped unread because they lie before their sensor's resume cursor."""
    before_resume_cursor: dict[str, dict] = field(default_factory=dict)
    """Per sensor with such frames: how many (``frames``), the start of the window holding the earliest one
    (``first_window_start``) and the resume cursor (``resume_cursor``), RFC 3339 UTC."""
    windows_skipped: dict[str, str] = field(default_factory=dict)
    """Package id of each window not kept, with the reason."""
    input_problems: list[str] = field(default_factory=list)
    """Bad input, each naming the file and byte offset."""

    def summary(self) -> dict:
        """The report as JSON (the keys are the field names)."""
        return asdict(self)


class ArchiveWriteFailed(RuntimeError):
    """Archiving kept failing for longer than the retry budget."""


class Ingestor:
    """Feeds decoded ADF frames into per-sensor cutters and archives the results.

    Parameters
    ----------
    archive : Archive
    cut_settings : CutSettings
    max_future_s : float
        Frames starting more than this after ``clock()`` are rejected.
    retry_for_s : float or None
        How long a failing archive write is retried before
        :class:`ArchiveWriteFailed` is raised (None: forever).
    clock, sleep : callables
        Wall clock in Unix seconds and sleep, replaceable in tests.
    on_archived : callable, optional
        Called with each archived record (metrics, logs).
    """

    def __init__(
        self,
        archive: Archive,
        cut_settings: CutSettings,
        *,
        max_future_s: float = 3600.0,
        retry_for_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_archived: Callable | None = None,
    ):
        self.archive = archive
        self.cut_settings = cut_settings
        self.max_future_s = max_future_s
        self.retry_for_s = retry_for_s
        self.clock = clock
        self.sleep = sleep
        self.on_archived = on_archived
        self.report = IngestReport()
        self._state: dict[SensorId, tuple[SensorTimeline, SnippetCutter]] = {}

    def _sensor_state(self, sensor: SensorId) -> tuple[SensorTimeline, SnippetCutter]:
        if sensor not in self._state:
            cursor = self._retrying(f"{sensor}: reading the resume cursor", lambda: self.archive.cursor(sensor))
            self._state[sensor] = (
                SensorTimeline(sensor, not_before_tick=cursor, tolerance_ticks=self.cut_settings.timing_tolerance_ticks),
                SnippetCutter(sensor, self.cut_settings, first_boundary_tick=cursor),
            )
        return self._state[sensor]

    def forget(self, sensor: SensorId) -> None:
        """Drop the sensor's timeline and open windows; if fed again, it starts afresh from its catalog cursor."""
        self._state.pop(sensor, None)

    def problem(self, error: Exception) -> None:
        """Record and log a problem with the input; ingest goes on."""
        self.report.input_problems.append(str(error))
        log.error("bad input: %s", error)

    def feed(self, sensor: SensorId, frames: RawFrames) -> None:
        """Ingest the frames of one file (or of the new part of a growing file)."""
        for issue in frames.issues:
            self.problem(issue)
        timeline, cutter = self._sensor_state(sensor)
        latest_allowed = int((self.clock() + self.max_future_s) * raw.TICKS_PER_SECOND)
        for piece in pieces_from_frames(frames):
            if piece.start_tick > latest_allowed:
                self.problem(
                    RawFormatError(
                        piece.source, piece.offset,
                        f"frame starts at {raw.format_tick(piece.start_tick)}, more than {self.max_future_s} s in the future",
                    )
                )
                continue
            if timeline.not_before_tick is not None and piece.end_tick <= timeline.not_before_tick:
                self._before_cursor(sensor, piece.start_tick, timeline.not_before_tick)
                continue
            try:
                accepted = timeline.accept(piece)
            except StreamOrderError as error:
                self.problem(error)
                continue
            if accepted is not None:
                self._finish(cutter.feed(accepted))

    def _before_cursor(self, sensor: SensorId, start_tick: int, cursor_tick: int) -> None:
        """Count a frame before the sensor's resume cursor (archived or skipped already: it is not read again)."""
        self.report.frames_already_archived += 1
        interval = self.cut_settings.interval_ticks
        window_start = tick_rfc3339(start_tick // interval * interval)
        seen = self.report.before_resume_cursor.setdefault(
            str(sensor), {"frames": 0, "first_window_start": window_start, "resume_cursor": tick_rfc3339(cursor_tick)})
        seen["frames"] += 1
        seen["first_window_start"] = min(seen["first_window_start"], window_start)

    def flush(self, sensors: Iterable[SensorId] | None = None) -> None:
        """No more data for these sensors (all by default): finish their open windows."""
        for sensor in list(self._state if sensors is None else sensors):
            if sensor in self._state:
                self._finish(self._state[sensor][1].flush())

    def _finish(self, results: list[Snippet | SkippedWindow]) -> None:
        """Publish or skip each finished window; a window whose products cannot be made from its samples
        is skipped with the reason, so no input stops ingest."""
        for result in results:
            if isinstance(result, Snippet):
                reason = products.unarchivable_reason(result.runs, self.archive.product_settings)
                if reason is not None:
                    result = result.skipped(reason)
            if isinstance(result, SkippedWindow):
                self._skip(result)
                continue
            try:
                record = self._retrying(f"{result.package_id}: archiving", lambda: self.archive.store(result))
            except ValueError as error:  # a product refused these samples: recorded, never a crash
                log.error("%s: products could not be made: %s", result.package_id, error)
                self._skip(result.skipped(f"products could not be made from the samples: {error}"))
                continue
            if record is None:
                self.report.already_archived.append(result.package_id)
            else:
                self.report.packages_made.append(record.package_id)
                log.info("%s: archived (coverage %.4f, %d gaps)", record.package_id, record.coverage, len(record.gaps))
                if self.on_archived is not None:
                    self.on_archived(record)

    def _skip(self, window: SkippedWindow) -> None:
        self._retrying(f"{window.package_id}: recording skipped window", lambda: self.archive.skip(window))
        self.report.windows_skipped[window.package_id] = window.reason
        log.info("%s: skipped: %s", window.package_id, window.reason)

    def _retrying(self, what: str, action):
        """Run ``action`` until it succeeds, backing off on storage and catalog errors."""
        started = self.clock()
        delay = 0.5
        while True:
            try:
                return action()
            except (OSError, OperationalError) as error:
                waited = self.clock() - started
                if self.retry_for_s is not None and waited >= self.retry_for_s:
                    raise ArchiveWriteFailed(f"{what}: still failing after {waited:.0f} s: {error}") from error
                log.error("%s failed (%s); retrying in %.1f s", what, error, delay)
                self.sleep(delay)
                delay = min(delay * 2, 30.0)


class SpoolIngest:
    """One ingest pass over the spool: the new frames of the sensors this worker may cut (a worker :class:`~.worker.Duty`).

    Without ``leases`` (SQLite: the one writer) every sensor is this worker's. With them, a pass announces the sensors
    seen in the spool and balances the leases (:meth:`~.leases.SensorLeases.balance`) first, and again between files
    whenever ``balance_interval_s`` has passed (a worker with a long backlog hands sensors to a new worker without
    finishing it first). What was read of a sensor released or lost is dropped; a sensor acquired is read afresh from
    its catalog cursor from the next pass on. A lease found lost while archiving (the archive's fence) drops that
    sensor at once: nothing of it was written.
    """

    def __init__(self, spool: SpoolDirectory, ingestor: Ingestor, leases: SensorLeases | None = None, *,
                 balance_interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.spool = spool
        self.ingestor = ingestor
        self.leases = leases
        self.balance_interval_s = balance_interval_s
        self.clock = clock
        self._next_balance = clock()

    def __call__(self) -> None:
        owned = None
        if self.leases is not None:
            self.leases.announce(self.spool.scan())
            self._balance()
            owned = {SensorId.parse(sensor) for sensor in self.leases.held}
        polled = self.spool.poll(owned)
        for issue in polled.issues:
            self.ingestor.problem(issue)
        gone: set[SensorId] = set()
        for frames in polled.frames:
            sensor = raw.RawFileName.parse(frames.source).sensor
            if self.leases is not None and self.clock() >= self._next_balance:
                gone |= self._balance()
            if sensor in gone:
                continue
            try:
                self.ingestor.feed(sensor, frames)
            except LeaseLost as error:
                log.warning("%s", error)
                gone.add(sensor)
                self._drop(sensor)
                self.leases.drop(sensor)

    def _balance(self) -> set[SensorId]:
        """Balance the leases and drop the state of every sensor that changed hands; returns them (the rest of the pass
        skips their frames: a sensor lost and acquired again is read afresh from its cursor in the next pass)."""
        balance = self.leases.balance()
        self._next_balance = self.clock() + self.balance_interval_s
        changed = {SensorId.parse(sensor) for sensor in balance.released | balance.acquired | self.leases.take_lost()}
        for sensor in changed:
            self._drop(sensor)
        return changed

    def _drop(self, sensor: SensorId) -> None:
        self.ingestor.forget(sensor)
        self.spool.forget(sensor)


def follow_spool(
    spool: SpoolDirectory,
    ingestor: Ingestor,
    *,
    poll_interval_s: float,
    stop: threading.Event | None = None,
    once: bool = False,
) -> None:
    """Feed every new frame of the spool directory to the ingestor until ``stop`` is set (or once); the one writer."""
    run_duties([Duty("ingest", poll_interval_s, SpoolIngest(spool, ingestor))], stop=stop, once=once)
