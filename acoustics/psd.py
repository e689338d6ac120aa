"""Power spectral density by Welch segments, with per-frequency quantiles across segments.

For each contiguous run of samples ``x`` (segments never span a gap), the
segments are ``x[m*h : m*h + nfft]`` with hop ``h = nfft // 2`` (50 %
overlap). Each segment is detrended by its mean, multiplied by the periodic
Hann window ``w`` and transformed; its one-sided power spectral density is

    P_m(f_k) = c_k * |X_m(f_k)|^2 / (fs * sum(w^2)),   f_k = k * fs / nfft,

with ``c_k = 2`` except ``c_0 = c_{nfft/2} = 1`` — exactly what
``scipy.signal.spectrogram(x, fs, window="hann", nperseg=nfft,
noverlap=nfft//2, detrend="constant", scaling="density")`` returns per
segment. Across all segments ``m`` of all runs:

* ``mean``  = average of P_m (the Welch estimate, ``scipy.signal.welch``);
* ``median``, ``p75``, ``p95`` = quantiles of P_m per frequency, exact, with
  numpy's default ("linear") interpolation between order statistics.

Statistics are taken in the linear domain; :func:`to_db` converts to
``10 log10``. The unit is (sample unit)^2/Hz; calibration is applied by the
caller as a dB offset.

Speed: segments are a strided view on the samples (overlap is not copied),
windowed and transformed in blocks of segments with float64 FFTs on all
cores (float32 transforms miss the 1e-4 dB target in the quietest bins); the power matrix is kept frequency-major so that the quantile
selection runs on contiguous rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

QUANTILES = {"median": 0.5, "p75": 0.75, "p95": 0.95}
_BLOCK_SEGMENTS = 256


@dataclass(frozen=True)
class Psd:
    """PSD statistics of a sample sequence.

    Attributes
    ----------
    frequency_hz : numpy.ndarray
        ``k * fs / nfft`` for k = 0 .. nfft/2.
    mean, median, p75, p95 : numpy.ndarray
        Linear power spectral density, (sample unit)^2/Hz, float64.
    nfft : int
        Segment length in samples.
    n_segments : int
        Segments averaged (over all runs).
    effort_s : float
        Seconds of data covered by the segments.
    """

    frequency_hz: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    p75: np.ndarray
    p95: np.ndarray
    nfft: int
    n_segments: int
    effort_s: float

    @property
    def overlap_samples(self) -> int:
        return self.nfft // 2

    def band(self, fmin_hz: float | None, fmax_hz: float | None) -> Psd:
        """The same statistics for frequencies in [fmin_hz, fmax_hz]."""
        lo = 0 if fmin_hz is None else int(np.searchsorted(self.frequency_hz, fmin_hz, side="left"))
        hi = len(self.frequency_hz) if fmax_hz is None else int(np.searchsorted(self.frequency_hz, fmax_hz, side="right"))
        pick = slice(lo, hi)
        return Psd(
            self.frequency_hz[pick], self.mean[pick], self.median[pick], self.p75[pick], self.p95[pick],
            self.nfft, self.n_segments, self.effort_s,
        )


def check_nfft(nfft: int) -> int:
    """Return ``nfft`` if it is an even segment length in [16, 2**20]; raise ValueError otherwise."""
    if not isinstance(nfft, int | np.integer) or nfft < 16 or nfft > 2**20 or nfft % 2:
        raise ValueError(f"{nfft=} must be an even number of samples between 16 and 1048576")
    return int(nfft)


def segment_count(n_samples: int, nfft: int) -> int:
    """Welch segments of ``nfft`` samples at 50 % overlap in a run of ``n_samples``."""
    return 0 if n_samples < nfft else (n_samples - nfft) // (nfft // 2) + 1


def welch_quantiles(runs, sample_rate_hz: Fraction | float, nfft: int = 8192) -> Psd:
    """Welch mean and per-frequency quantiles across segments of contiguous runs.

    Parameters
    ----------
    runs : sequence of numpy.ndarray
        Contiguous runs of samples (1-D, float32 or float64); segments do not
        cross from one run to the next.
    sample_rate_hz : Fraction or float
        Sampling rate ``fs``.
    nfft : int
        Segment length, even; hop is ``nfft // 2``.

    Returns
    -------
    Psd

    Raises
    ------
    ValueError
        If no run holds a whole segment.
    """
    nfft = check_nfft(nfft)
    fs = float(sample_rate_hz)
    hop = nfft // 2
    counts = [segment_count(len(run), nfft) for run in runs]
    n_segments = sum(counts)
    if n_segments == 0:
        raise ValueError(f"no contiguous run holds one segment of {nfft=} samples")
    window = signal.get_window("hann", nfft)
    scale = np.full(nfft // 2 + 1, 2.0 / (fs * float(np.sum(window**2))))
    scale[0] /= 2
    scale[-1] /= 2

    power = np.empty((nfft // 2 + 1, n_segments), dtype=np.float32)
    column = 0
    for run, count in zip(runs, counts):
        if count == 0:
            continue
        segments = sliding_window_view(np.asarray(run), nfft)[::hop][:count]
        for first in range(0, count, _BLOCK_SEGMENTS):
            block = segments[first : first + _BLOCK_SEGMENTS]
            centred = block - block.mean(axis=1, dtype=np.float64, keepdims=True)
            centred *= window
            spectrum = scipy.fft.rfft(centred, axis=1, workers=-1, overwrite_x=True)
            block_power = spectrum.real**2 + spectrum.imag**2
            power[:, column : column + len(block)] = (block_power * scale).T
            column += len(block)

    mean = power.mean(axis=1, dtype=np.float64)
    median, p75, p95 = exact_quantiles(power, tuple(QUANTILES.values()))
    frequency_hz = np.arange(nfft // 2 + 1) * (fs / nfft)
    effort_s = sum((count - 1) * hop + nfft for count in counts if count) / fs
    return Psd(frequency_hz, mean, median, p75, p95, nfft, n_segments, effort_s)


def exact_quantiles(values: np.ndarray, quantiles: tuple[float, ...]) -> list[np.ndarray]:
    """Per-row quantiles of a 2-D array, numpy's "linear" method, as float64.

    For ``n`` values sorted ascending ``v``, quantile ``q`` is
    ``v[j] + g * (v[j+1] - v[j])`` with ``j = floor(q * (n - 1))`` and
    ``g = q * (n - 1) - j``; the needed order statistics are found by
    partial sorting (``numpy.partition``), not a full sort.
    """
    n = values.shape[1]
    positions = [q * (n - 1) for q in quantiles]
    kth = sorted({min(int(p) + d, n - 1) for p in positions for d in (0, 1)})
    ordered = np.partition(values, kth, axis=1)
    result = []
    for p in positions:
        j = int(p)
        g = p - j
        lower = ordered[:, j].astype(np.float64)
        upper = ordered[:, min(j + 1, n - 1)].astype(np.float64)
        result.append(lower + g * (upper - lower))
    return result


def to_db(power: np.ndarray) -> np.ndarray:
    """``10 log10(power)``; zero power gives -inf."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(power)
