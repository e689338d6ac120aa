"""netCDF-4 documents (HDF5, written with h5netcdf): a day of 1-minute HMD in the SoundCoop layout, and an SPD.

:func:`hmd_day` writes the layout of the SoundCoop HMD netCDF template v1.0
(as produced by MBARI's pbp): dimensions ``time`` (UTC minute starts,
seconds since 1970-01-01) and ``frequency`` (HMD band centres, Hz);
``psd(time, frequency)`` float32 levels in dB, ``quality_flag(time, frequency)``
int8 (1 good, 2 not evaluated, 3 questionable, 4 bad), ``effort(time)``
seconds of data per minute; the calibration on a dimension of its own,
``calibration_frequency``; CF-1.6 / ACDD-1.3 global attributes given by the
caller. :func:`spd` writes a spectral probability density with its
percentiles. Pure functions: arrays and attributes in, bytes out.

Levels in dB carry the CF units ``"1"`` (:data:`LEVEL_UNITS`): UDUNITS, which CF
units must follow, has no decibel, and a level is a dimensionless ratio; the dB
and its reference are named in ``long_name``. The files pass the IOOS CF
checker (``compliance-checker --test=cf:1.6``) without errors.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np

MEDIA_TYPE = "application/x-netcdf"
TIME_UNITS = "seconds since 1970-01-01T00:00:00Z"
LEVEL_UNITS = "1"
"""CF ``units`` of a level in dB (see the module text)."""
QUALITY_FLAG_ATTRIBUTES = {
    "long_name": "Data quality flag", "standard_name": "quality_flag", "coverage_content_type": "qualityInformation",
    "flag_values": np.array([1, 2, 3, 4], np.int8), "flag_meanings": "good not_evaluated questionable bad",
}


def _variable(f, name: str, dims: tuple[str, ...], values: np.ndarray, attrs: Mapping, compress: bool = False) -> None:
    options = {"compression": "gzip", "compression_opts": 4, "chunks": True} if compress and values.ndim == 2 else {}
    v = f.create_variable(name, dims, values.dtype, data=values, **options)
    v.attrs.update(attrs)


def _bytes(write) -> bytes:
    import h5netcdf  # h5py underneath: imported by the processes that write netCDF, not by all that name its media type

    out = io.BytesIO()
    with h5netcdf.File(out, "w") as f:
        write(f)
    return out.getvalue()


def hmd_day(*, time_unix_s: np.ndarray, frequency_hz: np.ndarray, psd_db: np.ndarray, quality_flag: np.ndarray,
            effort_s: np.ndarray, psd_unit: str, calibration_frequency_hz: np.ndarray,
            calibration: Mapping[str, tuple[np.ndarray, Mapping]], global_attributes: Mapping) -> bytes:
    """A day of 1-minute HMD spectra in the SoundCoop layout.

    Parameters
    ----------
    time_unix_s : (m,) start of each minute, s since the Unix epoch (UTC)
    frequency_hz : (n,) HMD band centres, Hz
    psd_db : (m, n) mean-square spectral density level, dB re ``psd_unit``
    quality_flag : (m, n) int8 SoundCoop codes
    effort_s : (m,) seconds of data in each minute
    psd_unit : str
        What the dB are relative to, e.g. ``"1 µPa^2/Hz"``.
    calibration_frequency_hz : (c,)
        The frequencies the calibration variables are given at (their own dimension).
    calibration : mapping name -> (values (c,), attributes)
        The calibration variables (e.g. ``sensitivity``), each on ``calibration_frequency``.
    global_attributes : mapping
        The CF / ACDD global attributes.
    """
    m, n = len(time_unix_s), len(frequency_hz)
    if psd_db.shape != (m, n) or quality_flag.shape != (m, n) or len(effort_s) != m:
        raise ValueError(f"psd_db {psd_db.shape}, quality_flag {quality_flag.shape} and effort_s ({len(effort_s)},) "
                         f"must match time ({m},) x frequency ({n},)")

    def write(f) -> None:
        f.dimensions = {"time": m, "frequency": n, "calibration_frequency": len(calibration_frequency_hz)}
        _variable(f, "time", ("time",), np.asarray(time_unix_s, np.float64), {
            "standard_name": "time", "long_name": "UTC time beginning each 1-minute temporal bin", "units": TIME_UNITS,
            "calendar": "standard", "axis": "T", "coverage_content_type": "coordinate"})
        _variable(f, "frequency", ("frequency",), np.asarray(frequency_hz, np.float64), {
            "standard_name": "sound_frequency", "long_name": "Center frequency of hybrid millidecade spectral bands",
            "units": "Hz", "coverage_content_type": "coordinate"})
        _variable(f, "calibration_frequency", ("calibration_frequency",), np.asarray(calibration_frequency_hz, np.float64), {
            "long_name": "Frequency at which the calibration is given", "units": "Hz", "coverage_content_type": "coordinate"})
        # no standard_name: CF has none for a spectral density level (pbp's sound_intensity_in_water is in W m-2)
        _variable(f, "psd", ("time", "frequency"), np.asarray(psd_db, np.float32), {
            "long_name": f"Single-sided mean-square sound pressure spectral density level, dB re {psd_unit}",
            "units": LEVEL_UNITS, "coverage_content_type": "physicalMeasurement",
            "comment": "Band mean of 1 s Hann-window periodograms (50 % overlap) averaged over the minute, ISO 18405 "
                       "3.1.3.13; hybrid millidecade bands after Martin et al. (2021)."}, compress=True)
        _variable(f, "quality_flag", ("time", "frequency"), np.asarray(quality_flag, np.int8), QUALITY_FLAG_ATTRIBUTES,
                  compress=True)
        _variable(f, "effort", ("time",), np.asarray(effort_s, np.float64), {
            "long_name": "duration of input data available for each 1-minute bin", "units": "seconds",
            "coverage_content_type": "qualityInformation"})
        for name, (values, attrs) in calibration.items():
            _variable(f, name, ("calibration_frequency",), np.asarray(values, np.float64), attrs)
        f.attrs.update(global_attributes)

    return _bytes(write)


def spd(*, frequency_hz: np.ndarray, level_edges_db: np.ndarray, density_per_db: np.ndarray, percent: np.ndarray,
        percentile_db: np.ndarray, mean_db: np.ndarray, n_minutes: np.ndarray, level_unit: str,
        global_attributes: Mapping) -> bytes:
    """A spectral probability density: ``spd(frequency, level)`` in 1/dB, ``percentile(frequency, percentile)`` and
    ``mean(frequency)`` in dB re ``level_unit``, ``n_minutes(frequency)``; the level coordinate is the bin's lower
    edge with CF ``bounds``."""
    n, levels = len(frequency_hz), len(level_edges_db) - 1
    if density_per_db.shape != (n, levels) or percentile_db.shape != (n, len(percent)):
        raise ValueError(f"density {density_per_db.shape} / percentiles {percentile_db.shape} do not match "
                         f"frequency ({n},), level ({levels},), percentile ({len(percent)},)")

    def write(f) -> None:
        f.dimensions = {"frequency": n, "level": levels, "percentile": len(percent), "nv": 2}
        _variable(f, "frequency", ("frequency",), np.asarray(frequency_hz, np.float64), {
            "standard_name": "sound_frequency", "long_name": "Center frequency of hybrid millidecade spectral bands",
            "units": "Hz"})
        _variable(f, "level", ("level",), np.asarray(level_edges_db[:-1], np.float64), {
            "long_name": f"Lower edge of the level bin, dB re {level_unit}", "units": LEVEL_UNITS, "bounds": "level_bounds"})
        _variable(f, "level_bounds", ("level", "nv"),
                  np.stack([level_edges_db[:-1], level_edges_db[1:]], axis=1).astype(np.float64), {})
        _variable(f, "percentile", ("percentile",), np.asarray(percent, np.float64), {
            "long_name": "Percentile of the 1-minute levels", "units": "percent"})
        _variable(f, "spd", ("frequency", "level"), np.asarray(density_per_db, np.float32), {
            "long_name": "Spectral probability density: fraction of minutes per dB of level, 1/dB",
            "units": LEVEL_UNITS},
            compress=True)
        _variable(f, "percentile_level", ("frequency", "percentile"), np.asarray(percentile_db, np.float32), {
            "long_name": f"Percentiles of the 1-minute spectral density levels, dB re {level_unit}",
            "units": LEVEL_UNITS})
        _variable(f, "mean", ("frequency",), np.asarray(mean_db, np.float32), {
            "long_name": f"Level of the linear mean spectral density, dB re {level_unit}", "units": LEVEL_UNITS})
        _variable(f, "n_minutes", ("frequency",), np.asarray(n_minutes, np.int32), {
            "long_name": "Number of 1-minute spectra counted", "units": "1"})
        f.attrs.update(global_attributes)

    return _bytes(write)
