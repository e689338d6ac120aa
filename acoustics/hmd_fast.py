"""The fast HMD spectral engine: the same band integrals as :func:`.hmd_spectrum.band_integrals_naive`, for less (``make bench``).

The definition needs the N-point DFT (N = 195,312 = 2^4 3 13 313) of every
Hann-windowed 1 s segment; the prime factor 313 makes that transform cost
about five times a transform of the nearby length M = 196,608 = 2^16 3, in
float64. Per segment this engine computes one rfft of length M of
``g' = w (x_m - c_m)`` (zero-padded; four segments per call, which pocketfft
vectorises), ``c_m`` the segment's mean: the constant's part ``c_m W``
(``W`` the window's DFT) is added back exactly where it is needed (below).
From that spectrum:

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
  getting the smaller share (their sum agrees): the one approximation. The
  mean's part there, ``c W(nu)`` with ``|W(nu)| < N / (2 pi (nu N)^3)``, is
  below 3.1e-8 |c| and left out.
* up to :data:`SPLIT_HZ`: the exact N-grid values ``G(k/N)``, k = 0 .. K. The
  M-point spectrum is filtered by a zero-phase low-pass ``h`` (1,297 taps,
  Kaiser, -110 dB stop band from ~11.6 kHz; h's length fits the M - N
  samples of padding, so ``g * h`` is a linear convolution), cut to the bins
  below 12.2 kHz and brought back to the time domain at 1/8 of the rate
  (irfft of length M/8): ``y[m] = (g * h)(8 m)``. Its DTFT at ``nu_k = k/N``,
  which is the DFT of length N/8 of ``y`` folded onto N/8 samples, is
  ``G'(k/N) H(k/N)`` up to a unit phase and the stop-band residue; ``|H(k/N)|^2`` is divided out exactly. On
  the N grid the Hann window's DFT is zero past bin 1, so ``c W`` is added to
  bins 0 and 1 only (with their phases).

Precision. The transforms run in float32 (three times faster than float64
here). Their rounding error is noise spread over all bins at about
``ROUNDING_FLOOR`` of the mean bin power of ``g'`` (subtracting the mean keeps
a DC offset out of it); a band far above that floor is exact to ~1e-4 dB
(tested against the float64 definition). A minute in which some band lies
closer to the floor than :data:`MIN_FLOOR_MARGIN` (a band more than ~85 dB
under the mean bin power, e.g. beside a strong low tone) is computed
again in float64, where the floor is 1e-18 lower: the result never depends on
float32's limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.sparse

from .hmd_plan import MinutePlan
from .hmd_spectrum import BandRows, GainAt, density_scale, hann, weights
from .resample import kaiser_beta, kaiser_lowpass

TRANSFORM_SAMPLES = 196_608
"""M = 2^16 * 3: the fast transform length, >= N + the low-pass filter's length - 1."""
SPLIT_HZ = 10_000.0
"""A millidecade band edge (10**4): bands below come from exact N-grid values, bands above from the M grid."""
DECIMATION = 8
FILTER_TAPS = 1297
FILTER_CUTOFF_HZ = 11_100.0
FILTER_ATTENUATION_DB = 110.0
BATCH_SEGMENTS = 4
OFFSET_STRIDE = 64
"""The constant taken out of a segment is the mean of every 64th sample: near the mean, which is all the rounding asks
for (the result is exact for any constant)."""
ROUNDING_FLOOR = {np.float32: 3e-14, np.float64: 1e-31}
"""Rounding noise of the transforms per bin, relative to the mean bin power of ``g'`` (float32 measured with pocketfft
for white noise, a random walk and a tone 110 dB over the noise: 1.9e-14 to 2.4e-14; float64 scaled by eps^2)."""
MIN_FLOOR_MARGIN = 1e5
"""A band's power must exceed its rounding floor (per-bin floor times its width in bins) this much: then the floor adds
at most 4e-5 dB, and scatters a one-bin band by < 0.03 dB in one segment, < 0.003 dB over a minute's 119."""


@dataclass(frozen=True)
class _LowPath:
    """What the exact N-grid values below :data:`SPLIT_HZ` are made with, in one precision (module docstring)."""

    h_m: np.ndarray
    """The low-pass filter's zero-phase response on the M grid, bins 0 .. M/16 - 1 (real)."""
    inverse_h2: np.ndarray
    """``1 / H(k/N)^2``, k = 0 .. K."""
    edge_phase: np.ndarray
    """The unit phases the roll leaves on bins 0 and 1 (:func:`_low_values`)."""
    edge_window_response: np.ndarray
    """``W(k/N) H(k/N)`` for k = 0, 1: what a constant 1 adds to bins 0 and 1 (W: the window's DFT)."""
    shift: int
    """The decimated samples are rolled by this much, so that the filter's leading half comes first."""


@lru_cache(maxsize=4)
def _low_path(segment_samples: int, sample_rate_hz: float, precision: type) -> _LowPath:
    m = TRANSFORM_SAMPLES
    if FILTER_TAPS > m - segment_samples + 1 or segment_samples % DECIMATION:
        raise ValueError(f"{segment_samples=} must be a multiple of {DECIMATION} that leaves room for the filter in a "
                         f"transform of {m} samples")
    taps = kaiser_lowpass(FILTER_TAPS, FILTER_CUTOFF_HZ, kaiser_beta(FILTER_ATTENUATION_DB), sample_rate_hz)
    half = FILTER_TAPS // 2

    def response(length: int, n_bins: int) -> np.ndarray:
        """H at j / length, j < n_bins: the DFT of h[n] placed at n mod length (zero phase, so real)."""
        centred = np.zeros(length)
        centred[: half + 1], centred[-half:] = taps[half:], taps[:half]
        return scipy.fft.rfft(centred)[:n_bins].real

    h_m = response(m, m // DECIMATION // 2)
    low_bins = int(np.floor(SPLIT_HZ / (sample_rate_hz / segment_samples) + 0.5))
    h_n = response(segment_samples, low_bins + 1)
    shift = -(-half // DECIMATION) + 1
    # rolled sample n is the decimated sample of time n - shift: its DFT at bin k carries exp(-2 pi i k 8 shift / N)
    edge_phase = np.exp(-2j * np.pi * np.arange(2) * DECIMATION * shift / segment_samples)
    # the periodic Hann window's N-point DFT: N/2 at bin 0, -N/4 at bins +-1, zero elsewhere
    edge_window_response = np.array([segment_samples / 2, -segment_samples / 4]) * h_n[:2]
    return _LowPath(h_m.astype(precision), 1.0 / h_n**2, edge_phase, edge_window_response, shift)


@dataclass(frozen=True)
class _Matrices:
    """Bins to band integrals: ``high`` (M-grid bins above the split, as re/im pairs), ``low`` (N-grid bins up to it),
    and the same without calibration or density scale, in Hz (``high_hz``, ``low_hz``) for the precision check, with
    each row's width in Hz (``width_hz``)."""

    high_bins: slice
    high: scipy.sparse.csr_matrix
    low: scipy.sparse.csr_matrix
    high_hz: scipy.sparse.csr_matrix
    low_hz: scipy.sparse.csr_matrix

    @property
    def width_hz(self) -> np.ndarray:
        return self.high_hz.sum(axis=1).A1 + self.low_hz.sum(axis=1).A1


def band_integrals_fast(runs: list[np.ndarray], plan: MinutePlan, rows: BandRows, gain_at: GainAt,
                        sample_rate_hz: float) -> np.ndarray:
    """Band integrals of each minute's Welch estimate, shape (minutes, rows): the definition of
    :mod:`.hmd_spectrum`, computed as the module docstring says."""
    n, m = plan.segment_samples, TRANSFORM_SAMPLES
    inverse_h2 = _low_path(n, sample_rate_hz, np.float32).inverse_h2
    n_low = len(inverse_h2)
    high_bins = slice(int(np.floor(SPLIT_HZ / (sample_rate_hz / m) - 0.5)), m // 2 + 1)
    above, below = rows.clipped(SPLIT_HZ, np.inf), rows.clipped(-np.inf, SPLIT_HZ)
    no_gain = lambda f: np.ones_like(f)  # noqa: E731
    low_scale = density_scale(n, n, sample_rate_hz)[:n_low] * inverse_h2
    matrices = _Matrices(
        high_bins,
        (weights(above, gain_at, sample_rate_hz / m, m // 2 + 1) @ scipy.sparse.diags(density_scale(m, n, sample_rate_hz)))
        [:, high_bins].tocsr(),
        (weights(below, gain_at, sample_rate_hz / n, n_low) @ scipy.sparse.diags(low_scale)).tocsr(),
        weights(above, no_gain, sample_rate_hz / m, m // 2 + 1)[:, high_bins].tocsr(),
        weights(below, no_gain, sample_rate_hz / n, n_low),
    )
    width_hz = matrices.width_hz
    out = np.full((len(plan.minutes), len(rows)), np.nan)
    for row, segments in enumerate(plan.segments):
        if len(segments) == 0:
            continue
        for precision in (np.float32, np.float64):
            integrals, resolved = _minute(runs, segments, n, sample_rate_hz, matrices, width_hz, precision)
            if resolved:
                break
        out[row] = integrals
    return out


def _minute(runs: list[np.ndarray], segments: np.ndarray, n: int, sample_rate_hz: float, matrices: _Matrices,
            width_hz: np.ndarray, precision: type) -> tuple[np.ndarray, bool]:
    """One minute's band integrals in ``precision``, and whether every band lies clear of its rounding floor."""
    low_path = _low_path(n, sample_rate_hz, precision)
    window = hann(n).astype(precision)
    buffer = np.zeros((BATCH_SEGMENTS, TRANSFORM_SAMPLES), dtype=precision)  # the columns past n stay zero: the padding
    high_pairs = np.zeros(2 * (matrices.high.shape[1]))  # |G|^2 = re^2 + im^2, summed over the segments pair by pair
    low_total = np.zeros(len(low_path.inverse_h2))
    energy = 0.0  # sum of g'^2 over the segments: their mean bin power
    for first in range(0, len(segments), BATCH_SEGMENTS):
        batch = segments[first : first + BATCH_SEGMENTS]
        windowed = buffer[: len(batch)]
        offsets = np.empty(len(batch))
        for index, (run, start) in enumerate(batch):
            x = runs[run][start : start + n]
            offsets[index] = x[::OFFSET_STRIDE].mean(dtype=np.float64)
            np.multiply(np.subtract(x, offsets[index], out=windowed[index, :n]), window, out=windowed[index, :n])
            energy += float(np.dot(windowed[index, :n], windowed[index, :n]))
        spectrum = scipy.fft.rfft(windowed, axis=-1, workers=1)
        pairs = spectrum[:, matrices.high_bins].view(precision)  # re, im, re, im, ...
        high_pairs += np.einsum("ij,ij->j", pairs, pairs)
        values = _low_values(spectrum, low_path, n).astype(np.complex128)
        values[:, :2] = values[:, :2] / low_path.edge_phase + offsets[:, None] * low_path.edge_window_response
        low_total += (values.real**2 + values.imag**2).sum(axis=0)
    high_power = high_pairs.reshape(-1, 2).sum(axis=1)
    band_power = matrices.high_hz @ high_power + matrices.low_hz @ (low_total * low_path.inverse_h2)
    floor = ROUNDING_FLOOR[precision] * energy * width_hz
    resolved = bool(np.all(band_power >= MIN_FLOOR_MARGIN * floor))
    return (matrices.high @ high_power + matrices.low @ low_total) / len(segments), resolved


def _low_values(spectrum: np.ndarray, low_path: _LowPath, segment_samples: int) -> np.ndarray:
    """``phase_k G'(k/N) H(k/N)``, k = 0 .. K, of each row of ``spectrum`` (the M-point DFTs): low-pass, decimate,
    then the DFT of length N/8 of the decimated samples folded onto it (their DTFT at k/N: module docstring); the
    phases have modulus 1 (bins 0 and 1: ``low_path.edge_phase``)."""
    decimated = scipy.fft.irfft(spectrum[:, : len(low_path.h_m)] * low_path.h_m, n=TRANSFORM_SAMPLES // DECIMATION,
                                axis=-1, workers=1)
    rolled = np.roll(decimated, low_path.shift, axis=-1)
    period = segment_samples // DECIMATION
    folded = rolled[:, :period]
    folded[:, : rolled.shape[1] - period] += rolled[:, period:]
    return scipy.fft.rfft(folded, axis=-1, workers=1)[:, : len(low_path.inverse_h2)]
