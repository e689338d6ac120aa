"""Noise level in frequency bands, for following a sensor's noise across packages.

The level of a PSD statistic ``P`` (e.g. the per-frequency median across
Welch segments) in a band ``[f_lo, f_hi]`` is the band-averaged spectral
density

    L = 10 log10( (1 / K) * sum_{f_k in [f_lo, f_hi]} P(f_k) ),

over the ``K`` frequencies of the PSD in the band, in dB re 1 (sample
unit)^2/Hz (add the calibration offset for dB re 1 uPa^2/Hz). Averaging is
done in the linear domain, like the PSD itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hydroserve.codecs.psdjson import STATISTICS

from .psd import Psd, to_db


@dataclass(frozen=True)
class Band:
    """A frequency band ``[fmin_hz, fmax_hz]``; ``fmax_hz=None`` reaches the Nyquist frequency."""

    fmin_hz: float
    fmax_hz: float | None

    def __post_init__(self):
        if self.fmin_hz < 0 or (self.fmax_hz is not None and self.fmax_hz <= self.fmin_hz):
            raise ValueError(f"band fmin_hz={self.fmin_hz}, fmax_hz={self.fmax_hz} must satisfy 0 <= fmin_hz < fmax_hz")

    @property
    def label(self) -> str:
        """E.g. ``1–10 kHz``, ``50 kHz–Nyquist``."""
        if self.fmax_hz is None:
            return f"{self.fmin_hz / 1000:g} kHz–Nyquist"
        return f"{self.fmin_hz / 1000:g}–{self.fmax_hz / 1000:g} kHz"


# shipping (< 1 kHz), wind and sea state (1-10 kHz), the band of acoustic neutrino
# pulses (10-50 kHz), thermal noise of the sea and the electronics (> 50 kHz)
DEFAULT_BANDS = (Band(100, 1000), Band(1000, 10_000), Band(10_000, 50_000), Band(50_000, None))


def band_levels_db(result: Psd, bands: tuple[Band, ...], statistic: str = "median") -> np.ndarray:
    """Band-averaged level of ``statistic`` (mean, median, p75 or p95) in each band, dB re 1 (sample unit)^2/Hz.

    Raises
    ------
    ValueError
        For an unknown statistic, or a band that holds no frequency of the PSD.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"{statistic=} must be one of {STATISTICS}")
    levels = []
    for band in bands:
        level = _band_level_db(result, band, statistic)
        if level is None:
            raise ValueError(f"band {band.label} holds no frequency of a PSD with nfft={result.nfft}")
        levels.append(level)
    return np.array(levels)


def broadband_level_db(result: Psd) -> float:
    """Mean-square level of the package from its Welch mean PSD, in dB re 1 (sample unit)^2:

        L = 10 log10( sum_k P_mean(f_k) * Δf ),   Δf = fs / nfft,

    over every frequency 0 .. Nyquist (Parseval: the variance of the detrended samples; the RMS sound pressure level
    in dB re 1 uPa once the calibration offset is added)."""
    resolution_hz = float(result.frequency_hz[1] - result.frequency_hz[0])
    return float(to_db(np.sum(result.mean) * resolution_hz))


def level_summary(result: Psd) -> dict:
    """What a detector overview colours a sensor by, kept with the package's PSD: the broadband level and the median
    levels in :data:`DEFAULT_BANDS` (None for a band no frequency of the PSD falls into), uncalibrated (the calibration
    offset is added when they are shown)."""
    return {
        "broadband_db": broadband_level_db(result),
        "bands_hz": [[band.fmin_hz, band.fmax_hz] for band in DEFAULT_BANDS],
        "band_median_db": [_band_level_db(result, band, "median") for band in DEFAULT_BANDS],
        "unit": "dB re 1 (sample unit)^2 (broadband) and dB re 1 (sample unit)^2/Hz (bands), before calibration",
    }


def _band_level_db(result: Psd, band: Band, statistic: str) -> float | None:
    """The band-averaged level of ``statistic``, or None when no frequency of the PSD is in the band."""
    values = getattr(result.band(band.fmin_hz, band.fmax_hz), statistic)
    return float(to_db(np.mean(values))) if len(values) else None
