"""The HMD product of a package: 1-minute hybrid millidecade spectra, decidecade and broadband levels, SEL, peak.

Per UTC minute the package touches (:mod:`.hmd_plan`):

* ``band_density`` -- the Welch estimate (1 s Hann segments, 50 % overlap,
  not detrended; :mod:`.hmd_spectrum`) integrated over each hybrid
  millidecade band (:mod:`.hmd_bands`) and divided by the band's width: the
  band-mean spectral density, unit^2/Hz (linear);
* ``decidecade_mean_square`` -- the same estimate integrated over each
  IEC 61260-1 decidecade band from 10 Hz to 79.4 kHz (band power, unit^2);
* ``broadband_mean_square`` -- the mean of the squared samples of the minute
  (time domain, all samples, not only those in whole segments);
* ``effort_s`` -- seconds of data (samples / 195312.5 Hz), ``n_segments``,
  ``quality_flag`` (:mod:`.hmd_quality`).

Per package: ``sel_db = 10 log10(sum(p^2) / fs)`` (dB re 1 uPa^2 s) and
``peak_spl_db = 20 log10(max |p|)`` (dB re 1 uPa).

Calibration: the spectrum of bin ``k`` is multiplied by ``10**(o(f_k)/10)``
with ``o = sensors.offset_db_at(calibration, f, package start)``, so the
densities are uPa^2/Hz and band powers uPa^2. Time-domain values
(broadband, SEL, peak) are multiplied by the minute's (package's)
power-weighted gain ``sum(P_k g_k) / sum(P_k)`` -- exact for a flat
sensitivity. Uncalibrated: everything in (sample unit)^2, said in
``units_note``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hydroserve.codecs import raw

from . import hmd_quality
from .hmd_bands import decidecade_bands, hmd_bands
from .hmd_plan import plan
from .hmd_fast import band_integrals_fast
from .hmd_spectrum import BandRows
from .sensors import Calibration, calibration_offset_db, calibration_tag, offset_db_at
from .window import Run

MEDIA_TYPE = "application/x-npz"
SAMPLE_RATE_HZ = float(raw.SAMPLE_RATE_HZ)
SEGMENT_SAMPLES = 195_312
"""1 s segments (floor of 195312.5 samples, even)."""
DECIDECADE_RANGE_HZ = (10 ** 0.95, SAMPLE_RATE_HZ / 2)
"""Decidecade bands wholly inside: centres 10 Hz .. 79.4 kHz (40 bands)."""

_ARRAYS = ("minute_start_unix_ns", "effort_s", "n_segments", "band_density", "quality_flag", "decidecade_centre_hz",
           "decidecade_mean_square", "broadband_mean_square")


@dataclass(frozen=True, eq=False)
class PackageHmd:
    """One package's (or a combination of packages') per-minute HMD results; see the module docstring.

    Attributes
    ----------
    minute_start_unix_ns : numpy.ndarray, int64 (m,)
    effort_s : numpy.ndarray, float64 (m,)
    n_segments : numpy.ndarray, int32 (m,)
    band_density : numpy.ndarray, float32 (m, bands)
        Linear band-mean spectral density, uPa^2/Hz (calibrated) or (sample unit)^2/Hz; NaN without segments.
    quality_flag : numpy.ndarray, int8 (m, bands)
    decidecade_centre_hz : numpy.ndarray, float64 (k,)
    decidecade_mean_square : numpy.ndarray, float64 (m, k)
    broadband_mean_square : numpy.ndarray, float64 (m,)
    sel_db, peak_spl_db : float
    calibrated : bool
    units_note : str
        ``"µPa"`` or ``"sample unit"``: the unit whose square the linear values are in.
    calibration : dict
        What /info shows about the calibration used.
    """

    minute_start_unix_ns: np.ndarray
    effort_s: np.ndarray
    n_segments: np.ndarray
    band_density: np.ndarray
    quality_flag: np.ndarray
    decidecade_centre_hz: np.ndarray
    decidecade_mean_square: np.ndarray
    broadband_mean_square: np.ndarray
    sel_db: float
    peak_spl_db: float
    calibrated: bool
    units_note: str
    calibration: dict

    def to_npz_bytes(self) -> bytes:
        """numpy .npz (no pickled objects: the calibration is stored as JSON text)."""
        buffer = io.BytesIO()
        np.savez(
            buffer, **{name: getattr(self, name) for name in _ARRAYS}, sel_db=self.sel_db, peak_spl_db=self.peak_spl_db,
            calibrated=self.calibrated, units_note=np.str_(self.units_note),
            calibration_json=np.str_(json.dumps(self.calibration)),
        )
        return buffer.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> PackageHmd:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls(
                **{name: arrays[name] for name in _ARRAYS}, sel_db=float(arrays["sel_db"]),
                peak_spl_db=float(arrays["peak_spl_db"]), calibrated=bool(arrays["calibrated"]),
                units_note=str(arrays["units_note"]), calibration=json.loads(str(arrays["calibration_json"])),
            )

    def level_unit(self, kind: str) -> str:
        """The dB unit of a kind of value: ``density`` (HMD), ``level`` (SPL, band levels), ``exposure`` (SEL)."""
        unit = "1 µPa" if self.calibrated else "1 (sample unit)"
        return {"density": f"dB re {unit}²/Hz", "level": f"dB re {unit}", "exposure": f"dB re {unit}²·s"}[kind]


def details(result: PackageHmd) -> dict:
    """The HMD product's details in the catalog (and /info): what it holds, in which units, with which calibration."""
    bands = hmd_bands(SAMPLE_RATE_HZ, SEGMENT_SAMPLES)
    return {
        "format": "numpy .npz (no pickled objects); arrays as hydroserve.acoustics.hmd_product.PackageHmd",
        "n_minutes": len(result.minute_start_unix_ns),
        "minutes": "UTC minutes the package touches; partial minutes have effort_s < 60",
        "effort_s": [round(float(e), 6) for e in result.effort_s],
        "n_segments": [int(n) for n in result.n_segments],
        "n_bands": len(bands), "first_millidecade_band_hz": float(bands.centre_hz[bands.n_linear]),
        "bands": "hybrid millidecade (Martin et al. 2021): 1 Hz bands 0-434 Hz, millidecade bands 435.0 Hz-Nyquist, "
                 "centres as mbari-pbp's",
        "segment": f"{SEGMENT_SAMPLES} samples (1 s), Hann, 50 % overlap, not detrended",
        "psd_unit": result.level_unit("density"),
        "level_unit": result.level_unit("level"),
        "sel_unit": result.level_unit("exposure"),
        "linear_unit": f"({result.units_note})^2/Hz for band_density, ({result.units_note})^2 for mean squares",
        "sel_db": round(result.sel_db, 6), "peak_spl_db": round(result.peak_spl_db, 6),
        "calibrated": result.calibrated, "calibration": result.calibration,
        "quality_flag": "SoundCoop: 1 good, 2 not evaluated (no whole segment), 3 questionable (clipping), "
                        "4 bad (clipping >= 0.1 %, stuck signal; DC offset: the 0 and 1 Hz bands)",
    }


def calibration_details(calibration: Calibration | None) -> dict:
    """What the HMD product records (and /info shows) about the calibration it was made with."""
    if calibration is None:
        return {"calibrated": False, "tag": calibration_tag(None), "offset_db": 0.0}
    return {
        "calibrated": True, "tag": calibration_tag(calibration), "offset_db": calibration_offset_db(calibration),
        "sensitivity_db_re_1v_per_upa": calibration.sensitivity_db_re_1v_per_upa, "gain_db": calibration.gain_db,
        "volts_per_unit": calibration.volts_per_unit, "frequency_dependent": False,
    }


def compute(run_samples: list[np.ndarray], runs: tuple[Run, ...], calibration: Calibration | None, *,
            band_integrals=band_integrals_fast) -> PackageHmd:
    """The HMD product of a package: its contiguous runs of samples (float32) and where they lie in time (``runs``).

    ``band_integrals(run_samples, plan, rows, gain_at, sample_rate_hz)`` is the spectral engine: :mod:`.hmd_fast` (the
    default) or :func:`.hmd_spectrum.band_integrals_naive`.
    """
    bands = hmd_bands(SAMPLE_RATE_HZ, SEGMENT_SAMPLES)
    minute_plan = plan(runs, SEGMENT_SAMPLES)
    dd_centre, dd_lower, dd_upper = decidecade_bands(*DECIDECADE_RANGE_HZ)
    start_s = runs[0].start_tick / raw.TICKS_PER_SECOND
    everything_lower, everything_upper = [-SAMPLE_RATE_HZ, -SAMPLE_RATE_HZ], [SAMPLE_RATE_HZ, SAMPLE_RATE_HZ]
    n_rows = len(bands) + len(dd_centre) + 2
    rows = BandRows(np.concatenate([bands.lower_hz, dd_lower, everything_lower]),
                    np.concatenate([bands.upper_hz, dd_upper, everything_upper]),
                    calibrated=np.arange(n_rows) != n_rows - 1)  # the last row: the total power without calibration
    integrals = band_integrals(run_samples, minute_plan, rows, lambda f: 10 ** (offset_db_at(calibration, f, start_s) / 10),
                               SAMPLE_RATE_HZ)
    n_hmd, n_dd = len(bands), len(dd_centre)
    band_density = integrals[:, :n_hmd] / bands.width_hz
    decidecade = integrals[:, n_hmd : n_hmd + n_dd]
    flat_gain = 10 ** (calibration_offset_db(calibration) / 10)
    with np.errstate(invalid="ignore", divide="ignore"):
        minute_gain = integrals[:, -2] / integrals[:, -1]
    minute_gain = np.where(np.isfinite(minute_gain) & (minute_gain > 0), minute_gain, flat_gain)

    statistics = [hmd_quality.MinuteStatistics() for _ in minute_plan.minutes]
    for piece in minute_plan.pieces:
        statistics[int(np.searchsorted(minute_plan.minutes, piece.minute))].add(
            run_samples[piece.run][piece.first : piece.first + piece.n_samples])
    n_segments = minute_plan.n_segments
    flags = np.stack([hmd_quality.flags(s, int(n), bands.lower_hz, bands.bin_width_hz) for s, n in zip(statistics, n_segments)])
    broadband = np.array([s.mean_square for s in statistics]) * minute_gain
    energy = sum(s.total_square for s in statistics)
    package_gain = float(np.average(minute_gain, weights=[s.total_square for s in statistics])) if energy > 0 else flat_gain
    peak = max(s.peak for s in statistics)
    with np.errstate(divide="ignore"):
        sel_db = float(10 * np.log10(energy * package_gain / SAMPLE_RATE_HZ))
        peak_spl_db = float(20 * np.log10(peak) + 10 * np.log10(package_gain))
    return PackageHmd(
        minute_start_unix_ns=minute_plan.minute_start_unix_ns,
        effort_s=minute_plan.samples_per_minute() / SAMPLE_RATE_HZ,
        n_segments=n_segments,
        band_density=band_density.astype(np.float32),
        quality_flag=flags,
        decidecade_centre_hz=dd_centre,
        decidecade_mean_square=decidecade,
        broadband_mean_square=broadband,
        sel_db=sel_db, peak_spl_db=peak_spl_db, calibrated=calibration is not None,
        units_note="µPa" if calibration is not None else "sample unit",
        calibration=calibration_details(calibration),
    )


def combine_minutes(parts: Sequence[PackageHmd]) -> PackageHmd:
    """Combine the minutes of several packages (of one sensor) into one :class:`PackageHmd`.

    A minute found in several parts gets the segment-weighted mean of ``band_density`` and
    ``decidecade_mean_square`` (weights ``n_segments``), the effort-weighted mean of ``broadband_mean_square``, the
    sums of ``effort_s`` and ``n_segments``, and per band the worst flag of the parts that have segments there (2 if
    none has). SEL adds up in energy, the peak is the largest.

    Raises
    ------
    ValueError
        No parts, or parts made with different calibrations or band layouts.
    """
    if not parts:
        raise ValueError("combine_minutes needs at least one part")
    first = parts[0]
    for part in parts[1:]:
        if part.calibration != first.calibration or part.band_density.shape[1] != first.band_density.shape[1]:
            raise ValueError("parts to combine must share their calibration and bands")
    minutes = np.unique(np.concatenate([p.minute_start_unix_ns for p in parts]))
    m, n_bands, n_dd = len(minutes), first.band_density.shape[1], len(first.decidecade_centre_hz)
    effort = np.zeros(m)
    segments = np.zeros(m, dtype=np.int64)
    density_sum = np.zeros((m, n_bands))
    decidecade_sum = np.zeros((m, n_dd))
    broadband_sum = np.zeros(m)
    flags = np.zeros((m, n_bands), dtype=np.int8)
    for part in parts:
        rows = np.searchsorted(minutes, part.minute_start_unix_ns)
        effort[rows] += part.effort_s
        segments[rows] += part.n_segments
        broadband_sum[rows] += part.broadband_mean_square * part.effort_s
        has = part.n_segments > 0
        density_sum[rows[has]] += part.band_density[has].astype(np.float64) * part.n_segments[has, None]
        decidecade_sum[rows[has]] += part.decidecade_mean_square[has] * part.n_segments[has, None]
        flags[rows[has]] = np.maximum(flags[rows[has]], part.quality_flag[has])
    flags[flags == 0] = hmd_quality.NOT_EVALUATED
    with np.errstate(invalid="ignore", divide="ignore"):
        density = density_sum / segments[:, None]
        decidecade = decidecade_sum / segments[:, None]
        broadband = broadband_sum / effort
    return PackageHmd(
        minute_start_unix_ns=minutes, effort_s=effort, n_segments=segments.astype(np.int32),
        band_density=np.where(segments[:, None] > 0, density, np.nan).astype(np.float32), quality_flag=flags,
        decidecade_centre_hz=first.decidecade_centre_hz,
        decidecade_mean_square=np.where(segments[:, None] > 0, decidecade, np.nan),
        broadband_mean_square=broadband,
        sel_db=float(10 * np.log10(sum(10 ** (p.sel_db / 10) for p in parts))),
        peak_spl_db=float(max(p.peak_spl_db for p in parts)),
        calibrated=first.calibrated, units_note=first.units_note, calibration=first.calibration,
    )
