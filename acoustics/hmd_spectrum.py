"""Per-minute Welch spectra integrated over frequency bands: the definition and the reference engine.

For the segments ``x_m`` (``N`` samples each, not detrended, as mbari-pbp
and pypam do) of one minute (:mod:`.hmd_plan`), the one-sided power spectral
density of segment ``m`` at bin ``k`` (``f_k = k fs / N``) is

    P_m(k) = c_k |DFT(w x_m)(k)|^2 / (fs sum(w^2)),   c_k = 2 except c_0 = c_{N/2} = 1,

with the periodic Hann window ``w_n = 1/2 - 1/2 cos(2 pi n / N)`` (what
``scipy.signal.welch(x, fs, window="hann", nperseg=N, noverlap=N//2,
detrend=False)`` averages). The minute's Welch estimate ``P(k)`` is the mean
over its segments. The integral of a band ``[lo, hi]`` is

    I = sum_k overlap_k g(f_k) P(k),

``overlap_k`` the Hz of bin ``k`` (taken to cover ``f_k +- fs/2N``) inside
the band (:func:`.hmd_bands.overlap_matrix`) and ``g`` the calibration's
power gain. Minutes without a segment give NaN.

:func:`band_integrals_naive` computes this literally, one float64 rfft of
length N per segment: the reference that :mod:`.hmd_fast` is checked and
timed against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.sparse

from . import psd
from .hmd_bands import overlap_matrix
from .hmd_plan import MinutePlan

GainAt = Callable[[np.ndarray], np.ndarray]
"""Linear power gain (calibration) at frequencies in Hz."""


@dataclass(frozen=True, eq=False)
class BandRows:
    """The frequency intervals to integrate over, ``[lower_hz[i], upper_hz[i]]`` (may overlap); the calibration gain
    applies to the rows where ``calibrated`` is true (all by default)."""

    lower_hz: np.ndarray
    upper_hz: np.ndarray
    calibrated: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.lower_hz)

    def clipped(self, fmin_hz: float, fmax_hz: float) -> BandRows:
        """The parts of the intervals inside ``[fmin_hz, fmax_hz]`` (empty ones stay, with upper <= lower)."""
        return BandRows(np.clip(self.lower_hz, fmin_hz, fmax_hz), np.clip(self.upper_hz, fmin_hz, fmax_hz), self.calibrated)


@lru_cache(maxsize=4)
def hann(segment_samples: int) -> np.ndarray:
    """The periodic Hann window (float64; cached, so read-only)."""
    window = psd.hann(segment_samples)
    window.flags.writeable = False
    return window


def density_scale(transform_samples: int, segment_samples: int, sample_rate_hz: float) -> np.ndarray:
    """``c_k / (fs sum(w^2))`` per bin of a ``transform_samples``-point DFT of a Hann-windowed ``segment_samples``
    segment (zero-padded): turns ``|DFT|^2`` into a one-sided density, unit^2/Hz."""
    window = hann(segment_samples)
    scale = np.full(transform_samples // 2 + 1, 2.0 / (sample_rate_hz * float(window @ window)))
    scale[0] /= 2
    if transform_samples % 2 == 0:
        scale[-1] /= 2
    return scale


def weights(rows: BandRows, gain_at: GainAt, bin_width_hz: float, n_bins: int) -> scipy.sparse.csr_matrix:
    """``overlap_k g(f_k)`` (``overlap_k`` in rows not calibrated) for bins of width ``bin_width_hz``: (rows x bins)."""
    overlap = overlap_matrix(rows.lower_hz, rows.upper_hz, bin_width_hz, n_bins)
    gain = gain_at(np.arange(n_bins) * bin_width_hz)
    if rows.calibrated is None:
        return (overlap @ scipy.sparse.diags(gain)).tocsr()
    calibrated = rows.calibrated.astype(np.float64)
    return (scipy.sparse.diags(calibrated) @ overlap @ scipy.sparse.diags(gain)
            + scipy.sparse.diags(1 - calibrated) @ overlap).tocsr()


def band_integrals_naive(runs: list[np.ndarray], plan: MinutePlan, rows: BandRows, gain_at: GainAt,
                         sample_rate_hz: float) -> np.ndarray:
    """Band integrals of each minute's Welch estimate, shape (minutes, rows), by the definition (module docstring).

    Parameters
    ----------
    runs : list of numpy.ndarray
        The package's contiguous runs of samples (float32 or float64).
    plan : MinutePlan
    rows : BandRows
    gain_at : callable
    sample_rate_hz : float
    """
    n = plan.segment_samples
    window = hann(n)
    matrix = weights(rows, gain_at, sample_rate_hz / n, n // 2 + 1) @ scipy.sparse.diags(density_scale(n, n, sample_rate_hz))
    out = np.full((len(plan.minutes), len(rows)), np.nan)
    for row, segments in enumerate(plan.segments):
        if len(segments) == 0:
            continue
        total = np.zeros(n // 2 + 1)
        for run, start in segments:
            spectrum = scipy.fft.rfft(runs[run][start : start + n] * window)
            total += spectrum.real**2 + spectrum.imag**2
        out[row] = matrix @ (total / len(segments))
    return out
