"""Products that are views on the stored samples: /raw (ADF) and /wav.

A package's samples are stored once, as little-endian float32 back to back.
The ADF and WAV products are byte sequences made of literal bytes (headers),
ranges of those samples and NaN padding: a :class:`Composite`. It is
streamed or hashed in chunks, and read with seeks for HTTP Range requests,
without ever holding a whole product in memory.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import BinaryIO

import numpy as np

from hydroserve.codecs import raw, raw_frame_plan, wav

from .seekable import SizedReader

CHUNK_BYTES = 1 << 20
_SAMPLE_BYTES = raw.SAMPLE_BYTES
_NAN_BYTES = np.full(CHUNK_BYTES // _SAMPLE_BYTES, raw_frame_plan.PADDING, dtype="<f4").tobytes()


@dataclass(frozen=True)
class Literal:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class SampleRange:
    """``n_samples`` stored samples from index ``first_sample``."""

    first_sample: int
    n_samples: int

    @property
    def size(self) -> int:
        return self.n_samples * _SAMPLE_BYTES


@dataclass(frozen=True)
class Padding:
    """``n_samples`` NaN samples."""

    n_samples: int

    @property
    def size(self) -> int:
        return self.n_samples * _SAMPLE_BYTES


Part = Literal | SampleRange | Padding


class Composite:
    """A byte sequence assembled from parts."""

    def __init__(self, parts: list[Part]):
        self.parts = [p for p in parts if p.size]
        self.starts = list(accumulate((p.size for p in self.parts), initial=0))  # Python ints: bisected per read

    @property
    def size(self) -> int:
        return self.starts[-1]

    def chunks(self, samples, start: int = 0, stop: int | None = None):
        """Yield the bytes [start, stop) in chunks of at most CHUNK_BYTES.

        Parameters
        ----------
        samples : numpy.ndarray or binary file
            The stored samples: an in-memory float32 array, or an open file
            of them (read with seeks).
        """
        stop = self.size if stop is None else min(stop, self.size)
        position = start
        index = bisect_right(self.starts, position) - 1
        while position < stop and index < len(self.parts):
            part, part_start = self.parts[index], self.starts[index]
            lo = position - part_start
            hi = min(part.size, stop - part_start)
            while lo < hi:
                n = min(CHUNK_BYTES, hi - lo)
                yield _read_part(part, lo, n, samples)
                lo += n
                position += n
            index += 1


def _read_part(part: Part, offset: int, n: int, samples) -> bytes | memoryview:
    if isinstance(part, Literal):
        return memoryview(part.data)[offset : offset + n]
    if isinstance(part, Padding):
        return _NAN_BYTES[offset % _SAMPLE_BYTES : offset % _SAMPLE_BYTES + n]
    byte_offset = part.first_sample * _SAMPLE_BYTES + offset
    if isinstance(samples, np.ndarray):
        return memoryview(samples.view(np.uint8))[byte_offset : byte_offset + n]
    samples.seek(byte_offset)
    data = samples.read(n)
    if len(data) != n:
        raise OSError(f"sample blob is shorter than expected: wanted {n} bytes at {byte_offset}, got {len(data)}")
    return data


class CompositeFile(SizedReader):
    """A read-only, seekable file over a :class:`Composite` and an open sample blob (None: literal parts only)."""

    def __init__(self, composite: Composite, samples: BinaryIO | None):
        self.composite = composite
        self.samples = samples
        self.position = 0

    @property
    def size_bytes(self) -> int:
        return self.composite.size

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        for chunk in self.composite.chunks(self.samples, self.position, self.position + len(view)):
            n = len(chunk)  # every part reads as bytes or a byte memoryview
            view[filled : filled + n] = chunk
            filled += n
        self.position += filled
        return filled

    def close(self) -> None:
        if self.samples is not None:
            self.samples.close()
        super().close()


def adf_composite(runs, *, frame_length: int, window_size: int) -> Composite:
    """The ADF raw dump of a package: one frame per :class:`~hydroserve.codecs.raw_frame_plan.FramePlan`."""
    parts: list[Part] = []
    for frame in raw_frame_plan.plan_frames(runs, frame_length):
        parts.append(Literal(raw.encode_header(frame.start_tick, window_size)))
        parts.append(SampleRange(frame.first_sample, frame.n_samples))
        parts.append(Padding(frame_length - frame.n_samples))
    return Composite(parts)


def wav_composite(n_samples: int, *, sample_rate_hz: int, comment: str) -> Composite:
    """The WAV file of a package: header and all stored samples."""
    return Composite([Literal(wav.header(n_samples, sample_rate_hz=sample_rate_hz, comment=comment)), SampleRange(0, n_samples)])
