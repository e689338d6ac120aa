"""Hybrid millidecade (HMD) and decidecade frequency bands.

Hybrid millidecade bands (Martin et al. 2021, JASA Express Letters 1,
011203) are the DFT bins of a 1 s segment at low frequency and millidecade
bands above, where a millidecade band becomes wider than a bin.

The rule, for a segment of ``N`` samples (:func:`hmd_bands`):

* The nominal bin width is ``b = floor(fs) / N`` Hz: the rate as the integer
  WAV header gives it (195312 Hz for 195312.5 Hz), so 1 s segments of
  195,312 samples have bands exactly 1 Hz wide, centred on whole hertz --
  the bands mbari-pbp (and pypam's ``get_hybrid_millidecade_limits``) make
  for the WAV files of this service.
* Millidecade band ``n`` (any integer) is centred at
  ``c_n = 10**(1 + (2n - 1)/2000)`` Hz, with edges ``c_n * 10**(+-1/2000)``,
  width ``c_n * (10**(1/2000) - 10**(-1/2000)) ~= 0.0023026 c_n``. No centre
  falls on 1 kHz.
* The switch: ``n0`` is the first millidecade band at least ``b`` wide
  (centre >= 434.29 Hz for b = 1 Hz, so ``c_n0 = 435.011`` Hz). Starting
  from ``(n, L) = (n0, round(c_n0 / b))``, ``n`` and ``L`` advance together
  while ``|L b - c_n|`` keeps decreasing (this aligns the last linear bin
  with the first millidecade centre; at 1 Hz it stays at ``n0``, ``L = 435``).
* The linear bands are ``k b`` for ``k = 0 .. L-1`` (0 .. 434 Hz), with
  lower edge ``k b - b/2``; millidecade bands follow from ``n`` upwards as
  long as their lower edge lies below the Nyquist frequency ``fs / 2``.
  Every band reaches up to the next band's lower edge (so the last 1 Hz band
  is ``[433.5, 434.510]`` Hz), the last one to ``fs / 2`` (97,656.25 Hz).

At 195312.5 Hz and N = 195,312 this gives 2,787 bands, the last centred at
97,611.28 Hz -- the centres of mbari-pbp 1.9 for this service's WAV files.

Decidecade bands (:func:`decidecade_bands`) are the IEC 61260-1 base-10
bands: centre ``10**(n/10)`` Hz (exact, not the rounded nominal values),
edges ``centre * 10**(+-1/20)``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse

MILLIDECADE_HALF_RATIO = 10 ** (1 / 2000)
"""Upper edge / centre of a millidecade band."""
DECIDECADE_HALF_RATIO = 10 ** (1 / 20)
"""Upper edge / centre of a decidecade band."""


@dataclass(frozen=True, eq=False)
class HmdBands:
    """Hybrid millidecade bands: centres and edges in Hz (float64, one value per band).

    Attributes
    ----------
    centre_hz, lower_hz, upper_hz : numpy.ndarray
    n_linear : int
        The first ``n_linear`` bands are the linear (DFT bin) bands.
    bin_width_hz : float
        Their nominal width ``b``.
    """

    centre_hz: np.ndarray
    lower_hz: np.ndarray
    upper_hz: np.ndarray
    n_linear: int
    bin_width_hz: float

    @property
    def width_hz(self) -> np.ndarray:
        return self.upper_hz - self.lower_hz

    def __len__(self) -> int:
        return len(self.centre_hz)


def _millidecade_centre_hz(n):
    return 10 ** (1 + (2 * np.asarray(n, dtype=np.float64) - 1) / 2000)


@lru_cache(maxsize=8)
def hmd_bands(sample_rate_hz: float = 195312.5, segment_samples: int = 195312) -> HmdBands:
    """The hybrid millidecade bands of segments of ``segment_samples`` at ``sample_rate_hz`` (rule: module docstring).

    Raises
    ------
    ValueError
        When the rate or segment length is not positive, or the segment is so short that no millidecade band is
        wider than a bin below the Nyquist frequency.
    """
    if not sample_rate_hz > 0 or segment_samples < 2:
        raise ValueError(f"{sample_rate_hz=} must be positive and {segment_samples=} at least 2")
    nyquist_hz = sample_rate_hz / 2
    bin_width_hz = math.floor(sample_rate_hz) / segment_samples
    width_factor = MILLIDECADE_HALF_RATIO - 1 / MILLIDECADE_HALF_RATIO
    n = math.ceil(1000 * math.log10(bin_width_hz / width_factor) - 999.5)
    while _millidecade_centre_hz(n) * width_factor < bin_width_hz:  # guard the rounding of the closed form
        n += 1
    while _millidecade_centre_hz(n - 1) * width_factor >= bin_width_hz:
        n -= 1
    n_linear = round(float(_millidecade_centre_hz(n)) / bin_width_hz)

    def distance_hz(band: int, bins: int) -> float:
        return abs(bins * bin_width_hz - float(_millidecade_centre_hz(band)))

    while distance_hz(n + 1, n_linear + 1) < distance_hz(n, n_linear):
        n, n_linear = n + 1, n_linear + 1
    first_lower_hz = float(_millidecade_centre_hz(n)) / MILLIDECADE_HALF_RATIO
    if first_lower_hz >= nyquist_hz:
        raise ValueError(f"{segment_samples=} at {sample_rate_hz=} leaves no millidecade band below the Nyquist frequency")
    # millidecade band m is kept while its lower edge c_m 10**(-1/2000) = 10**(1 + (m - 1)/1000) is below Nyquist
    n_last = math.ceil(1000 * (math.log10(nyquist_hz) - 1)) + 1
    while _millidecade_centre_hz(n_last) / MILLIDECADE_HALF_RATIO >= nyquist_hz:
        n_last -= 1
    while _millidecade_centre_hz(n_last + 1) / MILLIDECADE_HALF_RATIO < nyquist_hz:
        n_last += 1
    millidecade_hz = _millidecade_centre_hz(np.arange(n, n_last + 1))
    centre_hz = np.concatenate([np.arange(n_linear) * bin_width_hz, millidecade_hz])
    lower_hz = np.concatenate([np.arange(n_linear) * bin_width_hz - bin_width_hz / 2, millidecade_hz / MILLIDECADE_HALF_RATIO])
    upper_hz = np.append(lower_hz[1:], min(float(millidecade_hz[-1]) * MILLIDECADE_HALF_RATIO, nyquist_hz))
    centre_hz[-1] = min(centre_hz[-1], nyquist_hz)
    for array in (centre_hz, lower_hz, upper_hz):
        array.setflags(write=False)
    return HmdBands(centre_hz, lower_hz, upper_hz, n_linear, bin_width_hz)


def decidecade_bands(fmin_hz: float, fmax_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IEC 61260-1 base-10 decidecade bands lying wholly in ``[fmin_hz, fmax_hz]``: ``(centre_hz, lower_hz,
    upper_hz)``, centres ``10**(n/10)``.

    Raises
    ------
    ValueError
        When ``0 < fmin_hz < fmax_hz`` does not hold.
    """
    if not 0 < fmin_hz < fmax_hz:
        raise ValueError(f"{fmin_hz=} and {fmax_hz=} must satisfy 0 < fmin_hz < fmax_hz")
    slack = 1e-9  # a band edge equal to fmin_hz or fmax_hz up to rounding counts as inside
    n_first = math.ceil(10 * math.log10(fmin_hz) + 0.5 - slack)
    n_last = math.floor(10 * math.log10(fmax_hz) - 0.5 + slack)
    centre_hz = 10 ** (np.arange(n_first, n_last + 1) / 10)
    return centre_hz, centre_hz / DECIDECADE_HALF_RATIO, centre_hz * DECIDECADE_HALF_RATIO


def overlap_matrix(lower_hz: np.ndarray, upper_hz: np.ndarray, bin_width_hz: float, n_bins: int) -> scipy.sparse.csr_matrix:
    """How many Hz of each DFT bin lie in each band: a sparse (bands x bins) matrix.

    Bin ``k`` is taken to cover ``[(k - 1/2) d, (k + 1/2) d]`` with ``d = bin_width_hz`` (the one-sided density is
    constant over a bin), so ``matrix @ psd / (upper_hz - lower_hz)`` is the band-mean spectral density, exact for that
    piecewise-constant spectrum; band edges need not fall on bin edges. Bands may overlap or be empty (upper <= lower).
    Matrices are cached by their arguments.
    """
    lower_hz, upper_hz = np.asarray(lower_hz, np.float64), np.asarray(upper_hz, np.float64)
    key = (hashlib.sha256(lower_hz.tobytes() + upper_hz.tobytes()).hexdigest(), float(bin_width_hz), int(n_bins))
    if key not in _OVERLAP_CACHE:
        if len(_OVERLAP_CACHE) >= 32:
            _OVERLAP_CACHE.clear()
        _OVERLAP_CACHE[key] = _overlap_matrix(lower_hz, upper_hz, bin_width_hz, n_bins)
    return _OVERLAP_CACHE[key]


_OVERLAP_CACHE: dict = {}


def _overlap_matrix(lower_hz: np.ndarray, upper_hz: np.ndarray, bin_width_hz: float, n_bins: int) -> scipy.sparse.csr_matrix:
    first = np.clip(np.floor(lower_hz / bin_width_hz + 0.5), 0, n_bins - 1).astype(np.int64)
    last = np.clip(np.floor(upper_hz / bin_width_hz + 0.5), 0, n_bins - 1).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    rows = np.repeat(np.arange(len(lower_hz)), counts)
    cols = np.repeat(first, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    overlap = np.minimum(upper_hz[rows], (cols + 0.5) * bin_width_hz) - np.maximum(lower_hz[rows], (cols - 0.5) * bin_width_hz)
    keep = overlap > 0
    shape = (len(lower_hz), n_bins)
    return scipy.sparse.csr_matrix((overlap[keep], (rows[keep], cols[keep])), shape=shape)
