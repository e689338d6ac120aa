"""KM3NeT Acoustic Data Filter (ADF) raw dump: bytes <-> frames.

An ADF raw dump holds the samples of one sensor. The file name carries the
sensor, ``DOM_<domid>_CH<n>_<unixtime>.bin``. The file is a sequence of
frames; each frame is, little-endian::

    uint32 utc_seconds    whole UTC seconds of the frame's first sample
    uint32 cycles_16ns    sub-second part in 16 ns ticks, 0 <= cycles < 62 500 000
    uint32 window_size    the ADF analysis window (typically 131072); not the frame length
    float32 x FRAME_LENGTH samples (typically 123260)

FRAME_LENGTH cannot be read from the file: it is configuration.

Time is kept exact as integer 16 ns ticks since the Unix epoch. The sampling
rate is 25 MHz / 128 = 195312.5 Hz, so one sample lasts exactly
``TICKS_PER_SAMPLE = 320`` ticks and sample ``i`` of a frame starting at tick
``t0`` lies at ``t0 + 320 * i``.

Frames have a fixed length, so a contiguous run whose length is not a
multiple of FRAME_LENGTH ends in a frame that is completed with NaN: NaN
*padding* is a suffix of NaN samples in a frame, and marks "no sample here".
The decoder accepts such a frame as a shorter one (see ``valid_lengths``);
NaN or infinity anywhere else is an error.

Decoding never raises on bad content: it returns the valid frames and a list
of :class:`RawFormatError` naming the file and byte offset of every problem,
so a caller can keep the good data and report the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

TICKS_PER_SECOND = 62_500_000
"""16 ns ticks per second."""
NS_PER_TICK = 16
TICKS_PER_SAMPLE = 320
"""Ticks per sample: 320 x 16 ns = 5.12 us."""
SAMPLE_RATE_HZ = Fraction(TICKS_PER_SECOND, TICKS_PER_SAMPLE)
"""Exact sampling rate, 195312.5 Hz."""
DEFAULT_FRAME_LENGTH = 123_260
DEFAULT_WINDOW_SIZE = 131_072
HEADER_BYTES = 12
SAMPLE_BYTES = 4
MEDIA_TYPE = "application/km3net-acoustic"

_SENSOR_RE = re.compile(r"DOM_(\d+)_CH(\d+)")
_FILE_NAME_RE = re.compile(r"DOM_(\d+)_CH(\d+)_(\d+)\.bin")


class RawFormatError(ValueError):
    """A problem in ADF raw input, located by source name and byte offset.

    Parameters
    ----------
    source : str
        File name (or other label) of the input.
    offset : int or None
        Byte offset in the source where the problem starts; None when the
        problem is not located in the bytes (e.g. the file name).
    reason : str
        What is wrong, in words.
    """

    def __init__(self, source: str, offset: int | None, reason: str):
        self.source = source
        self.offset = offset
        self.reason = reason
        where = source if offset is None else f"{source} at byte {offset}"
        super().__init__(f"{where}: {reason}")


class FrameLengthError(RawFormatError):
    """The bytes do not split into frames of the configured length.

    Parameters
    ----------
    source, offset, reason
        As for :class:`RawFormatError`.
    inferred_frame_length : int or None
        The frame length the file's headers show (spacing of the first two
        headers in bytes and in time agree), if one was found.
    """

    def __init__(self, source: str, offset: int | None, reason: str, inferred_frame_length: int | None):
        self.inferred_frame_length = inferred_frame_length
        super().__init__(source, offset, reason)


@dataclass(frozen=True, order=True)
class SensorId:
    """An acoustic sensor: channel ``channel`` of the module ``dom_id``."""

    dom_id: int
    channel: int

    def __str__(self) -> str:
        return f"DOM_{self.dom_id}_CH{self.channel}"

    @classmethod
    def parse(cls, text: str) -> SensorId:
        """Parse ``DOM_<domid>_CH<n>``; raise ValueError naming the text otherwise."""
        match = _SENSOR_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a sensor id of the form DOM_<domid>_CH<n>")
        return cls(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class RawFileName:
    """The parts of an ADF file name ``DOM_<domid>_CH<n>_<unixtime>.bin``."""

    sensor: SensorId
    unix_time_s: int

    def __str__(self) -> str:
        return f"{self.sensor}_{self.unix_time_s}.bin"

    @classmethod
    def parse(cls, path: str | Path) -> RawFileName:
        """Parse a file name; raise :class:`RawFormatError` naming the file if it has no sensor id."""
        name = Path(path).name
        match = _FILE_NAME_RE.fullmatch(name)
        if match is None:
            raise RawFormatError(
                str(path), None, "file name does not carry a sensor id: expected DOM_<domid>_CH<n>_<unixtime>.bin"
            )
        return cls(SensorId(int(match[1]), int(match[2])), int(match[3]))


def frame_dtype(frame_length: int) -> np.dtype:
    """Numpy structured dtype of one frame of ``frame_length`` samples."""
    if frame_length <= 0:
        raise ValueError(f"{frame_length=} must be a positive number of samples")
    return np.dtype(
        [
            ("utc_seconds", "<u4"),
            ("cycles_16ns", "<u4"),
            ("window_size", "<u4"),
            ("samples", "<f4", (frame_length,)),
        ]
    )


def frame_bytes(frame_length: int) -> int:
    """Size in bytes of one frame: 12 header bytes plus 4 bytes per sample."""
    return HEADER_BYTES + SAMPLE_BYTES * frame_length


@dataclass(frozen=True)
class RawFrames:
    """The valid frames decoded from one ADF source.

    Attributes
    ----------
    source : str
        Name of the input, for messages.
    records : numpy.ndarray
        Structured array (see :func:`frame_dtype`) of the valid frames, in file order.
    offsets : numpy.ndarray
        Byte offset of each valid frame in the source.
    valid_lengths : numpy.ndarray
        Samples of each frame before its NaN padding (``frame_length`` if none).
    consumed_bytes : int
        Bytes covered by whole frames (valid or not); a partial tail is not consumed.
    issues : tuple of RawFormatError
        Every problem found; frames with a problem are not in ``records``.
    """

    source: str
    records: np.ndarray
    offsets: np.ndarray
    valid_lengths: np.ndarray
    consumed_bytes: int
    issues: tuple[RawFormatError, ...]

    @property
    def frame_length(self) -> int:
        return self.records.dtype["samples"].shape[0]

    @property
    def start_ticks(self) -> np.ndarray:
        """Start time of each frame in 16 ns ticks since the Unix epoch (int64)."""
        return self.records["utc_seconds"].astype(np.int64) * TICKS_PER_SECOND + self.records["cycles_16ns"]

    @property
    def samples(self) -> np.ndarray:
        """Samples as a (n_frames, frame_length) float32 view."""
        return self.records["samples"]

    def __len__(self) -> int:
        return len(self.records)


INFERENCE_TOLERANCE_TICKS = 159
"""Largest deviation (16 ns ticks) of the second frame's time stamp from the first frame's end accepted by
:func:`infer_frame_length` (below half a sample, as the stream's timing tolerance)."""


def infer_frame_length(buffer, *, max_frame_length: int) -> int | None:
    """The frame length shown by the first two frame headers of an ADF buffer, or None.

    A length ``L`` fits when the 12 bytes at byte ``12 + 4 L`` parse as a
    header with the first header's ``window_size``, a sub-second field
    below one second, and a start time of the first frame's start plus
    ``L * 320`` ticks (within :data:`INFERENCE_TOLERANCE_TICKS`): the second
    frame then continues the first one in bytes and in time. Samples (24-bit
    ADC values as float32) practically never satisfy all three.

    Parameters
    ----------
    buffer : bytes-like
        Starting at a frame header.
    max_frame_length : int
        Longest length tried (samples).

    Returns
    -------
    int or None
        The smallest fitting length, or None if none fits (a single frame,
        a gap after the first frame, or a broken first header).
    """
    view = memoryview(buffer).cast("B")
    n_words = len(view) // SAMPLE_BYTES
    if n_words < 7:
        return None
    words = np.frombuffer(view, dtype="<u4", count=n_words)
    first_seconds, first_cycles, window_size = (int(w) for w in words[:3])
    if first_cycles >= TICKS_PER_SECOND:
        return None
    longest = min(max_frame_length, n_words - 6)
    for first in range(1, longest + 1, _INFERENCE_CHUNK):  # in chunks: memory stays bounded for any buffer
        lengths = np.arange(first, min(first + _INFERENCE_CHUNK, longest + 1), dtype=np.int64)
        candidates = lengths[words[lengths + 5] == window_size]
        seconds, cycles = words[candidates + 3].astype(np.int64), words[candidates + 4].astype(np.int64)
        delay = (seconds - first_seconds) * TICKS_PER_SECOND + cycles - first_cycles
        fits = (cycles < TICKS_PER_SECOND) & (np.abs(delay - candidates * TICKS_PER_SAMPLE) <= INFERENCE_TOLERANCE_TICKS)
        if fits.any():
            return int(candidates[np.flatnonzero(fits)[0]])
    return None


_INFERENCE_CHUNK = 1 << 20


def _frame_length_error(view, frame_length: int, source: str, base_offset: int, broken_offsets, *, scan_limit: int) -> FrameLengthError | None:
    """The refusal of a buffer whose headers show another frame length (or, given ``broken_offsets``,
    whose frame headers are invalid at the configured boundaries); None if the configured length fits."""
    inferred = infer_frame_length(view, max_frame_length=scan_limit)
    if inferred == frame_length or (inferred is None and not len(broken_offsets)):
        return None
    findings = []
    if len(broken_offsets):
        findings.append(f"the frame headers at byte(s) {', '.join(str(int(o)) for o in broken_offsets[:5])} are invalid")
    if inferred is None:
        findings.append("no other frame length fits the first headers")
    else:
        findings.append(
            f"a frame header continuing the first frame lies at byte {base_offset + HEADER_BYTES + SAMPLE_BYTES * inferred}: "
            f"the headers are spaced by {inferred} samples in bytes and in time, so the right value is likely "
            f"adf_frame_length = {inferred}"
        )
    return FrameLengthError(
        source, base_offset,
        f"the bytes do not split into frames of adf_frame_length = {frame_length} samples (wrong ADF frame length): "
        f"{'; '.join(findings)}; no frame of this file is used",
        inferred,
    )


def decode(
    buffer,
    *,
    frame_length: int,
    source: str,
    complete: bool = True,
    previous_start_tick: int | None = None,
    base_offset: int = 0,
) -> RawFrames:
    """Decode ADF frames from a bytes-like buffer (bytes, memoryview, mmap).

    Parameters
    ----------
    buffer : bytes-like
        The raw bytes, starting at a frame boundary.
    frame_length : int
        Samples per frame (configuration; 123260 for KM3NeT ADF dumps).
    source : str
        Name of the input used in every message.
    complete : bool
        True if no more bytes will follow: a partial last frame is then
        reported as truncated. False while the file is still being written:
        a partial last frame is left unconsumed without complaint.
    previous_start_tick : int, optional
        Start tick of the frame before this buffer (when decoding a file in
        pieces), so that time going backwards across pieces is detected.
    base_offset : int
        Byte offset of ``buffer`` in the source, for messages.

    Returns
    -------
    RawFrames
        Valid frames and the problems found. A frame is invalid when its
        sub-second field is out of range, it does not start after the
        previous valid frame, or it holds NaN or infinite samples.
    """
    dtype = frame_dtype(frame_length)
    view = memoryview(buffer).cast("B")
    n_frames, tail_bytes = divmod(len(view), dtype.itemsize)
    issues: list[RawFormatError] = []
    if tail_bytes and complete:
        tail_offset = base_offset + n_frames * dtype.itemsize
        what = "file size is not a whole number of frames" if n_frames else "file is shorter than one frame"
        issues.append(
            RawFormatError(
                source,
                tail_offset,
                f"truncated frame: {what}; the last {tail_bytes} bytes are part of a "
                f"{dtype.itemsize}-byte frame ({frame_length} samples)",
            )
        )
    records = np.frombuffer(view, dtype=dtype, count=n_frames)
    offsets = base_offset + np.arange(n_frames, dtype=np.int64) * dtype.itemsize
    valid = np.ones(n_frames, dtype=bool)

    bad_cycles = records["cycles_16ns"] >= TICKS_PER_SECOND
    for index in np.flatnonzero(bad_cycles):
        issues.append(
            RawFormatError(
                source,
                int(offsets[index]) + 4,
                f"frame {index}: cycles_16ns={int(records['cycles_16ns'][index])} "
                f"must be below {TICKS_PER_SECOND} (one second of 16 ns ticks)",
            )
        )
    valid &= ~bad_cycles

    if n_frames:
        # The first frame of a file is always checked against its neighbour (cheap: one frame of words). A
        # suspect framing (a truncated tail, or most boundary headers invalid) is checked over the whole buffer.
        broken = np.flatnonzero(bad_cycles | (records["window_size"] != records["window_size"][0]))
        truncated = bool(tail_bytes and complete)
        suspect = truncated or 2 * np.count_nonzero(broken > 0) > n_frames - 1 > 0
        if suspect or base_offset == 0:
            refusal = _frame_length_error(
                view, frame_length, source, base_offset, offsets[broken] if truncated else (),
                scan_limit=len(view) // SAMPLE_BYTES if suspect else frame_length,
            )
            if refusal is not None:
                return RawFrames(source, records[:0], offsets[:0], np.zeros(0, dtype=np.int64), n_frames * dtype.itemsize, (refusal,))

    samples = records["samples"]
    valid_lengths = np.full(n_frames, frame_length, dtype=np.int64)
    finite = np.isfinite(samples).all(axis=1)
    for index in np.flatnonzero(~finite):
        bad = ~np.isfinite(samples[index])
        first_bad = int(np.flatnonzero(bad)[0])
        if first_bad > 0 and np.isnan(samples[index, first_bad:]).all():
            valid_lengths[index] = first_bad
            finite[index] = True
            continue
        value = samples[index, first_bad]
        issues.append(
            RawFormatError(
                source,
                int(offsets[index]) + HEADER_BYTES + SAMPLE_BYTES * first_bad,
                f"frame {index}: sample {first_bad} is {value} (NaN or infinite samples are not data; "
                "NaN is allowed only as padding at the end of a frame)",
            )
        )
    valid &= finite

    starts = records["utc_seconds"].astype(np.int64) * TICKS_PER_SECOND + records["cycles_16ns"]
    candidates = np.flatnonzero(valid)
    in_order = candidates.size == 0 or (
        np.all(np.diff(starts[candidates]) > 0)
        and (previous_start_tick is None or starts[candidates[0]] > previous_start_tick)
    )
    last_start = previous_start_tick
    for index in [] if in_order else candidates:
        start = int(starts[index])
        if last_start is not None and start <= last_start:
            issues.append(
                RawFormatError(
                    source,
                    int(offsets[index]),
                    f"frame {index}: time goes backwards: starts at tick {start} "
                    f"({format_tick(start)}), not after the previous frame's start {format_tick(last_start)}",
                )
            )
            valid[index] = False
        else:
            last_start = start

    issues.sort(key=lambda issue: issue.offset if issue.offset is not None else -1)
    all_valid = bool(valid.all())
    return RawFrames(
        source=source,
        records=records if all_valid else records[valid],
        offsets=offsets if all_valid else offsets[valid],
        valid_lengths=valid_lengths if all_valid else valid_lengths[valid],
        consumed_bytes=n_frames * dtype.itemsize,
        issues=tuple(issues),
    )


def read_file(path: str | Path, *, frame_length: int, complete: bool = True) -> RawFrames:
    """Decode an ADF file by memory map; see :func:`decode` for ``complete``.

    The returned records are a view on the mapped file.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        data = b""
    else:
        data = np.memmap(path, dtype=np.uint8, mode="r", shape=(size,))
    return decode(data, frame_length=frame_length, source=str(path), complete=complete)


def encode_header(start_tick: int, window_size: int) -> bytes:
    """The 12-byte header of a frame starting at ``start_tick``."""
    seconds, cycles = divmod(start_tick, TICKS_PER_SECOND)
    if not 0 <= seconds < 2**32:
        raise ValueError(f"{start_tick=} is outside the uint32 range of utc_seconds")
    if not 0 <= window_size < 2**32:
        raise ValueError(f"{window_size=} does not fit a uint32")
    return np.array([seconds, cycles, window_size], dtype="<u4").tobytes()


def encode(start_ticks, samples: np.ndarray, *, window_size: int = DEFAULT_WINDOW_SIZE) -> bytes:
    """Encode frames to ADF bytes.

    Parameters
    ----------
    start_ticks : sequence of int
        Start tick of each frame.
    samples : numpy.ndarray
        (n_frames, frame_length) samples, converted to little-endian float32.
    window_size : int
        Value of the header's window_size field.
    """
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise ValueError(f"samples.shape={samples.shape} must be (n_frames, frame_length)")
    start_ticks = np.asarray(start_ticks, dtype=np.int64)
    if start_ticks.shape != (samples.shape[0],):
        raise ValueError(f"start_ticks.shape={start_ticks.shape} must be ({samples.shape[0]},)")
    records = np.empty(samples.shape[0], dtype=frame_dtype(samples.shape[1]))
    seconds, cycles = np.divmod(start_ticks, TICKS_PER_SECOND)
    if seconds.size and (seconds.min() < 0 or seconds.max() >= 2**32):
        raise ValueError("start_ticks lie outside the uint32 range of utc_seconds")
    records["utc_seconds"] = seconds
    records["cycles_16ns"] = cycles
    records["window_size"] = window_size
    records["samples"] = samples
    return records.tobytes()


def format_tick(tick: int) -> str:
    """A tick as ``<seconds>.<fraction>`` Unix time, exact to the nanosecond."""
    seconds, cycles = divmod(tick, TICKS_PER_SECOND)
    return f"{seconds}.{cycles * 16:09d}"


PADDING = np.float32(np.nan)
"""Value of padding samples completing the last frame of a contiguous run."""


@dataclass(frozen=True)
class FramePlan:
    """One output frame: ``n_samples`` samples from ``first_sample`` of a sample
    sequence, starting at ``start_tick``, then ``frame_length - n_samples`` NaN."""

    start_tick: int
    first_sample: int
    n_samples: int


def plan_frames(runs, frame_length: int) -> list[FramePlan]:
    """Split contiguous runs into frames of ``frame_length`` samples.

    Parameters
    ----------
    runs : iterable
        Objects with ``start_tick``, ``first_sample`` and ``n_samples``:
        contiguous runs of a sample sequence stored back to back.
    frame_length : int
        Samples per frame.

    Returns
    -------
    list of FramePlan
        Frames in order; only the last frame of each run can be short (padded).
    """
    if frame_length <= 0:
        raise ValueError(f"{frame_length=} must be positive")
    plan = []
    for run in runs:
        for offset in range(0, run.n_samples, frame_length):
            plan.append(
                FramePlan(
                    run.start_tick + offset * TICKS_PER_SAMPLE,
                    run.first_sample + offset,
                    min(frame_length, run.n_samples - offset),
                )
            )
    return plan
