"""MPEG-1 Layer III encoding of mono int16 PCM (LAME through lameenc).

MPEG Layer III accepts 8-48 kHz only; resampling (with an anti-alias filter)
is the caller's job, done before this function: LAME's own resampler aliases.
lameenc reads int16 little-endian bytes only, so the input type is checked.
"""

from __future__ import annotations

import lameenc
import numpy as np

MEDIA_TYPE = "audio/mpeg"
SAMPLE_RATES_HZ = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
BIT_RATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


def encode(pcm: np.ndarray, *, sample_rate_hz: int, bit_rate_kbps: int = 128, quality: int = 7) -> bytes:
    """Encode mono int16 samples to an MP3 byte string (constant bit rate).

    Parameters
    ----------
    pcm : numpy.ndarray
        1-D int16 samples.
    sample_rate_hz : int
        One of :data:`SAMPLE_RATES_HZ`; also the output rate (no resampling here).
    bit_rate_kbps : int
        One of :data:`BIT_RATES_KBPS`.
    quality : int
        LAME algorithm quality, 0 (best, slowest) to 9 (fastest); 7 is LAME's
        "fast" setting (psychoacoustic model still used, no noise shaping).
    """
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError(f"pcm must be 1-D int16, not {pcm.ndim}-D {pcm.dtype}")
    if sample_rate_hz not in SAMPLE_RATES_HZ:
        raise ValueError(f"{sample_rate_hz=} must be one of {SAMPLE_RATES_HZ} (MPEG Layer III)")
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
    return bytes(encoder.encode(pcm.astype("<i2", copy=False).tobytes()) + encoder.flush())
