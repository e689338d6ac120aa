"""WAV (RIFF/RF64) headers for mono IEEE float32 samples.

A WAV product is this header followed by the float32 little-endian samples
as stored, so the samples in the file are bit-identical to the raw ones.

Layout (all little-endian)::

    RIFF <size> WAVE
    fmt  (18 bytes)  format 3 (IEEE float), 1 channel, rate, 32 bits, cbSize 0
    fact (4 bytes)   number of samples (required for non-PCM formats)
    LIST INFO ICMT   optional free-text comment
    data <size>      the samples

WAV needs an integer sample rate in its header; the caller passes one (for
ADF data 195312 Hz; the exact 195312.5 Hz belongs in the comment and /info).
When the file would exceed 4 GiB, the RF64 form (EBU Tech 3306) is written:
``RF64`` with a ``ds64`` chunk carrying the 64-bit sizes and 0xFFFFFFFF in
the 32-bit size fields.
"""

from __future__ import annotations

import struct

MEDIA_TYPE = "audio/wav"
_FORMAT_IEEE_FLOAT = 3
_BYTES_PER_SAMPLE = 4
_MAX_U32 = 0xFFFF_FFFF


def _chunk(tag: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return tag + struct.pack("<I", len(payload)) + payload + pad


def _info_chunk(comment: str) -> bytes:
    text = comment.encode("utf-8") + b"\0"
    return _chunk(b"LIST", b"INFO" + _chunk(b"ICMT", text))


def header(n_samples: int, *, sample_rate_hz: int, comment: str | None = None, rf64: bool | None = None) -> bytes:
    """Header for ``n_samples`` mono float32 samples.

    Parameters
    ----------
    n_samples : int
        Samples that follow the header.
    sample_rate_hz : int
        Integer rate for the header.
    comment : str, optional
        Text for a LIST/INFO/ICMT chunk.
    rf64 : bool, optional
        Force (True) or forbid (False) the RF64 form; by default RF64 is used
        only when the sizes do not fit 32 bits.
    """
    if n_samples < 0:
        raise ValueError(f"{n_samples=} must not be negative")
    if not 0 < sample_rate_hz < 2**32:
        raise ValueError(f"{sample_rate_hz=} must be a positive 32-bit integer")
    data_bytes = n_samples * _BYTES_PER_SAMPLE
    fmt = struct.pack("<HHIIHHH", _FORMAT_IEEE_FLOAT, 1, sample_rate_hz, sample_rate_hz * _BYTES_PER_SAMPLE, _BYTES_PER_SAMPLE, 32, 0)
    info = _info_chunk(comment) if comment else b""
    body_without_data = _chunk(b"fmt ", fmt) + info
    plain_riff_size = 4 + len(body_without_data) + len(_chunk(b"fact", b"\0" * 4)) + 8 + data_bytes
    use_rf64 = plain_riff_size > _MAX_U32 if rf64 is None else rf64
    if not use_rf64:
        if plain_riff_size > _MAX_U32:
            raise ValueError(f"{n_samples=} needs RF64: the file exceeds 4 GiB")
        fact = _chunk(b"fact", struct.pack("<I", n_samples))
        return b"RIFF" + struct.pack("<I", plain_riff_size) + b"WAVE" + _chunk(b"fmt ", fmt) + fact + info + b"data" + struct.pack("<I", data_bytes)
    fact = _chunk(b"fact", struct.pack("<I", min(n_samples, _MAX_U32)))
    ds64_len = 8 + 28
    riff_size = 4 + ds64_len + len(body_without_data) + len(fact) + 8 + data_bytes
    ds64 = _chunk(b"ds64", struct.pack("<QQQI", riff_size, data_bytes, n_samples, 0))
    return b"RF64" + struct.pack("<I", _MAX_U32) + b"WAVE" + ds64 + _chunk(b"fmt ", fmt) + fact + info + b"data" + struct.pack("<I", _MAX_U32)
