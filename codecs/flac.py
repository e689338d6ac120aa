"""FLAC (Free Lossless Audio Codec) streams of 24-bit mono counts: encoding, header parsing, exactness.

The KM3NeT acoustic ADC delivers 24-bit counts that the DAQ stores as
float32 ``count * 2**-23``. Such samples fit a 24-bit FLAC stream exactly;
:func:`exact_counts` finds the counts (or says that the samples are not all
exact), :func:`samples_from_counts` turns them back into the same float32;
:func:`encode_samples` encodes such samples block by block, never holding
all the counts.

libFLAC (through pyFLAC) encodes the audio frames; this module writes the
metadata itself, because it knows more than the encoder does and because
the encoder's own STREAMINFO is only complete after a seek back:

``fLaC``, then metadata blocks, each a 4-byte header (bit 7: last block,
bits 0-6: type, then a 24-bit big-endian length) and its body:

* STREAMINFO (type 0, 34 bytes, big-endian bit fields): min/max block size
  (16 + 16 bits), min/max frame size in bytes (24 + 24), sample rate in Hz
  (20), channels − 1 (3), bits per sample − 1 (5), total samples (36), MD5
  of the samples as signed little-endian integers of 3 bytes (128);
* SEEKTABLE (type 3): 18-byte points, each the first sample of a frame
  (64 bits), that frame's byte offset from the first frame (64) and its
  sample count (16);
* VORBIS_COMMENT (type 4, little-endian lengths): vendor string and
  ``NAME=value`` comments.

The STREAMINFO rate field is an integer: 195312 Hz for the ADF rate of
195312.5 Hz. FLAC's "streamable subset" also wants the rate expressible in
every frame header (≤ 65535 Hz, or whole kHz or tens of Hz), which 195312 Hz
is not: the frames are encoded outside the subset (their headers refer to
STREAMINFO for the rate), which every decoder reads. The exact rate goes in
a Vorbis comment.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import pyflac

MEDIA_TYPE = "audio/flac"
BITS_PER_SAMPLE = 24
COUNTS_PER_UNIT = 1 << (BITS_PER_SAMPLE - 1)
"""A sample of value 1.0 is this many ADC counts (full scale of a signed 24-bit count)."""
DEFAULT_BLOCK_SIZE = 4096
DEFAULT_COMPRESSION_LEVEL = 5
VENDOR = "hydroserve (libFLAC via pyFLAC)"

_STREAMINFO, _SEEKTABLE, _VORBIS_COMMENT = 0, 3, 4
_SEEKPOINT = struct.Struct(">QQH")
_MAX_BLOCK_BYTES = (1 << 24) - 1
_BLOCK_SAMPLES = 1 << 16


@dataclass(frozen=True)
class StreamInfo:
    """The STREAMINFO block: what a decoder needs before the first frame."""

    min_block_size: int
    max_block_size: int
    min_frame_bytes: int
    max_frame_bytes: int
    sample_rate_hz: int
    channels: int
    bits_per_sample: int
    total_samples: int
    md5: bytes

    def to_bytes(self) -> bytes:
        packed = (self.sample_rate_hz << 44) | ((self.channels - 1) << 41) | ((self.bits_per_sample - 1) << 36) | self.total_samples
        return (struct.pack(">HH", self.min_block_size, self.max_block_size) + self.min_frame_bytes.to_bytes(3, "big")
                + self.max_frame_bytes.to_bytes(3, "big") + packed.to_bytes(8, "big") + self.md5)

    @classmethod
    def from_bytes(cls, body: bytes) -> StreamInfo:
        if len(body) != 34:
            raise ValueError(f"STREAMINFO is {len(body)} bytes long, FLAC defines 34")
        min_block, max_block = struct.unpack(">HH", body[:4])
        packed = int.from_bytes(body[10:18], "big")
        return cls(min_block, max_block, int.from_bytes(body[4:7], "big"), int.from_bytes(body[7:10], "big"),
                   packed >> 44, ((packed >> 41) & 0x7) + 1, ((packed >> 36) & 0x1F) + 1, packed & ((1 << 36) - 1), body[18:34])


@dataclass(frozen=True)
class Header:
    """What precedes the frames of a FLAC stream: ``size_bytes`` of metadata (frames start there)."""

    stream_info: StreamInfo
    seek_points: tuple[tuple[int, int, int], ...]
    """(first sample, byte offset from the first frame, samples in the frame)."""
    comments: tuple[tuple[str, str], ...]
    vendor: str
    size_bytes: int

    def comment(self, name: str) -> str | None:
        """The first value of comment ``name`` (case-insensitive, as Vorbis comments are), or None."""
        return next((value for key, value in self.comments if key.upper() == name.upper()), None)


def exact_counts(samples: np.ndarray) -> np.ndarray | None:
    """The 24-bit counts whose float32 values ``count * 2**-23`` are bit-identical to ``samples``, or None.

    Parameters
    ----------
    samples : numpy.ndarray
        float32 samples.

    Returns
    -------
    numpy.ndarray or None
        int32 counts in [−2**23, 2**23), or None when any sample is not such a
        value (NaN, ±inf, −0.0, a finer value, or outside [−1, 1)).
    """
    try:
        return np.concatenate([block.copy() for block in _count_blocks(samples)]) if len(samples) else np.empty(0, dtype=np.int32)
    except NotCounts:
        return None


class NotCounts(ValueError):
    """Some sample is not an exact 24-bit count (``count * 2**-23``)."""


def _count_blocks(samples: np.ndarray):
    """Yield the counts of ``samples`` block by block, in one reused buffer (the consumer copies or uses each block
    before asking for the next; no whole copy of a 234 MB package); raise :class:`NotCounts` at the first block
    holding a sample that is not an exact count."""
    if samples.dtype != np.float32:
        raise TypeError(f"samples.dtype={samples.dtype} must be float32")
    # blocks small enough for the CPU's cache: the passes over a block (scale, convert, convert back, compare, range)
    # then read memory once
    scaled = np.empty(min(len(samples), _BLOCK_SAMPLES), dtype=np.float32)
    counts = np.empty_like(scaled, dtype=np.int32)
    back = np.empty_like(scaled)
    for first in range(0, len(samples), _BLOCK_SAMPLES):
        block = samples[first : first + _BLOCK_SAMPLES]
        n = len(block)
        # the scaling is exact (a power of two), so the sample is a count iff its scaled value converts to int32 and
        # back to the same bits (NaN, inf, -0.0 and fractions do not); values past int32 then fail the range check
        np.multiply(block, np.float32(COUNTS_PER_UNIT), out=scaled[:n])
        with np.errstate(invalid="ignore"):
            np.copyto(counts[:n], scaled[:n], casting="unsafe")
        np.copyto(back[:n], counts[:n], casting="unsafe")
        if not np.array_equal(back[:n].view(np.uint32), scaled[:n].view(np.uint32)):
            raise NotCounts(f"a sample in [{first}, {first + n}) is not an exact multiple of 2**-23 (NaN, inf, "
                            f"-0.0 or finer)")
        if counts[:n].min() < -COUNTS_PER_UNIT or counts[:n].max() >= COUNTS_PER_UNIT:
            raise NotCounts(f"a sample in [{first}, {first + n}) lies outside [-1, 1)")
        yield counts[:n]


def samples_from_counts(counts: np.ndarray) -> np.ndarray:
    """float32 samples ``count * 2**-23`` (exact: every 24-bit count is a float32)."""
    return (counts.astype(np.float32) * np.float32(1.0 / COUNTS_PER_UNIT)).astype(np.float32)


def encode_samples(samples: np.ndarray, *, sample_rate_hz: int, comments: list[tuple[str, str]] = (),
                   block_size: int = DEFAULT_BLOCK_SIZE, seek_point_every: int = 16,
                   compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> list[bytes]:
    """A FLAC stream of mono 24-bit counts from float32 ``samples`` that are all exact counts (``count * 2**-23``),
    converted block by block as libFLAC encodes them (the counts are never all held).

    Parameters
    ----------
    samples : numpy.ndarray
        1-d float32 samples.
    sample_rate_hz : int
        The STREAMINFO rate (an integer in Hz, < 2**20).
    comments : list of (str, str)
        Vorbis comments, e.g. ``("SAMPLE_RATE_EXACT_HZ", "195312.5")``.
    block_size : int
        Samples per frame (the last frame may be shorter).
    seek_point_every : int
        A seek point every this many frames (1: one per frame).
    compression_level : int
        libFLAC's level, 0 (fastest) to 8.

    Returns
    -------
    list of bytes
        The stream in parts: ``fLaC`` and the metadata (STREAMINFO, SEEKTABLE, VORBIS_COMMENT), then one part per
        frame; ``b"".join`` makes one bytes object, a blob store writes the parts as they are.

    Raises
    ------
    NotCounts
        At the first block holding a sample that is not an exact 24-bit count; nothing is returned.
    """
    if samples.ndim != 1 or len(samples) == 0:
        raise ValueError(f"samples must be a non-empty 1-d array, got shape {samples.shape}")
    if not 0 < sample_rate_hz < 1 << 20:
        raise ValueError(f"{sample_rate_hz=} must fit the 20-bit STREAMINFO field")
    if not 16 <= block_size <= 65535:
        raise ValueError(f"{block_size=} must lie in 16..65535")
    if seek_point_every < 1:
        raise ValueError(f"{seek_point_every=} must be at least 1")
    n_samples = len(samples)
    frames, md5 = _encode_frames(_count_blocks(samples), n_samples, sample_rate_hz, block_size, compression_level)
    sizes = [len(frame) for frame in frames]
    info = StreamInfo(block_size, block_size, min(sizes), max(sizes), sample_rate_hz, 1, BITS_PER_SAMPLE, n_samples, md5)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    points = [(index * block_size, int(offsets[index]), min(block_size, n_samples - index * block_size))
              for index in range(0, len(frames), seek_point_every)]
    blocks = [(_STREAMINFO, info.to_bytes()), (_SEEKTABLE, b"".join(_SEEKPOINT.pack(*p) for p in points)),
              (_VORBIS_COMMENT, _vorbis_comment(VENDOR, comments))]
    return [b"".join([b"fLaC", *_metadata(blocks)]), *frames]


def _encode_frames(blocks, n_samples: int, sample_rate_hz: int, block_size: int,
                   compression_level: int) -> tuple[list[bytes], bytes]:
    """libFLAC's frames for the int32 count ``blocks`` (``n_samples`` in all) and the MD5 of the samples libFLAC
    computed as it encoded them (its own metadata is dropped: :func:`encode_samples` writes the complete one)."""
    frames: list[bytes] = []
    md5: list[bytes] = []

    def collect(data: bytes, n_bytes: int, n_samples: int, frame: int) -> None:
        if n_samples:  # metadata arrives with n_samples == 0
            frames.append(data)

    def final_stream_info(metadata) -> None:  # libFLAC's STREAMINFO at the end of the stream, MD5 included
        md5.append(bytes(metadata.data.stream_info.md5sum))

    encoder = pyflac.StreamEncoder(sample_rate_hz, collect, metadata_callback=final_stream_info,
                                   compression_level=compression_level, blocksize=block_size, streamable_subset=False)
    # pyFLAC takes the bit depth from the array's dtype (32 for int32); set 24 before it initialises libFLAC.
    encoder._channels = 1
    encoder._bits_per_sample = BITS_PER_SAMPLE
    encoder._init()
    fed = 0
    for block in blocks:  # pyFLAC copies what it is given: blocks keep that copy small
        encoder.process(block.reshape(-1, 1))
        fed += len(block)
    if not encoder.finish():
        raise RuntimeError(f"libFLAC failed to finish the stream: {encoder.state}")
    expected = -(-n_samples // block_size)
    if fed != n_samples or len(frames) != expected or len(md5) != 1:
        raise RuntimeError(f"libFLAC wrote {len(frames)} frames for {fed} samples, expected {expected} for {n_samples}")
    return frames, md5[0]


def _vorbis_comment(vendor: str, comments) -> bytes:
    parts = [_length_prefixed(vendor.encode()), struct.pack("<I", len(comments))]
    for name, value in comments:
        if not name or "=" in name or not name.isascii():
            raise ValueError(f"Vorbis comment name {name!r} must be ASCII without '='")
        parts.append(_length_prefixed(f"{name}={value}".encode()))
    return b"".join(parts)


def _length_prefixed(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


def _metadata(blocks: list[tuple[int, bytes]]) -> list[bytes]:
    out = []
    for index, (kind, body) in enumerate(blocks):
        if len(body) > _MAX_BLOCK_BYTES:
            raise ValueError(f"metadata block of type {kind} is {len(body)} bytes, FLAC allows {_MAX_BLOCK_BYTES}")
        last = 0x80 if index == len(blocks) - 1 else 0
        out.append(bytes([last | kind]) + len(body).to_bytes(3, "big") + body)
    return out


def read_header(read) -> Header:
    """Parse the metadata of a FLAC stream.

    Parameters
    ----------
    read : callable
        ``read(n)`` returns the next ``n`` bytes of the stream (e.g. a file's ``read``).

    Raises
    ------
    ValueError
        Not a FLAC stream, or a block is malformed (the message names the byte offset).
    """
    if (magic := read(4)) != b"fLaC":
        raise ValueError(f"offset 0: {magic!r} is not the FLAC signature b'fLaC'")
    offset, info, points, comments, vendor = 4, None, (), (), ""
    while True:
        head = read(4)
        if len(head) != 4:
            raise ValueError(f"offset {offset}: the stream ends inside its metadata")
        kind, length = head[0] & 0x7F, int.from_bytes(head[1:], "big")
        body = read(length)
        if len(body) != length:
            raise ValueError(f"offset {offset}: metadata block of type {kind} wants {length} bytes, {len(body)} remain")
        if kind == _STREAMINFO:
            info = StreamInfo.from_bytes(body)
        elif kind == _SEEKTABLE:
            points = tuple(_SEEKPOINT.unpack_from(body, i) for i in range(0, length - length % 18, 18))
        elif kind == _VORBIS_COMMENT:
            vendor, comments = _parse_vorbis_comment(body, offset + 4)
        offset += 4 + length
        if head[0] & 0x80:
            break
    if info is None:
        raise ValueError("the FLAC stream has no STREAMINFO block")
    return Header(info, points, comments, vendor, offset)


def _parse_vorbis_comment(body: bytes, offset: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    try:
        (n,) = struct.unpack_from("<I", body, 0)
        vendor = body[4 : 4 + n].decode()
        position = 4 + n
        (count,) = struct.unpack_from("<I", body, position)
        position += 4
        comments = []
        for _ in range(count):
            (n,) = struct.unpack_from("<I", body, position)
            name, _, value = body[position + 4 : position + 4 + n].decode().partition("=")
            comments.append((name, value))
            position += 4 + n
    except (struct.error, UnicodeDecodeError) as error:
        raise ValueError(f"offset {offset}: malformed VORBIS_COMMENT block ({error})") from error
    return vendor, tuple(comments)
