"""Per-minute Welch spectra integrated over frequency bands (the spectral engine of the HMD product).

For the segments ``x_m`` (``N`` samples each, not detrended, as mbari-pbp
and pypam do) of one minute (:mod:`.hmd_plan`), the one-sided power spectral
density of segment ``m`` at bin ``k`` (``f_k = k fs / N``) is

    P_m(k) = c_k |DFT(w x_m)(k)|^2 / (fs sum(w^2)),   c_k = 2 except c_0 = c_{N/2} = 1,

with the periodic Hann window ``w_n = 1/2 - 1/2 cos(2 pi n / N)`` (what
``scipy.signal.welch(x, fs, window="hann", nperseg=N, noverlap=N//2,
detrend=False)`` averages). The minute's Welch estimate is the mean over its
segments, ``P(k)``; a band's integral is ``sum_k weight[band, k] P(k)`` with a
weight matrix built from :func:`.hmd_bands.overlap_matrix` (Hz of bin ``k``
inside the band, times the calibration gain at ``f_k``). Minutes without a
segment give NaN.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.signal

from .hmd_plan import MinutePlan


def hann(segment_samples: int) -> np.ndarray:
    """The periodic Hann window (float64)."""
    return scipy.signal.get_window("hann", segment_samples, fftbins=True)


def density_scale(segment_samples: int, sample_rate_hz: float) -> np.ndarray:
    """``c_k / (fs sum(w^2))`` per bin: turns ``|DFT(w x)|^2`` into a one-sided density, unit^2/Hz."""
    window = hann(segment_samples)
    scale = np.full(segment_samples // 2 + 1, 2.0 / (sample_rate_hz * float(window @ window)))
    scale[0] /= 2
    scale[-1] /= 2
    return scale


def band_integrals_naive(samples: np.ndarray, plan: MinutePlan, weights, sample_rate_hz: float) -> np.ndarray:
    """Band integrals ``weights @ P`` of each minute's Welch estimate ``P``, shape (minutes, bands): one float64
    rfft of length N per segment (the reference the fast engine is checked and timed against).

    Parameters
    ----------
    samples : numpy.ndarray
        The package's samples (float32 or float64), runs back to back.
    plan : MinutePlan
    weights : scipy.sparse matrix, shape (bands, N/2 + 1)
    sample_rate_hz : float
    """
    n = plan.segment_samples
    window = hann(n)
    scale = density_scale(n, sample_rate_hz)
    out = np.full((len(plan.minutes), weights.shape[0]), np.nan)
    for row, starts in enumerate(plan.segment_starts):
        if len(starts) == 0:
            continue
        total = np.zeros(n // 2 + 1)
        for start in starts:
            spectrum = scipy.fft.rfft(samples[start : start + n] * window)
            total += spectrum.real**2 + spectrum.imag**2
        out[row] = weights @ (total * scale / len(starts))
    return out
