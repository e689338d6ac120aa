"""Soundscape endpoints: a sensor-day's 1-minute HMD as SoundCoop netCDF, SPD and percentiles, band levels.

Each view parses its request, makes one call into
:class:`~hydroserve.acoustics.soundscape.Soundscape` (which reads the stored
sensor-day aggregates) and shapes the answer.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, date, datetime

import numpy as np
from flask import abort, request

from hydroserve.acoustics import hmd_day, level_series, spd
from hydroserve.acoustics.level_series import NS_PER_S, LevelSeries
from hydroserve.acoustics.soundscape import NoData
from hydroserve.api import urls
from hydroserve.codecs import SOFTWARE_VERSION, netcdf
from hydroserve.codecs.times import rfc3339

from . import errors, http
from .acoustic_schemas import SENSOR_PATTERN
from .blueprint import Blueprint
from .services import services
from .soundscape_schemas import DAY_PATTERN, LevelsQuery, LevelsSchema, ManyLevelsQuery, ManyLevelsSchema, SpdQuery, SpdSchema

bp = Blueprint("soundscape", __name__, description="Soundscape products over days to months: daily 1-minute hybrid "
               "millidecade spectra (SoundCoop netCDF), spectral probability density and percentiles, band levels")

NO_DATA = {"description": "No such sensor, or no HMD of it in the time range", **errors.PROBLEM}
INVALID = {"description": "Invalid parameter", **errors.PROBLEM}
NETCDF_CONTENT = {netcdf.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}


def unix_s(moment: datetime) -> int:
    return int(moment.timestamp())


def _finite(values: np.ndarray) -> list:
    """A list for JSON: NaN and infinities become null."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).ravel()]


def _times(series: LevelSeries) -> list[str]:
    return [rfc3339(datetime.fromtimestamp(int(ns) / NS_PER_S, UTC)) for ns in series.start_unix_ns]


def soundscape_call(call, *args):
    """A soundscape query, its domain errors turned into answers: no data 404, invalid or mixed ranges 400."""
    try:
        return call(*args)
    except NoData as error:
        abort(404, description=str(error))
    except ValueError as error:
        abort(400, description=str(error))


def check_sensor(sensor: str) -> None:
    if not re.fullmatch(SENSOR_PATTERN, sensor):
        abort(404, description=f"No sensor {sensor!r}: sensor ids are DOM_<dom id>_CH<channel>.")


@bp.route(urls.rule(urls.SENSOR_HMD_DAY), endpoint="HmdDay")
@bp.doc(responses={"200": {"description": "The sensor's 1-minute hybrid millidecade spectra of one UTC day in the "
                                          "SoundCoop HMD netCDF layout (netCDF-4): psd(time, frequency) in dB, "
                                          "quality_flag(time, frequency), effort(time), calibration on its own "
                                          "dimension, CF-1.6 / ACDD-1.3 attributes", "content": NETCDF_CONTENT},
                   "304": {"description": "not modified"}})
@bp.alt_response(404, **NO_DATA)
def hmd_day_file(sensor: str, day: str):
    """A day of 1-minute HMD of a sensor (day: YYYY-MM-DD, UTC), made from the day's packages; a later package of the
    day makes a new file (new ETag). Named after the SoundCoop convention in Content-Disposition."""
    check_sensor(sensor)
    try:
        parsed = date.fromisoformat(day) if re.fullmatch(DAY_PATTERN, day) else None
    except ValueError:
        parsed = None
    if parsed is None:
        abort(404, description=f"{day!r} is no day: give YYYY-MM-DD.")
    found = soundscape_call(services().soundscape.day_file, sensor, parsed)
    return http.send_stream(io.BytesIO(found.data), len(found.data), media_type=netcdf.MEDIA_TYPE, etag=found.etag,
                            last_modified=None, download_name=found.file_name, immutable=False)


@bp.route(urls.rule(urls.SENSOR_SPD), endpoint="Spd")
@bp.arguments(SpdQuery, location="query", as_kwargs=True)
@bp.response(200, SpdSchema, description="SPD, percentiles and linear mean per HMD band (JSON, or netCDF on request)")
@bp.doc(responses={"200": {"description": "SPD, percentiles and linear mean per HMD band (JSON, or netCDF on request)",
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Spd"}},
                                       **NETCDF_CONTENT}}})
@bp.alt_response(400, **INVALID)
@bp.alt_response(404, **NO_DATA)
def get_spd(sensor: str, start: datetime, end: datetime, bin_db: float, fmin=None, fmax=None):
    """Spectral probability density (Merchant et al. 2013) and percentiles p1..p99 plus the linear mean of the 1-minute
    HMD levels per band over the time range; netCDF with ``Accept: application/x-netcdf``."""
    check_sensor(sensor)
    soundscape = services().soundscape
    histogram = soundscape_call(soundscape.spd, sensor, unix_s(start), unix_s(end))
    centre_hz = soundscape.centre_hz
    keep = (centre_hz >= (fmin if fmin is not None else 0)) & (centre_hz <= (fmax if fmax is not None else np.inf))
    if not keep.any():
        abort(400, description=f"no HMD band centre lies between fmin={fmin} and fmax={fmax} Hz")
    histogram = histogram.bands(np.flatnonzero(keep))
    edges, density = soundscape_call(spd.density, histogram, bin_db)
    levels = spd.percentiles(histogram)
    mean = spd.mean_db(histogram)
    unit = hmd_day.units(histogram.calibrated)[0]
    if request.accept_mimetypes.best_match(["application/json", netcdf.MEDIA_TYPE]) == netcdf.MEDIA_TYPE:
        data = netcdf.spd(frequency_hz=centre_hz[keep], level_edges_db=edges, density_per_db=density,
                          percent=np.array(spd.PERCENTILES, float), percentile_db=levels, mean_db=mean,
                          n_minutes=histogram.n_minutes, level_unit=unit, global_attributes={
                              "Conventions": "CF-1.6, ACDD-1.3", "title": f"Spectral probability density of {sensor}",
                              "time_coverage_start": rfc3339(start), "time_coverage_end": rfc3339(end),
                              "license": "CC-BY-4.0", "sensor": sensor,
                              "history": f"made by hydroserve {SOFTWARE_VERSION} from the sensor's day aggregates of the "
                                         "1-minute HMD"})
        return http.send_stream(io.BytesIO(data), len(data), media_type=netcdf.MEDIA_TYPE,
                                etag=hashlib.sha256(data).hexdigest()[:40], last_modified=None,
                                download_name=f"{sensor}_spd.nc", immutable=False)
    return http.send_json({
        "sensor": sensor, "start": rfc3339(start), "end": rfc3339(end), "unit": f"dB re {unit}",
        "frequency_hz": _finite(centre_hz[keep]), "n_minutes": [int(n) for n in histogram.n_minutes],
        "bin_db": bin_db, "level_edges_db": _finite(np.round(edges, 6)),
        "density": [_finite(np.round(row, 8)) for row in density],
        "percentiles": {f"p{p}": _finite(levels[:, i]) for i, p in enumerate(spd.PERCENTILES)},
        "mean_db": _finite(mean), "percentile_resolution_db": spd.LEVEL_STEP_DB,
    })


def band_columns(series: LevelSeries, bands) -> tuple[list[dict], np.ndarray]:
    """The bands asked for and their levels (dB), shape (bins, bands)."""
    if bands == "broadband":
        return [{"name": "broadband", "centre_hz": None}], level_series.level_db(series.broadband_mean_square)[:, None]
    index = np.arange(len(series.centre_hz)) if bands == "decidecade" else level_series.select_bands(series.centre_hz, bands)
    names = [{"name": f"{series.centre_hz[i]:.4g}" if bands == "decidecade" else f"{bands[j]:g}",
              "centre_hz": float(series.centre_hz[i])} for j, i in enumerate(index)]
    return names, level_series.level_db(series.mean_square[:, index])


@bp.route(urls.rule(urls.SENSOR_LEVELS), endpoint="SensorLevels")
@bp.arguments(LevelsQuery, location="query", as_kwargs=True)
@bp.response(200, LevelsSchema, description="Band levels of the sensor per time bin")
@bp.alt_response(400, **INVALID)
@bp.alt_response(404, **NO_DATA)
def get_levels(sensor: str, start: datetime, end: datetime, bands, resolution_s: int):
    """Decidecade (IEC 61260-1 base-10) and broadband levels of one sensor over time, from its 1-minute HMD: per bin the
    effort-weighted mean of the minutes' mean-square pressure, in dB."""
    check_sensor(sensor)
    series = soundscape_call(services().soundscape.levels, sensor, unix_s(start), unix_s(end), resolution_s)
    names, levels = soundscape_call(band_columns, series, bands)
    return http.send_json({
        "sensor": sensor, "unit": f"dB re {hmd_day.units(series.calibrated)[1]}", "resolution_s": resolution_s,
        "bands": names, "times": _times(series), "effort_s": _finite(series.effort_s),
        "levels_db": [_finite(row) for row in levels],
    })


@bp.route(urls.rule(urls.LEVELS), endpoint="Levels")
@bp.arguments(ManyLevelsQuery, location="query", as_kwargs=True)
@bp.response(200, ManyLevelsSchema, description="One band's levels per sensor and time bin")
@bp.alt_response(400, **INVALID)
def get_many_levels(band: str, start: datetime, end: datetime, resolution_s: int, sensor=None):
    """One band of many sensors over time in one answer (the detector-wide noise monitor): every sensor with data in
    the range, or those named; sensors without data are left out."""
    found = soundscape_call(services().soundscape.levels_many, sensor or None, unix_s(start), unix_s(end), resolution_s)
    items, named = [], None
    for name, series in sorted(found.items()):
        bands = "broadband" if band == "broadband" else [float(band)]
        columns, levels = soundscape_call(band_columns, series, bands)
        named = named or columns[0]
        items.append({"sensor": name, "unit": f"dB re {hmd_day.units(series.calibrated)[1]}", "times": _times(series),
                      "effort_s": _finite(series.effort_s), "level_db": _finite(levels[:, 0])})
    return http.send_json({"band": named or {"name": band, "centre_hz": None}, "resolution_s": resolution_s,
                           "sensors": items})
