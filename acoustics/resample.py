"""Rational-rate resampling with a linear-phase anti-alias FIR filter, by matrix products.

Resampling ``x`` (rate ``fs``) by ``up/down`` with a low-pass filter ``h``
(odd length ``2 H + 1``, designed at the upsampled rate ``fs * up``) gives

    y[j] = up * sum_m x[m] h[H + j*down - m*up],   j = 0 .. ceil(len(x) up / down) - 1,

with ``x`` taken as zero outside the run. This is exactly what
``scipy.signal.resample_poly(x, up, down, window=h)`` returns (zero phase, no
delay). Output ``j = q*up + p`` ("period" q, "phase" p) needs the inputs
``x[q*down + s]`` for the few ``s`` with ``|p*down - s*up| <= H``: about
``len(h) / up`` taps per output. Grouping :data:`PHASES_PER_GROUP`
consecutive phases, the outputs of a group for many periods are one matrix
product: a strided view of the input (one row per period, row stride
``down``) times a small (inputs x phases) matrix of filter taps. BLAS
evaluates it with SIMD: about 10x faster than the scalar polyphase loop of
``scipy.signal.upfirdn`` for the same filter (0.2 s instead of 2.3 s for
300 s at 195312.5 Hz -> 48 kHz with 94097 taps, one core).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

PHASES_PER_GROUP = 32
"""Output phases computed by one matrix product."""
PERIODS_PER_CHUNK = 1024
"""Periods (``down`` input samples each) resampled per pass, to keep the input in cache."""


@dataclass(frozen=True)
class LowpassSpec:
    """An anti-alias low-pass filter specification.

    Attributes
    ----------
    passband_hz : float
        Frequencies up to here pass (Kaiser design: ripple about as small as the stopband gain).
    stopband_hz : float
        Frequencies from here on are attenuated by at least ``attenuation_db``.
    attenuation_db : float
        Minimum stopband attenuation in dB.
    """

    passband_hz: float
    stopband_hz: float
    attenuation_db: float

    def __post_init__(self):
        if not 0 < self.passband_hz < self.stopband_hz:
            raise ValueError(f"passband_hz={self.passband_hz} and stopband_hz={self.stopband_hz} must satisfy 0 < passband < stopband")
        if not self.attenuation_db > 21:
            raise ValueError(f"attenuation_db={self.attenuation_db} must exceed 21 dB (Kaiser design)")


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's ``beta`` for a stop band ``attenuation_db`` down: ``0.1102 (A - 8.7)`` above 50 dB,
    ``0.5842 (A - 21)^0.4 + 0.07886 (A - 21)`` from 21 to 50 dB, 0 below (``scipy.signal.kaiser_beta``)."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21) if a > 21 else 0.0


def kaiser_lowpass(numtaps: int, cutoff_hz: float, beta: float, rate_hz: float) -> np.ndarray:
    """Linear-phase FIR low-pass: the ideal one of cutoff ``cutoff_hz`` (-6 dB) times a Kaiser window,
    ``h[n] = c sinc(c (n - (N-1)/2)) w[n]`` with ``c`` the cutoff in units of the Nyquist frequency, scaled to unit
    gain at 0 Hz (``scipy.signal.firwin(numtaps, cutoff_hz, window=("kaiser", beta), fs=rate_hz)``)."""
    cutoff = cutoff_hz / (rate_hz / 2)
    offsets = np.arange(numtaps) - (numtaps - 1) / 2
    taps = cutoff * np.sinc(cutoff * offsets) * np.kaiser(numtaps, beta)
    return taps / taps.sum()


def design_lowpass(spec: LowpassSpec, rate_hz: float) -> np.ndarray:
    """Odd-length, linear-phase Kaiser-window FIR low-pass for sampling rate ``rate_hz``.

    Kaiser's length for ``A = attenuation_db`` over the transition ``[passband_hz, stopband_hz]`` of width ``dw``
    (radians per sample), ``N = ceil((A - 7.95) / (2.285 dw)) + 1`` made odd, and :func:`kaiser_beta`
    (``scipy.signal.kaiserord``); the cutoff (-6 dB) is the middle of the transition (:func:`kaiser_lowpass`).
    Unit gain at 0 Hz.
    """
    if not spec.stopband_hz < rate_hz / 2:
        raise ValueError(f"stopband_hz={spec.stopband_hz} must be below the Nyquist frequency {rate_hz / 2} Hz")
    transition_rad = np.pi * (spec.stopband_hz - spec.passband_hz) / (rate_hz / 2)
    numtaps = math.ceil((spec.attenuation_db - 7.95) / (2.285 * transition_rad) + 1) | 1
    return kaiser_lowpass(numtaps, (spec.passband_hz + spec.stopband_hz) / 2, kaiser_beta(spec.attenuation_db), rate_hz)


class PolyphaseResampler:
    """Resample runs by ``up/down`` with the filter ``taps`` (see the module docstring).

    Parameters
    ----------
    taps : numpy.ndarray
        Odd-length low-pass filter at the upsampled rate, unit DC gain
        (e.g. from :func:`design_lowpass`).
    up, down : int
        Resampling ratio ``up/down``, positive.
    """

    def __init__(self, taps: np.ndarray, up: int, down: int):
        taps = np.asarray(taps, dtype=np.float64)
        if taps.ndim != 1 or len(taps) % 2 == 0:
            raise ValueError(f"taps must be 1-D with an odd length, not shape {taps.shape}")
        if up < 1 or down < 1:
            raise ValueError(f"{up=} and {down=} must be positive")
        self.up, self.down = up, down
        self.n_taps = len(taps)
        half = (len(taps) - 1) // 2
        scaled = taps * up

        def first_input(phase: int) -> int:  # smallest s with phase*down - s*up <= half
            return -((half - phase * down) // up)

        def last_input(phase: int) -> int:  # largest s with s*up - phase*down <= half
            return (phase * down + half) // up

        self._groups = []
        for p0 in range(0, up, PHASES_PER_GROUP):
            phases = range(p0, min(p0 + PHASES_PER_GROUP, up))
            lo, hi = first_input(phases[0]), last_input(phases[-1])
            kernel = np.zeros((hi - lo + 1, len(phases)), dtype=np.float32)
            for column, phase in enumerate(phases):
                s = np.arange(first_input(phase), last_input(phase) + 1)
                kernel[s - lo, column] = scaled[half + phase * down - s * up]
            self._groups.append((slice(phases[0], phases[-1] + 1), lo, kernel))
        self._first = min(lo for _, lo, _ in self._groups)
        self._last = max(lo + len(kernel) - 1 for _, lo, kernel in self._groups)

    def output_length(self, n_samples: int) -> int:
        """``ceil(n_samples * up / down)``, as scipy.signal.resample_poly."""
        return -(-n_samples * self.up // self.down)

    def __call__(self, x: np.ndarray, offset: float = 0.0) -> np.ndarray:
        """Resample the run ``x - offset`` (float32 arithmetic, float64 filter design).

        Parameters
        ----------
        x : numpy.ndarray
            1-D run of contiguous samples (float32 or float64).
        offset : float
            Subtracted from every sample first (e.g. the DC offset).

        Returns
        -------
        numpy.ndarray
            float32, ``output_length(len(x))`` samples at ``fs * up / down``.
        """
        if x.ndim != 1:
            raise ValueError(f"x must be 1-D, not {x.ndim}-D")
        n_out = self.output_length(len(x))
        n_periods = -(-n_out // self.up)
        out = np.empty((n_periods, self.up), dtype=np.float32)
        span = self._last - self._first + 1
        padded = np.empty((PERIODS_PER_CHUNK - 1) * self.down + span, dtype=np.float32)
        for q0 in range(0, n_periods, PERIODS_PER_CHUNK):
            n = min(PERIODS_PER_CHUNK, n_periods - q0)
            _copy_padded(x, q0 * self.down + self._first, np.float32(offset), padded[: (n - 1) * self.down + span])
            for phases, first, kernel in self._groups:
                step = padded.itemsize
                rows = as_strided(padded[first - self._first :], shape=(n, len(kernel)), strides=(self.down * step, step), writeable=False)
                np.matmul(rows, kernel, out=out[q0 : q0 + n, phases])
        return out.reshape(-1)[:n_out]


def _copy_padded(x: np.ndarray, start: int, offset: np.float32, out: np.ndarray) -> None:
    """``out[i] = x[start + i] - offset`` where that index is inside ``x``, else 0."""
    lo, hi = max(start, 0), min(start + len(out), len(x))
    if lo >= hi:
        out[:] = 0
        return
    out[: lo - start] = 0
    np.subtract(x[lo:hi], offset, out=out[lo - start : hi - start], casting="same_kind")
    out[hi - start :] = 0
