"""How a package's samples are stored: losslessly compressed (FLAC, 24-bit) when they are exact ADC counts, else float32.

Real KM3NeT samples are 24-bit ADC counts stored as float32 ``count * 2**-23``.
:func:`store` checks every sample; when all are such values (and the
configured ``samples_storage`` is ``auto``), it encodes them as FLAC,
decodes the FLAC again with libsndfile (the reader users have) and compares
every float32 sample bit for bit with the ingested one, and only then stores
the FLAC blob (under ``<prefix>.flac``, see :mod:`.product_keys`), which is
also served as the package's /flac product. Otherwise (synthetic data,
another ADC, ``samples_storage = "float32"``, or a failed verification,
which is logged as an error) the samples are stored as float32 as before.

:class:`FlacSamples` reads a FLAC blob back as the float32 bytes that
/raw and /wav are views of: a seekable file that decodes only the frames a
read needs (libsndfile seeks with the stream's SEEKTABLE, one point every
16 frames of 4096 samples), through the blob's per-chunk checksums.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile

from hydroserve.codecs import flac, raw
from hydroserve.codecs.raw import WAV_HEADER_RATE_HZ

from . import composite, product_keys
from .product_record import ProductRecord
from .seekable import SizedReader

log = logging.getLogger(__name__)

FLAC_24BIT = "flac-24bit"
FLOAT32 = "float32"
SAMPLES_STORAGE_CHOICES = ("auto", FLOAT32)
"""``samples_storage`` settings: ``auto`` stores FLAC when every sample is an exact 24-bit count."""
_VERIFY_BLOCK_SAMPLES = 1 << 20
_READ_ALL_PIECE_BYTES = 4 << 20


@dataclass(frozen=True)
class StoredSamples:
    """Where the samples went: ``key`` of the blob, the storage ``form``, why (``reason``), and the /flac product
    when the form is FLAC (its blob is the samples blob)."""

    key: str
    form: str
    reason: str
    flac_product: ProductRecord | None = None

    def as_json(self) -> dict:
        return {"form": self.form, "reason": self.reason}


def store(samples: np.ndarray, *, prefix: str, package_id: str, start_tick: int, storage: str, blobs) -> StoredSamples:
    """Store a package's float32 ``samples`` durably under ``prefix``, as FLAC when it is exact and verified.

    Parameters
    ----------
    samples : numpy.ndarray
        float32, the package's runs back to back.
    storage : {"auto", "float32"}
        ``samples_storage`` from the configuration.
    blobs : BlobStore
    """
    if storage not in SAMPLES_STORAGE_CHOICES:
        raise ValueError(f"samples_storage={storage!r} must be one of {SAMPLES_STORAGE_CHOICES}")
    samples = samples.astype("<f4", copy=False)
    if storage == FLOAT32:
        return _store_float32(samples, prefix, blobs, "samples_storage = \"float32\" is configured")
    try:
        parts = flac.encode_samples(samples, sample_rate_hz=WAV_HEADER_RATE_HZ, comments=_comments(package_id, start_tick))
    except flac.NotCounts:
        return _store_float32(samples, prefix, blobs, "not every sample is an exact 24-bit count (count * 2**-23)")
    mismatch = _verification_error(composite.CompositeFile(composite.Composite(list(map(composite.Literal, parts))), None),
                                   samples)
    if mismatch is not None:
        log.error("%s: FLAC verification failed (%s); storing float32 samples", package_id, mismatch)
        return _store_float32(samples, prefix, blobs, f"FLAC verification failed: {mismatch}")
    info = blobs.put(product_keys.flac_key(prefix), parts)
    float32_bytes = samples.size * raw.SAMPLE_BYTES
    details = {
        "storage": FLAC_24BIT,
        "lossless": True,
        "bits_per_sample": flac.BITS_PER_SAMPLE,
        "sample_value": "count * 2**-23 (24-bit ADC counts; the float32 samples of /raw and /wav, bit for bit)",
        "header_sample_rate_hz": WAV_HEADER_RATE_HZ,
        "exact_sample_rate_hz": float(raw.SAMPLE_RATE_HZ),
        "float32_bytes": float32_bytes,
        "compression_ratio": round(info.size_bytes / float32_bytes, 4),
        "block_size": flac.DEFAULT_BLOCK_SIZE,
        "compression_level": flac.DEFAULT_COMPRESSION_LEVEL,
        "verified": "decoded with libsndfile and compared with every ingested float32 sample, bit for bit, before storing",
        "streamable_subset": False,
    }
    product = ProductRecord("flac", flac.MEDIA_TYPE, info.size_bytes, info.sha256, info.key, details)
    return StoredSamples(info.key, FLAC_24BIT, "every sample is an exact 24-bit count", product)


def _store_float32(samples: np.ndarray, prefix: str, blobs, reason: str) -> StoredSamples:
    key = product_keys.samples_key(prefix)
    blobs.put(key, [memoryview(samples).cast("B")])
    return StoredSamples(key, FLOAT32, reason)


def _comments(package_id: str, start_tick: int) -> list[tuple[str, str]]:
    return [
        ("TITLE", package_id),
        ("SAMPLE_RATE_EXACT_HZ", "195312.5"),
        ("SAMPLE_RATE_NOTE", f"the stream header says {WAV_HEADER_RATE_HZ} Hz (an integer); the true rate is 195312.5 Hz"),
        ("SAMPLE_VALUE", "count * 2**-23: the ADC counts of the float32 samples of the package's /raw and /wav"),
        ("START_UNIX_S", raw.format_tick(start_tick)),
        ("ENCODER", f"hydroserve {flac.VENDOR}"),
    ]


def _verification_error(stream: BinaryIO, samples: np.ndarray) -> str | None:
    """Why the FLAC ``stream`` (a seekable file) does not decode to ``samples`` bit for bit (None: it does)."""
    # libsndfile gives a 24-bit count c as c * 2**8 in int32, and the sample is c * 2**-23: compared as s * 2**31 (exact,
    # a power of two, within int32 for every sample in [-1, 1) that the encoder was given)
    decoded_block = np.empty(_VERIFY_BLOCK_SAMPLES, dtype=np.int32)
    expected_block = np.empty(_VERIFY_BLOCK_SAMPLES, dtype=np.int32)
    with soundfile.SoundFile(stream) as decoded:
        if decoded.frames != len(samples) or decoded.channels != 1:
            return f"it decodes to {decoded.frames} frames of {decoded.channels} channel(s), not {len(samples)} of 1"
        for first in range(0, len(samples), _VERIFY_BLOCK_SAMPLES):
            block = decoded.read(_VERIFY_BLOCK_SAMPLES, dtype="int32", out=decoded_block)
            expected = samples[first : first + len(block)]
            np.multiply(expected, np.float32(2.0**31), out=expected_block[: len(block)], casting="unsafe")
            if not np.array_equal(block, expected_block[: len(block)]):
                bad = int(np.flatnonzero(block != expected_block[: len(block)])[0])
                return f"sample {first + bad} decodes to {_as_float32(block[bad : bad + 1])[0]!r}, was {expected[bad]!r}"
    return None


def _as_float32(decoded: np.ndarray) -> np.ndarray:
    """libsndfile's int32 (24-bit counts shifted left by 8) as the float32 samples."""
    return flac.samples_from_counts(decoded >> (32 - flac.BITS_PER_SAMPLE))


class FlacSamples(SizedReader):
    """The float32 little-endian bytes of ``n_samples`` samples decoded from a FLAC ``blob``, seekable.

    Parameters
    ----------
    blob : binary file
        The FLAC blob, open (a :class:`~.integrity.VerifiedBlob`: every byte libsndfile reads is checked).
    n_samples : int
        What the catalog says the blob holds.

    Raises
    ------
    OSError
        The blob holds another number of samples.
    """

    def __init__(self, blob: BinaryIO, n_samples: int):
        self.blob = _Relaying(blob)
        self.n_samples = n_samples
        self.position = 0
        try:
            self.sound = self.blob.relay(lambda: soundfile.SoundFile(self.blob))
        except BaseException:
            blob.close()
            raise
        if self.sound.frames != n_samples:
            self.close()
            raise OSError(f"FLAC samples blob holds {self.sound.frames} samples, the catalog says {n_samples}")

    @property
    def size_bytes(self) -> int:
        return self.n_samples * raw.SAMPLE_BYTES

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self.size_bytes - self.position))
        if n == 0:
            return 0
        first = self.position // raw.SAMPLE_BYTES
        stop = -(-(self.position + n) // raw.SAMPLE_BYTES)
        decoded = self.blob.relay(lambda: self._decode(first, stop - first))
        if len(decoded) != stop - first:
            raise OSError(f"FLAC samples blob ends at sample {first + len(decoded)}, the catalog says {self.n_samples}")
        data = _as_float32(decoded).view(np.uint8)
        offset = self.position - first * raw.SAMPLE_BYTES
        view[:n] = data[offset : offset + n]
        self.position += n
        return n

    def readall(self) -> bytes:
        """The rest of the samples, decoded in pieces of 4 MiB (not in ``io``'s small default pieces)."""
        parts = []
        while data := self.read(_READ_ALL_PIECE_BYTES):
            parts.append(data)
        return b"".join(parts)

    def _decode(self, first: int, count: int) -> np.ndarray:
        if self.sound.tell() != first:
            self.sound.seek(first)
        return self.sound.read(count, dtype="int32")

    def close(self) -> None:
        if not self.closed:
            self.sound.close()
            self.blob.file.close()
        super().close()


class _Relaying:
    """A file for libsndfile's callbacks that keeps the exception a read raised (a damaged chunk) instead of letting
    it vanish in the C callback, so that :meth:`relay` raises it after the libsndfile call."""

    def __init__(self, file: BinaryIO):
        self.file = file
        self.error: BaseException | None = None

    def relay(self, call):
        """``call()``, raising the error a read met during it (rather than libsndfile's view of a short file)."""
        self.error = None
        try:
            result = call()
        except Exception as failure:
            if self.error is not None:
                raise self.error from failure
            raise
        if self.error is not None:
            raise self.error
        return result

    def read(self, n: int = -1) -> bytes:
        buffer = bytearray(max(n, 0))
        return bytes(buffer[: self.readinto(buffer)])

    def readinto(self, buffer) -> int:
        if self.error is not None:
            return 0
        try:
            return self.file.readinto(buffer)
        except Exception as error:  # handed to relay(): libsndfile's callback cannot raise
            self.error = error
            return 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()
