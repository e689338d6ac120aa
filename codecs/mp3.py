"""MPEG-1 Layer III encoding of mono int16 PCM (LAME through lameenc), gapless and tagged.

MPEG Layer III accepts 8-48 kHz only; resampling (with an anti-alias filter)
is the caller's job, done before this function: LAME's own resampler aliases.
lameenc reads int16 little-endian bytes only, so the input type is checked.

An MP3 decoder delays the signal: the encoder prepends
:data:`ENCODER_DELAY_SAMPLES` samples, the decoder's filter bank adds
:data:`DECODER_DELAY_SAMPLES`, and the last frame is padded to a whole
frame of :data:`SAMPLES_PER_FRAME`. lameenc writes no tag that says so, so
decoders would start 1105 samples late and end long. :func:`encode`
therefore writes, before LAME's frames, the standard *Info* frame (Xing
header for constant bit rate) with the *LAME extension* (the "LAME tag":
encoder delay and padding, 12 bits each, and its CRC-16) that gapless
decoders (ffmpeg, libmpg123, foobar2000, iTunes) use to return exactly the
encoded samples; and an ID3v2.4 tag with free-text (TXXX) frames for the
caller's processing record.

Layout of the Info frame (MPEG-1, mono; offsets in bytes from the frame start)::

    0    4-byte frame header (that of the audio frames: same bit and sample rate)
    4    17 bytes of side information, zero (the frame carries no audio)
    21   "Info", flags 0x0000000F, frame count, byte count, 100-byte TOC, quality (big-endian)
    141  LAME extension, 36 bytes: version string (9), revision/VBR method, lowpass, replay gain (8),
         flags/ATH, bit rate, encoder delay and padding (3 bytes: 12 + 12 bits), misc, MP3 gain,
         preset/surround (2), music length (4), music CRC (2), tag CRC (2)

The tag CRC is CRC-16 (polynomial 0x8005, reflected, initial value 0) of
the frame's bytes before it. The music CRC is written as 0: computing it
costs a pass over the audio in Python and no decoder checks it.
"""

from __future__ import annotations

import re
import struct

import lameenc
import numpy as np

MEDIA_TYPE = "audio/mpeg"
BIT_RATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
SAMPLES_PER_FRAME = 1152
"""PCM samples per MPEG-1 Layer III frame."""
ENCODER_DELAY_SAMPLES = 576
"""Samples LAME puts before the signal (``lame_get_encoder_delay``); written into the LAME tag."""
DECODER_DELAY_SAMPLES = 529
"""Delay of the decoder's synthesis filter bank, added by every decoder to the tag's encoder delay."""

_MPEG1_RATES_HZ = {0: 44100, 1: 48000, 2: 32000}
_MPEG1_L3_BIT_RATES_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MONO_SIDE_INFO_BYTES = 17
_ENCODE_CHUNK_SAMPLES = 1 << 20


def encode(
    pcm: np.ndarray, *, sample_rate_hz: int, bit_rate_kbps: int = 128, quality: int = 7, tags: dict[str, str] | None = None,
    title: str | None = None,
) -> bytes:
    """Encode mono int16 samples to a gapless MP3 (constant bit rate), tagged.

    Parameters
    ----------
    pcm : numpy.ndarray
        1-D int16 samples.
    sample_rate_hz : int
        32000, 44100 or 48000 (MPEG-1); also the output rate (no resampling here).
    bit_rate_kbps : int
        One of :data:`BIT_RATES_KBPS`.
    quality : int
        LAME algorithm quality, 0 (best, slowest) to 9 (fastest); 7 is LAME's
        "fast" setting (psychoacoustic model still used, no noise shaping).
    tags : dict, optional
        Free-text ID3v2 TXXX frames, description -> value.
    title : str, optional
        The ID3v2 title (TIT2).

    Returns
    -------
    bytes
        ID3v2.4 tag, Info frame with LAME tag, LAME's audio frames. Decoded
        by a gapless decoder: exactly ``len(pcm)`` samples, the first one
        being ``pcm[0]``.
    """
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError(f"pcm must be 1-D int16, not {pcm.ndim}-D {pcm.dtype}")
    if sample_rate_hz not in _MPEG1_RATES_HZ.values():
        raise ValueError(f"{sample_rate_hz=} must be 32000, 44100 or 48000 Hz (MPEG-1 Layer III, gapless tag)")
    if bit_rate_kbps not in BIT_RATES_KBPS:
        raise ValueError(f"{bit_rate_kbps=} must be one of {BIT_RATES_KBPS}")
    if not 0 <= quality <= 9:
        raise ValueError(f"{quality=} must be in 0..9")
    encoder = lameenc.Encoder()
    encoder.set_channels(1)
    encoder.set_in_sample_rate(sample_rate_hz)
    encoder.set_out_sample_rate(sample_rate_hz)
    encoder.set_bit_rate(bit_rate_kbps)
    encoder.set_quality(quality)
    little_endian = pcm.astype("<i2", copy=False)
    audio = bytearray()
    for first in range(0, len(little_endian), _ENCODE_CHUNK_SAMPLES):  # in pieces: no bytes copy of the whole PCM
        audio += encoder.encode(little_endian[first : first + _ENCODE_CHUNK_SAMPLES].tobytes())
    audio = bytes(audio + encoder.flush())
    n_frames = len(frame_offsets(audio))
    padding = n_frames * SAMPLES_PER_FRAME - ENCODER_DELAY_SAMPLES - len(pcm)
    info = info_frame(audio[:4], n_frames=n_frames, audio_bytes=len(audio), encoder_delay=ENCODER_DELAY_SAMPLES,
                      padding=padding, quality=quality, version=_encoder_version(audio))
    return id3v2_tag(tags or {}, title) + info + audio


def frame_offsets(data: bytes) -> list[int]:
    """Byte offsets of the consecutive MPEG-1 Layer III frames filling ``data`` (which starts with a frame).

    Raises
    ------
    ValueError
        Naming the offset where no valid MPEG-1 Layer III frame header is found.
    """
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += frame_length(data[offset : offset + 4], offset)
    if offset != len(data):
        raise ValueError(f"the last MP3 frame at byte {offsets[-1]} runs past the end of the data ({len(data)} bytes)")
    return offsets


def frame_length(header: bytes, offset: int = 0) -> int:
    """Length in bytes of the MPEG-1 Layer III frame with this 4-byte header: ``144 * bit rate / rate + padding``."""
    if len(header) < 4:
        raise ValueError(f"MP3 frame header at byte {offset}: only {len(header)} bytes")
    word = int.from_bytes(header, "big")
    version, layer = (word >> 19) & 3, (word >> 17) & 3
    bit_rate_index, rate_index, padding = (word >> 12) & 15, (word >> 10) & 3, (word >> 9) & 1
    if word >> 21 != 0x7FF or version != 3 or layer != 1 or bit_rate_index in (0, 15) or rate_index == 3:
        raise ValueError(f"no MPEG-1 Layer III frame header at byte {offset}: {header.hex()}")
    return 144_000 * _MPEG1_L3_BIT_RATES_KBPS[bit_rate_index] // _MPEG1_RATES_HZ[rate_index] + padding


def info_frame(header: bytes, *, n_frames: int, audio_bytes: int, encoder_delay: int, padding: int, quality: int,
               version: bytes = b"LAME") -> bytes:
    """The Info frame (Xing header of a constant-bit-rate stream) with the LAME extension.

    Parameters
    ----------
    header : bytes
        Header of the stream's first audio frame (mono MPEG-1 Layer III); its padding bit is cleared.
    n_frames : int
        Audio frames that follow (the Info frame not counted).
    audio_bytes : int
        Bytes of those frames.
    encoder_delay, padding : int
        Samples before the first and after the last encoded sample, 0..4095 each.
    quality : int
        LAME algorithm quality (0..9), recorded as LAME does: ``100 - 10 * 4 - quality`` (VBR scale 4, the default).
    version : bytes
        Encoder short version, at most 9 bytes, starting with ``LAME`` (decoders trust the delays only then).
    """
    if not (0 <= encoder_delay < 4096 and 0 <= padding < 4096):
        raise ValueError(f"{encoder_delay=} and {padding=} must each fit 12 bits")
    if not version.startswith(b"LAME") or len(version) > 9:
        raise ValueError(f"{version=} must start with b'LAME' and have at most 9 bytes")
    header = (int.from_bytes(header, "big") & ~(1 << 9)).to_bytes(4, "big")
    length = frame_length(header)
    word = int.from_bytes(header, "big")
    if (word >> 6) & 3 != 3:
        raise ValueError("the Info frame is written for mono streams only")
    bit_rate_kbps = _MPEG1_L3_BIT_RATES_KBPS[(word >> 12) & 15]
    total_bytes = length + audio_bytes
    toc = bytes(min(255, i * 256 // 100) for i in range(100))
    xing = b"Info" + struct.pack(">III", 0x0F, n_frames, total_bytes) + toc + struct.pack(">I", 100 - 40 - quality)
    source_rate_bits = {32000: 0, 44100: 1, 48000: 2}[_MPEG1_RATES_HZ[(word >> 10) & 3]]
    lame = (
        version.ljust(9, b"\0")
        + bytes([0x01, 0])  # tag revision 0, VBR method 1 (constant bit rate); lowpass unknown
        + bytes(8)  # replay gain: peak and gains not computed
        + bytes([0, min(bit_rate_kbps, 255)])  # encoding flags and ATH type; bit rate
        + ((encoder_delay << 12) | padding).to_bytes(3, "big")
        + bytes([source_rate_bits << 6, 0, 0, 0])  # misc (source rate, mono, no noise shaping); MP3 gain; preset
        + struct.pack(">IH", total_bytes, 0)  # music length; music CRC (not computed)
    )
    body = header + bytes(_MONO_SIDE_INFO_BYTES) + xing + lame
    body += struct.pack(">H", crc16(body))
    return body + bytes(length - len(body))


def crc16(data: bytes) -> int:
    """CRC-16 of the LAME tag: polynomial 0x8005 reflected (0xA001), initial value 0 (CRC-16/ARC)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def id3v2_tag(texts: dict[str, str], title: str | None = None) -> bytes:
    """An ID3v2.4 tag with a TIT2 title and one TXXX frame per ``description -> value`` (UTF-8); b"" if empty."""
    frames = [] if title is None else [_id3_frame(b"TIT2", b"\x03" + title.encode())]
    frames += [_id3_frame(b"TXXX", b"\x03" + key.encode() + b"\0" + value.encode()) for key, value in texts.items()]
    if not frames:
        return b""
    body = b"".join(frames)
    return b"ID3\x04\x00\x00" + _syncsafe(len(body)) + body


def _id3_frame(frame_id: bytes, body: bytes) -> bytes:
    return frame_id + _syncsafe(len(body)) + b"\0\0" + body


def _syncsafe(size: int) -> bytes:
    if not 0 <= size < 1 << 28:
        raise ValueError(f"{size=} does not fit an ID3v2 syncsafe integer")
    return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _encoder_version(audio: bytes) -> bytes:
    """LAME's short version as it writes it into the ancillary data of its frames (e.g. ``LAME3.100``), else ``LAME``."""
    found = re.search(rb"LAME[0-9.]{0,5}", audio[: 4 * 1441])
    return b"LAME" if found is None else found[0]
