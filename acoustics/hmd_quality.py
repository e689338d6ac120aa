"""Quality flags of the HMD minutes (SoundCoop codes) and the time-domain statistics they come from.

Codes: 1 good, 2 not evaluated, 3 questionable, 4 bad. Rules, per minute
and band, from the minute's samples in the package:

* no whole 1 s segment in the minute (its data are shorter than a segment
  or cut by gaps): 2 everywhere, the spectrum is NaN. Gaps otherwise only
  lower the minute's effort (seconds of data), they do not lower the flag.
* stuck signal (all samples equal): 4 everywhere.
* clipping: a sample is clipped when its magnitude equals the minute's
  largest magnitude ``a`` and it lies in a run of at least
  :data:`CLIP_RUN_SAMPLES` consecutive samples of magnitude ``a`` (a flat top
  at the extreme: what saturation of the ADC or an amplifier looks like,
  whatever the full scale is). Any clipped sample: 3 everywhere; clipped
  samples making up at least :data:`CLIP_BAD_FRACTION` of the minute: 4
  everywhere (clipping spreads harmonics over the whole spectrum).
* DC fault: the mean's power exceeds the fluctuation's (``mean**2 >
  variance``): 4 in the bands whose lower edge lies below 1.5 bins (the 0 and
  1 Hz bands): the Hann window puts a constant there and nowhere else.

The worst rule wins (4 over 3 over 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GOOD, NOT_EVALUATED, QUESTIONABLE, BAD = 1, 2, 3, 4
CLIP_RUN_SAMPLES = 3
CLIP_BAD_FRACTION = 1e-3
_CHUNK_SAMPLES = 1 << 16
"""Samples per float32 dot product: its rounding stays near 1e-6 of the chunk's sum of squares."""


@dataclass
class MinuteStatistics:
    """Running time-domain statistics of one minute's samples (float64 sums)."""

    n_samples: int = 0
    total: float = 0.0
    total_square: float = 0.0
    minimum: float = np.inf
    maximum: float = -np.inf
    pieces: list[np.ndarray] = field(default_factory=list)

    def add(self, x: np.ndarray) -> None:
        """Add one contiguous piece of samples."""
        if len(x) == 0:
            return
        self.total += float(np.add.reduce(x, dtype=np.float64))
        for offset in range(0, len(x), _CHUNK_SAMPLES):  # each chunk's dot in the samples' precision, summed in float64
            chunk = x[offset : offset + _CHUNK_SAMPLES]
            self.total_square += float(np.dot(chunk, chunk))
        self.n_samples += len(x)
        self.minimum = min(self.minimum, float(x.min()))
        self.maximum = max(self.maximum, float(x.max()))
        self.pieces.append(x)

    @property
    def peak(self) -> float:
        """The largest magnitude."""
        return max(self.maximum, -self.minimum)

    @property
    def mean(self) -> float:
        return self.total / self.n_samples

    @property
    def mean_square(self) -> float:
        return self.total_square / self.n_samples

    @property
    def variance(self) -> float:
        return max(0.0, self.mean_square - self.mean**2)

    def count_clipped(self) -> int:
        """Samples in flat tops at the minute's peak magnitude (rule in the module docstring)."""
        clipped = 0
        for x in self.pieces:
            if np.count_nonzero(x == self.peak) + np.count_nonzero(x == -self.peak) < CLIP_RUN_SAMPLES:
                continue
            at_peak = np.flatnonzero((x == self.peak) | (x == -self.peak))
            breaks = np.flatnonzero(np.diff(at_peak) != 1)
            lengths = np.diff(np.concatenate([[0], breaks + 1, [len(at_peak)]]))
            clipped += int(lengths[lengths >= CLIP_RUN_SAMPLES].sum())
        return clipped


def flags(statistics: MinuteStatistics, n_segments: int, lower_hz: np.ndarray, bin_width_hz: float) -> np.ndarray:
    """The quality flag of each band (int8) for one minute (rules in the module docstring)."""
    out = np.full(len(lower_hz), GOOD, dtype=np.int8)
    if n_segments == 0:
        out[:] = NOT_EVALUATED
        return out
    if statistics.minimum == statistics.maximum:
        out[:] = BAD
        return out
    clipped = statistics.count_clipped()
    if clipped >= CLIP_BAD_FRACTION * statistics.n_samples:
        out[:] = BAD
    elif clipped:
        out[:] = QUESTIONABLE
    if statistics.mean**2 > statistics.variance:
        out[lower_hz < 1.5 * bin_width_hz] = BAD
    return out

