"""A sensor-day of 1-minute HMD, and the aggregates stored for it: netCDF, minute and hourly levels, SPD histogram.

The day is made from the per-package HMD products (``PackageHmd``, never the
samples): the minutes of the packages touching the UTC day, partial minutes
of neighbouring packages combined by :func:`hydroserve.acoustics.hmd_product.combine_minutes`,
clipped to the day (:mod:`.soundscape` collects them). From it, once per revision of the sensor-day
(:mod:`.hmd_days`), four blobs under :func:`.product_keys.hmd_day_prefix`:

* ``.nc``          the SoundCoop HMD netCDF of the day (:func:`hydroserve.codecs.netcdf.hmd_day`);
* ``.minutes.bin`` decidecade and broadband levels per minute (:class:`.level_series.LevelSeries`);
* ``.hours.bin``   the same per hour (the many-sensor monitor reads these: 24 rows a day);
* ``.spd.npz``     the day's level histogram per HMD band (:class:`.spd.LevelHistogram`);
* ``.ltsa.bin``    the hourly mean HMD spectrum (a :class:`.level_series.LevelSeries` over the HMD bands), for LTSA pictures.

A minute counts in the SPD and percentiles when it has at least one segment,
and a band of it when its quality flag is not 4 (bad).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from hydroserve.codecs import SOFTWARE_VERSION, netcdf
from hydroserve.codecs.raw import SensorId

from . import level_series, spd
from .hmd_days import DAY_S
from .hmd_product import SAMPLE_RATE_HZ
from .level_series import NS_PER_S, LevelSeries

HOUR_S = 3600
CITATION = ("KM3NeT Collaboration, acoustic data of the KM3NeT neutrino telescopes: 1-minute hybrid millidecade "
            "spectra (hydroserve {version}), CC-BY-4.0.")


@dataclass(frozen=True)
class DayAggregates:
    """What is stored per sensor-day (see the module text)."""

    netcdf: bytes
    minutes: LevelSeries
    hours: LevelSeries
    histogram: spd.LevelHistogram
    ltsa: LevelSeries


def minute_levels(minutes) -> LevelSeries:
    """The decidecade and broadband levels of each minute with at least one whole 1 s segment (the decidecade levels
    come from the segments' spectra)."""
    has = np.asarray(minutes.n_segments) > 0
    return LevelSeries(np.asarray(minutes.minute_start_unix_ns, np.int64)[has], np.asarray(minutes.effort_s, np.float64)[has],
                       np.asarray(minutes.decidecade_centre_hz, np.float64),
                       np.asarray(minutes.decidecade_mean_square, np.float64)[has],
                       np.asarray(minutes.broadband_mean_square, np.float64)[has], bool(minutes.calibrated))


def hmd_means(minutes, centre_hz: np.ndarray, resolution_s: int) -> LevelSeries:
    """The effort-weighted mean of the HMD band densities (minutes with a segment) in bins of ``resolution_s`` aligned
    on the Unix epoch."""
    has = np.asarray(minutes.n_segments) > 0
    density = LevelSeries(np.asarray(minutes.minute_start_unix_ns, np.int64)[has], np.asarray(minutes.effort_s, np.float64)[has],
                          centre_hz, np.asarray(minutes.band_density, np.float64)[has],
                          np.asarray(minutes.broadband_mean_square, np.float64)[has], bool(minutes.calibrated))
    return level_series.resample(density, resolution_s)


def day_histogram(minutes) -> spd.LevelHistogram:
    """The day's level histogram per HMD band: minutes with a segment, bands not flagged bad."""
    density = np.asarray(minutes.band_density, np.float64)
    valid = (np.asarray(minutes.n_segments) > 0)[:, None] & (np.asarray(minutes.quality_flag) != 4) & (density > 0)
    return spd.histogram(density, valid, calibrated=bool(minutes.calibrated))


def units(calibrated: bool) -> tuple[str, str]:
    """The references of spectral density and level: ``("1 µPa^2/Hz", "1 µPa")`` or the sample-unit ones."""
    return ("1 µPa^2/Hz", "1 µPa") if calibrated else ("1 (sample unit)^2/Hz", "1 sample unit")


def file_name(sensor: SensorId, day: date, detector: str | None) -> str:
    """The SoundCoop name ``<project>.<site>_<recorder>.<channel>.<rate>_<YYYYMMDD>_DAILY_MILLIDEC_MinRes.nc``."""
    return f"KM3NeT.{detector or 'KM3NeT'}_DOM{sensor.dom_id}.CH{sensor.channel}.195kHz_{day:%Y%m%d}_DAILY_MILLIDEC_MinRes.nc"


def global_attributes(*, sensor: SensorId, day: date, detector: str | None, sensor_type: str | None, calibrated: bool,
                      calibration: dict, n_minutes: int, revision: int, resource_kid: str, landing_url: str) -> dict:
    """The CF-1.6 / ACDD-1.3 global attributes of a day file."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    unit = units(calibrated)[0]
    return {
        "title": f"Hybrid millidecade band spectra at 1-minute resolution, KM3NeT acoustic sensor {sensor}, {day:%Y-%m-%d}",
        "summary": (f"1-minute hybrid millidecade (HMD) spectra (Martin et al. 2021) of the {sensor_type or 'acoustic'} "
                    f"sensor {sensor} of the KM3NeT {detector or ''} deep-sea neutrino telescope, dB re {unit}."),
        "Conventions": "CF-1.6, ACDD-1.3",
        "keywords": "oceans, ocean acoustics, ambient noise, soundscapes, hybrid millidecade, KM3NeT",
        "keywords_vocabulary": "GCMD Science Keywords",
        "standard_name_vocabulary": "CF Standard Name Table v80",
        "id": resource_kid,
        "naming_authority": "org.km3net",
        "institution": "KM3NeT Collaboration",
        "project": "KM3NeT open science",
        "creator_name": "KM3NeT Collaboration",
        "publisher_name": "KM3NeT Collaboration",
        "license": "CC-BY-4.0",
        "citation": CITATION.format(version=SOFTWARE_VERSION),
        "references": ("Martin et al. (2021), JASA Express Letters 1, 011203, https://doi.org/10.1121/10.0003324; "
                       "ISO 18405:2017 Underwater acoustics - Terminology"),
        "source": (f"hydroserve {SOFTWARE_VERSION}: 1 s Hann-window periodograms (DFT length 195312 samples, 50 % "
                   "overlap) averaged per UTC minute, band means over 1 Hz bands up to 434 Hz and millidecade bands "
                   "above, to Nyquist (97656.25 Hz)."),
        "history": f"made by hydroserve {SOFTWARE_VERSION} from the per-package HMD products (day revision {revision})",
        "software_version": SOFTWARE_VERSION,
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "sample_rate": "195312.5 Hz (25 MHz / 128)",
        "calibrated": "yes" if calibrated else "no",
        "calibration": json.dumps(calibration, sort_keys=True),
        "psd_unit": f"dB re {unit}",
        "instrument": f"KM3NeT {sensor_type or 'acoustic sensor'} {sensor}",
        "platform": f"KM3NeT {detector or ''} detector",
        "cdm_data_type": "TimeSeries",
        "date_created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_coverage_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_coverage_end": datetime.fromtimestamp(start.timestamp() + DAY_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_coverage_duration": "P1D",
        "time_coverage_resolution": "P60S",
        "n_minutes_with_data": n_minutes,
        "landing_page": landing_url,
    }


def aggregate(minutes, *, centre_hz: np.ndarray, calibration_offset_db: np.ndarray, attributes: dict) -> DayAggregates:
    """Everything stored for a day, from its minutes (a ``PackageHmd`` clipped to the day, HMD bands ``centre_hz``;
    ``calibration_offset_db`` at those bands: what was added to dB re unit²/Hz)."""
    density = np.asarray(minutes.band_density, np.float64)
    with np.errstate(divide="ignore"):
        psd_db = np.where(density > 0, 10 * np.log10(np.where(density > 0, density, 1.0)), np.nan)
    document = netcdf.hmd_day(
        time_unix_s=np.asarray(minutes.minute_start_unix_ns) / NS_PER_S, frequency_hz=centre_hz, psd_db=psd_db,
        quality_flag=np.asarray(minutes.quality_flag, np.int8), effort_s=np.asarray(minutes.effort_s, np.float64),
        psd_unit=units(minutes.calibrated)[0], calibration_frequency_hz=centre_hz,
        calibration={"calibration_offset": (calibration_offset_db, {
            "long_name": "Offset added to dB re 1 (sample unit)^2/Hz to give the psd (0: not calibrated), dB",
            "units": netcdf.LEVEL_UNITS, "coverage_content_type": "referenceInformation"})},
        global_attributes=attributes)
    levels = minute_levels(minutes)
    return DayAggregates(document, levels, level_series.resample(levels, HOUR_S), day_histogram(minutes),
                         hmd_means(minutes, centre_hz, HOUR_S))
