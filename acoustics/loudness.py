"""Loudness of the listenable MP3: a fixed gain per sensor and a soft limiter.

Packages of one sensor must compare by ear, so the gain never depends on a
package's content (peak normalisation would let one click push everything
else down by tens of dB, differently in every package). The gain ``g``
(int16 counts per sample unit) is fixed by the sensor's calibration:

* calibrated sensor: the sound pressure ``full_scale_db_re_1upa`` (peak,
  dB re 1 uPa) maps to int16 full scale 32767. A sample ``s`` is
  ``s * 10**(offset_db / 20)`` uPa (see
  :class:`~.sensors.Calibration`), so
  ``g = 32767 * 10**((offset_db - full_scale_db_re_1upa) / 20)``;
* uncalibrated sensor: ``full_scale_sample_units`` sample units map to full
  scale, ``g = 32767 / full_scale_sample_units``.

A soft limiter keeps transients from clipping: with ``u = g * x / 32767``,
the knee ``k = 10**(knee_dbfs / 20)`` and the ceiling ``c =
10**(CEILING_DBFS / 20)``, samples with ``|u| <= k`` pass unchanged and
louder ones become ``sign(u) * (k + (c - k) * tanh((|u| - k) / (c - k)))``:
continuous with slope 1 at the knee, approaching but never reaching the
ceiling, 3 dB below full scale: MP3 coding overshoots a limited click by up
to about 2.6 dB (measured), and the decoded MP3 must not clip either. The curve is invertible (``atanh``), so with the gain,
the knee and the DC offset (all recorded in /info and in the MP3's ID3
tags) anyone can undo the processing up to the MP3's own coding error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sensors import Calibration

FULL_SCALE_COUNTS = 32767
_CHUNK_SAMPLES = 1 << 20
CEILING_DBFS = -3.0
"""Level (dB re full scale) the soft limiter approaches; headroom for the MP3 coder's overshoot."""


@dataclass(frozen=True)
class LoudnessPolicy:
    """The configured loudness rule (the same for every package).

    Attributes
    ----------
    full_scale_db_re_1upa : float
        Peak sound pressure (dB re 1 uPa) at int16 full scale, for calibrated sensors.
    full_scale_sample_units : float
        Sample value at int16 full scale, for uncalibrated sensors.
    knee_dbfs : float
        Level (dB re full scale, negative) above which the soft limiter acts.
    """

    full_scale_db_re_1upa: float = 140.0
    full_scale_sample_units: float = 0.01
    knee_dbfs: float = -9.0

    def __post_init__(self):
        if not self.full_scale_sample_units > 0:
            raise ValueError(f"full_scale_sample_units={self.full_scale_sample_units} must be positive")
        if not -60 <= self.knee_dbfs < CEILING_DBFS:
            raise ValueError(f"knee_dbfs={self.knee_dbfs} must be in [-60, {CEILING_DBFS}) dB re full scale")

    def for_sensor(self, calibration: Calibration | None) -> Loudness:
        """The fixed gain of a sensor with this calibration (None: uncalibrated)."""
        if calibration is None:
            return Loudness(
                FULL_SCALE_COUNTS / self.full_scale_sample_units, self.knee_dbfs,
                f"uncalibrated sensor: {self.full_scale_sample_units:g} sample units = int16 full scale "
                "(mp3_full_scale_sample_units)",
            )
        return Loudness(
            FULL_SCALE_COUNTS * 10 ** ((calibration.offset_db - self.full_scale_db_re_1upa) / 20), self.knee_dbfs,
            f"calibrated sensor: {self.full_scale_db_re_1upa:g} dB re 1 uPa (peak) = int16 full scale "
            f"(mp3_full_scale_db_re_1upa; calibration offset {calibration.offset_db:.3f} dB)",
        )


@dataclass(frozen=True)
class Loudness:
    """A sensor's fixed MP3 gain and limiter knee.

    Attributes
    ----------
    gain : float
        int16 counts per sample unit (after DC removal and resampling).
    knee_dbfs : float
        Soft-limiter knee, dB re full scale.
    rule : str
        How the gain was chosen, in words.
    """

    gain: float
    knee_dbfs: float
    rule: str

    @property
    def gain_db(self) -> float:
        return 20 * math.log10(self.gain)

    def apply(self, x: np.ndarray) -> tuple[np.ndarray, int, float]:
        """Scale ``x`` (float32, sample units) to int16 with the soft limiter.

        Returns
        -------
        pcm : numpy.ndarray
            int16 samples, ``rint`` of the limited, scaled signal.
        n_limited : int
            Samples above the knee (changed by the limiter).
        peak_dbfs : float
            Peak of the scaled signal before limiting, dB re full scale (-inf for silence).
        """
        knee, span = self._knee_and_span()
        pcm = np.empty(len(x), dtype=np.int16)
        peak, n_limited = 0.0, 0
        for first in range(0, len(x), _CHUNK_SAMPLES):  # in chunks: no float copies of a whole package
            u = np.multiply(x[first : first + _CHUNK_SAMPLES], np.float32(self.gain / FULL_SCALE_COUNTS), dtype=np.float32)
            magnitude = np.abs(u)
            peak = max(peak, float(magnitude.max()))
            loud = np.flatnonzero(magnitude > knee)
            if loud.size:
                u[loud] = np.sign(u[loud]) * (knee + span * np.tanh((magnitude[loud] - knee) / span))
            n_limited += int(loud.size)
            np.rint(np.multiply(u, FULL_SCALE_COUNTS, out=u), out=u)
            pcm[first : first + len(u)] = u
        return pcm, n_limited, 20 * math.log10(peak) if peak > 0 else -math.inf

    def undo(self, pcm: np.ndarray) -> np.ndarray:
        """The sample-unit signal (after DC removal and resampling) that :meth:`apply` turned into ``pcm`` (float64)."""
        v = np.asarray(pcm, dtype=np.float64) / FULL_SCALE_COUNTS
        knee, span = self._knee_and_span()
        loud = np.abs(v) > knee
        v[loud] = np.sign(v[loud]) * (knee + span * np.arctanh(np.minimum((np.abs(v[loud]) - knee) / span, 1 - 1e-12)))
        return v * FULL_SCALE_COUNTS / self.gain

    def _knee_and_span(self) -> tuple[float, float]:
        """``k`` and ``c - k`` of the limiter curve (fractions of full scale)."""
        knee = 10 ** (self.knee_dbfs / 20)
        return knee, 10 ** (CEILING_DBFS / 20) - knee
