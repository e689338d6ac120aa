"""The fast HMD spectral engine: the same band integrals as :func:`.hmd_spectrum.band_integrals_naive`, for less (``make bench``).

The definition needs the N-point DFT (N = 195,312 = 2^4 3 13 313) of every
Hann-windowed 1 s segment; the prime factor 313 makes that transform cost
about eight times a transform of the nearby length M = 196,608 = 2^16 3.
Per segment ``g = w x_m`` this engine computes one float64 rfft of length M
(``g`` zero-padded; four segments per call, which pocketfft vectorises), and
from it:

* above :data:`SPLIT_HZ` (10 kHz, a millidecade band edge): the periodogram
  on the M grid, ``|G(j/M)|^2``, integrated over the bands with the same
  overlap rule on M-grid bins. The M grid samples the same DTFT ``|G(nu)|^2``
  as the N grid, just at other points, so a band sum differs from the N-grid
  sum only by how the finite grids cut the band edges: for noise averaged
  over a minute (119 segments) below 0.01 dB for every band above 10 kHz (23
  or more bins wide; tested). A tone well inside a band gives the same power
  on both grids (Parseval) and its side lobes reach the neighbouring bands
  alike (tested: < 0.01 dB); a tone within ~3 bins of a band edge above 10 kHz
  is split between the two bands differently, by up to ~0.4 dB in the band
  getting the smaller share (their sum agrees): the one approximation.
* up to :data:`SPLIT_HZ`: the exact N-grid values ``G(k/N)``, k = 0 .. K. The
  M-point spectrum is filtered by a zero-phase low-pass ``h`` (1,297 taps,
  Kaiser, -110 dB stop band from ~11.6 kHz; h's length fits the M - N
  samples of padding, so ``g * h`` is a linear convolution), cut to the bins
  below 12.2 kHz and brought back to the time domain at 1/8 of the rate
  (irfft of length M/8): ``y[m] = (g * h)(8 m)``. Its chirp-z transform at
  ``nu_k = k/N`` (scipy.signal.CZT) is ``G(k/N) H(k/N)`` up to the stop-band
  residue; dividing by the exactly known ``H(k/N)`` gives ``G(k/N)``.
  Agreement with the naive engine: ~1e-6 dB (tested).

Everything stays in float64.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .hmd_plan import MinutePlan
from .hmd_spectrum import BandRows, GainAt, density_scale, hann, weights

TRANSFORM_SAMPLES = 196_608
"""M = 2^16 * 3: the fast transform length, >= N + the low-pass filter's length - 1."""
SPLIT_HZ = 10_000.0
"""A millidecade band edge (10**4): bands below come from exact N-grid values, bands above from the M grid."""
DECIMATION = 8
FILTER_TAPS = 1297
FILTER_CUTOFF_HZ = 11_100.0
FILTER_ATTENUATION_DB = 110.0
BATCH_SEGMENTS = 4


@lru_cache(maxsize=4)
def _low_path(segment_samples: int, sample_rate_hz: float):
    """The low-pass filter's M-grid response (bins 0..J), the chirp-z transform and ``1/|H(k/N)|^2`` for k = 0..K."""
    import scipy.fft
    import scipy.signal

    m = TRANSFORM_SAMPLES
    if FILTER_TAPS > m - segment_samples + 1:
        raise ValueError(f"{segment_samples=} leaves too little padding in a transform of {m} samples")
    beta = scipy.signal.kaiser_beta(FILTER_ATTENUATION_DB)
    taps = scipy.signal.firwin(FILTER_TAPS, FILTER_CUTOFF_HZ, window=("kaiser", beta), fs=sample_rate_hz)
    half = FILTER_TAPS // 2
    centred = np.zeros(m)  # h[n] at n mod m: zero phase, so its M-point DFT is real
    centred[: half + 1], centred[-half:] = taps[half:], taps[:half]
    decimated = m // DECIMATION
    h_m = scipy.fft.rfft(centred)[: decimated // 2].real
    low_bins = int(np.floor(SPLIT_HZ / (sample_rate_hz / segment_samples) + 0.5))
    # |H(k/N)| from the taps as they are (a delay of ``half`` samples changes only the phase)
    h_n = np.abs(scipy.signal.czt(taps, low_bins + 1, w=np.exp(-2j * np.pi / segment_samples)))
    czt = scipy.signal.CZT(decimated, low_bins + 1, w=np.exp(-2j * np.pi * DECIMATION / segment_samples))
    shift = -(-half // DECIMATION) + 1
    return h_m, czt, 1.0 / h_n**2, shift


def band_integrals_fast(runs: list[np.ndarray], plan: MinutePlan, rows: BandRows, gain_at: GainAt,
                        sample_rate_hz: float) -> np.ndarray:
    """Band integrals of each minute's Welch estimate, shape (minutes, rows): the definition of
    :mod:`.hmd_spectrum`, computed as the module docstring says."""
    import scipy.fft
    import scipy.sparse

    n, m = plan.segment_samples, TRANSFORM_SAMPLES
    window = hann(n)
    h_m, czt, inverse_h2, shift = _low_path(n, sample_rate_hz)
    n_low = len(inverse_h2)
    high = weights(rows.clipped(SPLIT_HZ, np.inf), gain_at, sample_rate_hz / m, m // 2 + 1) @ scipy.sparse.diags(
        density_scale(m, n, sample_rate_hz))
    low = weights(rows.clipped(-np.inf, SPLIT_HZ), gain_at, sample_rate_hz / n, n_low) @ scipy.sparse.diags(
        density_scale(n, n, sample_rate_hz)[:n_low] * inverse_h2)
    high_bins = slice(int(np.floor(SPLIT_HZ / (sample_rate_hz / m) - 0.5)), m // 2 + 1)
    high = high[:, high_bins]
    buffer = np.zeros((BATCH_SEGMENTS, m))  # the columns past n stay zero: the padding
    out = np.full((len(plan.minutes), len(rows)), np.nan)
    for row, segments in enumerate(plan.segments):
        if len(segments) == 0:
            continue
        high_pairs = np.zeros(2 * high.shape[1])  # |Z|^2 = re^2 + im^2, summed over the segments pair by pair
        low_total = np.zeros(n_low)
        for first in range(0, len(segments), BATCH_SEGMENTS):
            batch = segments[first : first + BATCH_SEGMENTS]
            windowed = buffer[: len(batch)]
            for index, (run, start) in enumerate(batch):
                np.multiply(runs[run][start : start + n], window, out=windowed[index, :n])
            spectrum = scipy.fft.rfft(windowed, axis=-1, workers=1)
            pairs = spectrum[:, high_bins].view(np.float64)  # re, im, re, im, ...
            high_pairs += np.einsum("ij,ij->j", pairs, pairs)
            decimated = scipy.fft.irfft(spectrum[:, : len(h_m)] * h_m, n=m // DECIMATION, axis=-1, workers=1)
            values = czt(np.roll(decimated, shift, axis=-1), axis=-1)
            low_total += (values.real**2 + values.imag**2).sum(axis=0)
        out[row] = (high @ high_pairs.reshape(-1, 2).sum(axis=1) + low @ low_total) / len(segments)
    return out
