"""Spectral probability density (SPD) and percentiles of 1-minute HMD levels, from histograms that add up.

A :class:`LevelHistogram` counts, per HMD band, how many minutes had their
level in each 0.1 dB bin (:data:`LEVEL_STEP_DB`; bin ``i`` holds levels in
``[i·0.1, (i+1)·0.1)`` dB), and keeps the sum of the linear spectral
densities for the linear mean. One histogram per sensor-day is stored
(:mod:`.hmd_day`); a time range is answered by adding the days'
histograms (:func:`merge`), so 30 days cost 30 small reads, not 43,200
minutes × 2,787 bands.

Definitions (Merchant et al. 2013, Methods Ecol. Evol. 6, 257): the SPD is
the empirical probability density of the level per band, ``count /
(n_minutes · bin_db)`` in 1/dB (:func:`density`); the ``p``-th percentile
of a band is the ``⌈p/100 · n⌉``-th smallest of its ``n`` minute levels
(numpy's ``inverted_cdf``), given as the centre of its 0.1 dB bin, so it is
within 0.05 dB of the exact order statistic (:func:`percentiles`); the
mean is ``10·log10(mean of the linear densities)`` (:func:`mean_db`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

LEVEL_STEP_DB = 0.1
"""The storage resolution of the level histograms, dB (percentiles are within half of it)."""
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
"""The percentiles every SPD answer carries (percent)."""


@dataclass(frozen=True)
class LevelHistogram:
    """Minute counts per band and 0.1 dB level bin.

    ``counts[b, j]`` minutes of band ``b`` had a level in global bin ``first_bin[b] + j``;
    ``linear_sum[b]`` is the sum of their linear densities, ``n_minutes[b]`` their number; ``calibrated``: densities
    in µPa²/Hz (else sample unit²/Hz).
    """

    first_bin: np.ndarray  # int64 (n_bands,)
    counts: np.ndarray  # uint32 (n_bands, width)
    linear_sum: np.ndarray  # float64 (n_bands,)
    n_minutes: np.ndarray  # int64 (n_bands,)
    calibrated: bool

    @property
    def n_bands(self) -> int:
        return len(self.first_bin)

    def bands(self, selected: slice | np.ndarray) -> LevelHistogram:
        """The histogram of some bands only (a slice or index array of band numbers)."""
        return LevelHistogram(self.first_bin[selected], self.counts[selected], self.linear_sum[selected],
                              self.n_minutes[selected], self.calibrated)

    def to_npz_bytes(self) -> bytes:
        out = io.BytesIO()
        counts = self.counts.astype(np.uint16) if self.counts.size == 0 or self.counts.max() < 2**16 else self.counts
        np.savez_compressed(out, first_bin=self.first_bin, counts=counts, linear_sum=self.linear_sum,
                            n_minutes=self.n_minutes, calibrated=np.array(self.calibrated))
        return out.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> LevelHistogram:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            return cls(stored["first_bin"].astype(np.int64), stored["counts"].astype(np.uint32),
                       stored["linear_sum"], stored["n_minutes"].astype(np.int64), bool(stored["calibrated"]))


def histogram(density: np.ndarray, valid: np.ndarray | None = None, *, calibrated: bool) -> LevelHistogram:
    """The level histogram of minutes × bands of linear spectral density.

    Parameters
    ----------
    density : ndarray, shape (n_minutes, n_bands)
        Linear mean-square spectral density (unit²/Hz) per minute and band; must be > 0 where valid.
    valid : ndarray of bool, same shape, optional
        Which values count (e.g. not flagged bad, minute with data); all by default.
    calibrated : bool
        Whether the densities are in µPa²/Hz.
    """
    density = np.asarray(density, dtype=np.float64)
    if density.ndim != 2:
        raise ValueError(f"density must be (minutes, bands), got shape {density.shape}")
    valid = np.ones(density.shape, bool) if valid is None else np.asarray(valid, bool)
    if valid.shape != density.shape:
        raise ValueError(f"valid has shape {valid.shape}, density {density.shape}")
    if np.any(density[valid] <= 0) or not np.all(np.isfinite(density[valid])):
        raise ValueError("density must be finite and > 0 where valid")
    n_bands = density.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        level_bin = np.floor(10 * np.log10(np.where(valid, density, 1.0)) / LEVEL_STEP_DB).astype(np.int64)
    big = np.iinfo(np.int64).max
    first = np.where(valid, level_bin, big).min(axis=0, initial=big)
    last = np.where(valid, level_bin, -big).max(axis=0, initial=-big)
    has = first <= last
    first = np.where(has, first, 0)
    width = int((last - first)[has].max() + 1) if has.any() else 0
    counts = np.zeros((n_bands, width), np.uint32)
    band = np.broadcast_to(np.arange(n_bands), density.shape)
    flat = band[valid] * width + (level_bin - first)[valid]
    counts.reshape(-1)[:] = np.bincount(flat, minlength=n_bands * width)
    return LevelHistogram(first, counts, np.where(valid, density, 0.0).sum(axis=0), valid.sum(axis=0).astype(np.int64),
                          calibrated)


def merge(parts: list[LevelHistogram]) -> LevelHistogram:
    """The histogram of all minutes of ``parts`` (same bands and calibration in each)."""
    if not parts:
        raise ValueError("merge needs at least one histogram")
    if len({p.calibrated for p in parts}) > 1:
        raise ValueError("the time range mixes calibrated and uncalibrated spectra: ask for the two parts separately")
    n_bands = parts[0].n_bands
    if any(p.n_bands != n_bands for p in parts):
        raise ValueError("histograms of different band sets cannot be merged")
    used = [p for p in parts if p.counts.shape[1]]
    if not used:
        return parts[0]
    first = np.min([p.first_bin for p in used], axis=0)
    end = np.max([p.first_bin + p.counts.shape[1] for p in used], axis=0)
    width = int((end - first).max())
    total = np.zeros(n_bands * width, np.float64)
    for p in used:
        offset = (np.arange(n_bands) * width + p.first_bin - first)[:, None] + np.arange(p.counts.shape[1])
        total += np.bincount(offset.ravel(), weights=p.counts.ravel(), minlength=n_bands * width)
    return LevelHistogram(first, total.reshape(n_bands, width).round().astype(np.uint32),
                          np.sum([p.linear_sum for p in parts], axis=0), np.sum([p.n_minutes for p in parts], axis=0),
                          parts[0].calibrated)


def percentiles(h: LevelHistogram, percent=PERCENTILES) -> np.ndarray:
    """Per band, the ``percent`` percentiles of the minute levels (dB), shape (n_bands, len(percent)); NaN for a band
    without minutes. Each is the centre of the 0.1 dB bin of the ``⌈p/100·n⌉``-th smallest level (≥ the 1st)."""
    percent = np.asarray(percent, dtype=np.float64)
    if np.any((percent < 0) | (percent > 100)):
        raise ValueError(f"{percent=} must lie in [0, 100]")
    out = np.full((h.n_bands, len(percent)), np.nan)
    if h.counts.shape[1] == 0:
        return out
    cumulative = np.cumsum(h.counts, axis=1, dtype=np.int64)
    n = cumulative[:, -1]
    for i, p in enumerate(percent):
        rank = np.maximum(1, np.ceil(p / 100 * n - 1e-9)).astype(np.int64)
        column = (cumulative < rank[:, None]).sum(axis=1)
        out[:, i] = np.where(n > 0, (h.first_bin + column + 0.5) * LEVEL_STEP_DB, np.nan)
    return out


def mean_db(h: LevelHistogram) -> np.ndarray:
    """Per band, ``10·log10`` of the mean linear density of its minutes (NaN without minutes)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h.n_minutes > 0, 10 * np.log10(h.linear_sum / np.maximum(h.n_minutes, 1)), np.nan)


def density(h: LevelHistogram, bin_db: float) -> tuple[np.ndarray, np.ndarray]:
    """The SPD: level bin edges (dB, shape (L+1,)) and probability density per band and level bin (1/dB, shape
    (n_bands, L)); each band's row integrates to 1 over level (0 for a band without minutes).

    ``bin_db`` must be a whole multiple of :data:`LEVEL_STEP_DB`; the edges are multiples of ``bin_db``.
    """
    step = round(bin_db / LEVEL_STEP_DB)
    if step < 1 or abs(step * LEVEL_STEP_DB - bin_db) > 1e-9:
        raise ValueError(f"{bin_db=} must be a positive whole multiple of {LEVEL_STEP_DB} dB")
    used = h.n_minutes > 0
    if h.counts.shape[1] == 0 or not used.any():
        return np.array([0.0, bin_db]), np.zeros((h.n_bands, 1))
    lowest = int(np.floor(h.first_bin[used].min() / step))
    highest = int(np.floor((h.first_bin[used] + h.counts.shape[1] - 1).max() / step))
    n_levels = highest - lowest + 1
    target = (h.first_bin[:, None] + np.arange(h.counts.shape[1])) // step - lowest
    target = np.clip(target, 0, n_levels - 1)  # columns past a band's used range hold 0 counts
    flat = (np.arange(h.n_bands)[:, None] * n_levels + target).ravel()
    counts = np.bincount(flat, weights=h.counts.ravel(), minlength=h.n_bands * n_levels).reshape(h.n_bands, n_levels)
    edges = (lowest + np.arange(n_levels + 1)) * step * LEVEL_STEP_DB
    return edges, counts / (np.maximum(h.n_minutes, 1)[:, None] * bin_db)
