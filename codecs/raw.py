"""KM3NeT Acoustic Data Filter (ADF) raw dump: the format (time base, frame layout, sensor and file names) and frame encoding.

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

Decoding is :mod:`hydroserve.codecs.raw_decoder`, the check that a file's
frames have the configured length :mod:`hydroserve.codecs.raw_frame_length`,
and the split of sample runs into output frames
:mod:`hydroserve.codecs.raw_frame_plan`.
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
WAV_HEADER_RATE_HZ = 195_312
"""The integer rate WAV and FLAC headers carry for :data:`SAMPLE_RATE_HZ` (they hold integers; the exact rate goes in
/info and the files' comments)."""
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
