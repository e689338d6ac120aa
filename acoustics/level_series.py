"""Band-level time series: mean-square pressure per time bin and band, with the effort behind each bin.

A :class:`LevelSeries` holds, per time bin, the effort (seconds of data)
and the effort-weighted mean of the linear mean-square pressure in each
decidecade band (IEC 61260-1 base-10 centres) and broadband. Series add up
exactly: :func:`resample` merges bins into coarser ones aligned on the Unix
epoch (a bin of ``resolution_s`` starts at a multiple of it) by weighting
each bin's mean square with its effort, so hourly series made from minutes,
and then 6-hour series made from hours, equal those made from the minutes
directly. Levels are ``10·log10(mean square)``: dB re 1 µPa for calibrated
sensors, else re the sample unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class LevelSeries:
    """``start_unix_ns (t,)`` bin starts; ``effort_s (t,)``; ``mean_square (t, k)`` per decidecade band of
    ``centre_hz (k,)``; ``broadband_mean_square (t,)``; ``calibrated``: in µPa² (else sample unit²). Bins without
    effort are left out."""

    start_unix_ns: np.ndarray
    effort_s: np.ndarray
    centre_hz: np.ndarray
    mean_square: np.ndarray
    broadband_mean_square: np.ndarray
    calibrated: bool

    def __post_init__(self):
        t = len(self.start_unix_ns)
        if self.effort_s.shape != (t,) or self.mean_square.shape != (t, len(self.centre_hz)) \
                or self.broadband_mean_square.shape != (t,):
            raise ValueError(f"a level series of {t} bins and {len(self.centre_hz)} bands needs effort_s ({t},), "
                             f"mean_square ({t}, {len(self.centre_hz)}) and broadband_mean_square ({t},); got "
                             f"{self.effort_s.shape}, {self.mean_square.shape}, {self.broadband_mean_square.shape}")

    def within(self, start_unix_ns: int, end_unix_ns: int) -> LevelSeries:
        """The bins that start in ``[start_unix_ns, end_unix_ns)``."""
        keep = (self.start_unix_ns >= start_unix_ns) & (self.start_unix_ns < end_unix_ns)
        return LevelSeries(self.start_unix_ns[keep], self.effort_s[keep], self.centre_hz, self.mean_square[keep],
                           self.broadband_mean_square[keep], self.calibrated)

    def to_bytes(self) -> bytes:
        """A compact little-endian layout read without parsing (:meth:`from_bytes`; the many-sensor monitor reads
        thousands): ``int64`` t, k, calibrated; then ``start_unix_ns`` int64[t], ``effort_s`` float64[t],
        ``centre_hz`` float64[k], ``mean_square`` float64[t·k] (row-major), ``broadband_mean_square`` float64[t]."""
        t, k = len(self.start_unix_ns), len(self.centre_hz)
        return b"".join([np.array([t, k, int(self.calibrated)], "<i8").tobytes(), np.asarray(self.start_unix_ns, "<i8").tobytes(),
                         *(np.asarray(a, "<f8").tobytes() for a in (self.effort_s, self.centre_hz, self.mean_square,
                                                                   self.broadband_mean_square))])

    @classmethod
    def from_bytes(cls, data: bytes) -> LevelSeries:
        t, k, calibrated = (int(v) for v in np.frombuffer(data, "<i8", 3))
        if len(data) != 8 * (3 + 3 * t + k + t * k):
            raise ValueError(f"a level series of {t} bins and {k} bands takes {8 * (3 + 3 * t + k + t * k)} bytes, "
                             f"not {len(data)}")
        values = np.frombuffer(data, "<f8", offset=24)
        start = np.frombuffer(data, "<i8", t, offset=24)
        effort, centre = values[t : 2 * t], values[2 * t : 2 * t + k]
        mean_square = values[2 * t + k : 2 * t + k + t * k].reshape(t, k)
        return cls(start, effort, centre, mean_square, values[2 * t + k + t * k :], bool(calibrated))


def concatenate(parts: list[LevelSeries]) -> LevelSeries:
    """The bins of ``parts`` (at least one; in time order, not overlapping) as one series.

    Raises
    ------
    ValueError
        The parts mix calibrated and uncalibrated levels, or different bands.
    """
    if not parts:
        raise ValueError("concatenate needs at least one series")
    if len({p.calibrated for p in parts}) > 1:
        raise ValueError("the time range mixes calibrated and uncalibrated levels: ask for the two parts separately")
    if any(not np.array_equal(p.centre_hz, parts[0].centre_hz) for p in parts):
        raise ValueError("the time range mixes series of different decidecade bands")
    return LevelSeries(np.concatenate([p.start_unix_ns for p in parts]), np.concatenate([p.effort_s for p in parts]),
                       parts[0].centre_hz, np.concatenate([p.mean_square for p in parts]),
                       np.concatenate([p.broadband_mean_square for p in parts]), parts[0].calibrated)


def resample(series: LevelSeries, resolution_s: int) -> LevelSeries:
    """``series`` in bins of ``resolution_s`` aligned on the Unix epoch, each the effort-weighted mean of the bins
    that start in it (the input bins must not be longer than ``resolution_s`` nor straddle its bins)."""
    if resolution_s < 1:
        raise ValueError(f"{resolution_s=} must be at least 1 s")
    step = resolution_s * NS_PER_S
    order = np.argsort(series.start_unix_ns, kind="stable")
    bin_start = series.start_unix_ns[order] // step * step
    if len(bin_start) == 0:
        return series
    first = np.flatnonzero(np.r_[True, bin_start[1:] != bin_start[:-1]])
    effort_s = series.effort_s[order]
    effort = np.add.reduceat(effort_s, first)
    mean_square = np.add.reduceat(series.mean_square[order] * effort_s[:, None], first, axis=0)
    broadband = np.add.reduceat(series.broadband_mean_square[order] * effort_s, first)
    keep = effort > 0
    return LevelSeries(bin_start[first][keep], effort[keep], series.centre_hz, mean_square[keep] / effort[keep, None],
                       broadband[keep] / effort[keep], series.calibrated)


def level_db(mean_square: np.ndarray) -> np.ndarray:
    """``10·log10`` of a mean square (−inf for 0)."""
    with np.errstate(divide="ignore"):
        return 10 * np.log10(mean_square)


def select_bands(centre_hz: np.ndarray, nominal_hz: list[float]) -> np.ndarray:
    """Indices of the decidecade bands named by nominal centres (e.g. 63, 125, 1000 Hz): the band whose exact centre is
    nearest in log frequency, which must be within half a band (a factor 10^(1/20)).

    Raises
    ------
    ValueError
        A nominal frequency names no band.
    """
    if len(centre_hz) == 0:
        raise ValueError("there are no decidecade bands")
    found = []
    for f in nominal_hz:
        if not f > 0:
            raise ValueError(f"band centre {f} Hz must be > 0")
        distance = np.abs(np.log10(centre_hz / f))
        best = int(np.argmin(distance))
        if distance[best] > 1 / 20:
            raise ValueError(f"{f:g} Hz is no decidecade band centre between {centre_hz[0]:.4g} and {centre_hz[-1]:.4g} Hz")
        found.append(best)
    return np.array(found, dtype=np.int64)
