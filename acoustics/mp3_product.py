"""The MP3 product of a package: anti-alias resampling to 48 kHz, the sensor's fixed loudness, gapless encoding."""

from __future__ import annotations

from functools import cache

import numpy as np

from hydroserve.codecs import mp3, raw

from .loudness import CEILING_DBFS, Loudness
from .product_settings import ProductSettings
from .resample import LowpassSpec, PolyphaseResampler, design_lowpass
from .sensors import Calibration

MP3_RATE_HZ = 48_000
MP3_RESAMPLE_UP, MP3_RESAMPLE_DOWN = 768, 3125  # 195312.5 Hz * 768 / 3125 = 48000 Hz exactly
MP3_ANTI_ALIAS = LowpassSpec(passband_hz=20_000, stopband_hz=28_000, attenuation_db=80)
"""Audible band kept; everything that would fold below 20 kHz at 48 kHz (>= 28 kHz) is 80 dB down."""


@cache
def resampler() -> PolyphaseResampler:
    """195312.5 Hz -> 48 kHz with the :data:`MP3_ANTI_ALIAS` filter (designed once per process)."""
    rate_hz = float(raw.SAMPLE_RATE_HZ) * MP3_RESAMPLE_UP
    return PolyphaseResampler(design_lowpass(MP3_ANTI_ALIAS, rate_hz), MP3_RESAMPLE_UP, MP3_RESAMPLE_DOWN)


def make(runs: list[np.ndarray], settings: ProductSettings, calibration: Calibration | None = None, *,
         title: str | None = None) -> tuple[bytes, dict]:
    """A listenable, time-aligned MP3 of the runs, at the sensor's fixed loudness, and how it was made.

    The DC offset ``mean(x)`` (over all samples, float64) is removed; each run
    is resampled to 48 kHz by :func:`resampler` (linear-phase Kaiser FIR:
    0-20 kHz passed, >= 28 kHz attenuated by >= 80 dB, so nothing folds into
    the audible band; identical to ``scipy.signal.resample_poly(x, 768, 3125,
    window=taps)``, zero phase); runs are joined without filling gaps; the
    result is scaled by the sensor's fixed gain with a soft limiter
    (:mod:`.loudness`), rounded to int16 and encoded at constant bit rate
    with a LAME tag (:func:`hydroserve.codecs.mp3.encode`): a gapless
    decoder returns exactly the resampled samples, the first one at the
    package's first sample time. Gain, limiter activity and DC offset are
    also written into the MP3 as ID3v2 TXXX frames.

    Parameters
    ----------
    runs : list of numpy.ndarray
        Contiguous runs of samples (sample units).
    settings : ProductSettings
    calibration : Calibration or None
        The sensor's calibration (None: uncalibrated), which fixes the gain.
    title : str, optional
        ID3 title (the package id).
    """
    n_samples = sum(len(run) for run in runs)
    dc_offset = sum(float(run.sum(dtype=np.float64)) for run in runs) / n_samples if n_samples else 0.0
    polyphase = resampler()
    parts = [polyphase(run, dc_offset) for run in runs]
    resampled = parts[0] if len(parts) == 1 else np.concatenate(parts)
    loudness = settings.loudness.for_sensor(calibration)
    pcm, n_limited, peak_dbfs = loudness.apply(resampled)
    limiter = _limiter_text(loudness)
    tags = _id3_tags(loudness, limiter, dc_offset, n_limited, peak_dbfs)
    data = mp3.encode(pcm, sample_rate_hz=MP3_RATE_HZ, bit_rate_kbps=settings.mp3_bit_rate_kbps, quality=settings.mp3_quality,
                      tags=tags, title=title)
    details = _details(settings, loudness, limiter, polyphase, dc_offset, int(pcm.size), n_limited,
                       peak_dbfs if n_samples else None)
    return data, details


def _limiter_text(loudness: Loudness) -> str:
    return (
        f"soft: |u| <= k unchanged, above: sign(u) (k + (c - k) tanh((|u| - k) / (c - k))), u = gain x / 32767, "
        f"knee k = 10**({loudness.knee_dbfs:g}/20), ceiling c = 10**({CEILING_DBFS:g}/20)"
    )


def _id3_tags(loudness: Loudness, limiter: str, dc_offset: float, n_limited: int, peak_dbfs: float) -> dict[str, str]:
    """The ID3 TXXX frames that let anyone undo the processing."""
    return {
        "hydroserve_gain_counts_per_sample_unit": repr(loudness.gain),
        "hydroserve_gain_db": f"{loudness.gain_db:.6f}",
        "hydroserve_gain_rule": loudness.rule,
        "hydroserve_dc_offset_removed": repr(dc_offset),
        "hydroserve_limiter": limiter,
        "hydroserve_limiter_knee_dbfs": f"{loudness.knee_dbfs:g}",
        "hydroserve_samples_limited": str(n_limited),
        "hydroserve_peak_before_limiter_dbfs": f"{peak_dbfs:.3f}",
        "hydroserve_resampling": f"195312.5 Hz -> 48000 Hz, zero-phase polyphase FIR {MP3_RESAMPLE_UP}/{MP3_RESAMPLE_DOWN}",
    }


def _details(settings: ProductSettings, loudness: Loudness, limiter: str, polyphase: PolyphaseResampler, dc_offset: float,
             n_pcm: int, n_limited: int, peak_dbfs: float | None) -> dict:
    """How the MP3 was made, for /info."""
    spec = MP3_ANTI_ALIAS
    return {
        "sample_rate_hz": MP3_RATE_HZ,
        "bit_rate_kbps": settings.mp3_bit_rate_kbps,
        "lame_quality": settings.mp3_quality,
        "channels": 1,
        "n_samples": n_pcm,
        "duration_s": n_pcm / MP3_RATE_HZ,
        "dc_offset_removed": dc_offset,
        "gain": loudness.gain,
        "gain_db": loudness.gain_db,
        "gain_definition": "int16 counts per sample unit, applied after DC removal and resampling; fixed per sensor",
        "gain_rule": loudness.rule,
        "limiter": limiter,
        "limiter_knee_dbfs": loudness.knee_dbfs,
        "n_samples_limited": n_limited,
        "peak_before_limiter_dbfs": peak_dbfs,
        "id3_tags": "TIT2 = package id; TXXX hydroserve_* = gain, gain rule, DC offset, limiter and its activity",
        "time_alignment": (
            f"gapless: Xing/Info frame with LAME tag (encoder delay {mp3.ENCODER_DELAY_SAMPLES} samples, padding to whole "
            f"frames); decoders that read it (ffmpeg, libmpg123) skip that delay plus their own "
            f"{mp3.DECODER_DELAY_SAMPLES} and return exactly n_samples, sample i of each run at its start + i/48000 s "
            f"(zero-phase resampling)"
        ),
        "decoded_start_offset_s": 0.0,
        "resampler": (
            f"polyphase FIR {MP3_RESAMPLE_UP}/{MP3_RESAMPLE_DOWN} per contiguous run, Kaiser window, {polyphase.n_taps} taps: "
            f"0-{spec.passband_hz / 1000:g} kHz passed, >= {spec.stopband_hz / 1000:g} kHz "
            f"attenuated by >= {spec.attenuation_db:g} dB "
            f"(= scipy.signal.resample_poly(x, {MP3_RESAMPLE_UP}, {MP3_RESAMPLE_DOWN}, window=taps))"
        ),
        "gaps": "runs are joined back to back; gap positions are listed in /info",
    }
