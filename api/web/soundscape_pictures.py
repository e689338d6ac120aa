"""Long-term pictures of a sensor (PNG): LTSA, SPD with percentile curves, band levels over a time range.

Each picture is drawn once per state of its days and stored (blob store);
the ETag is a hash of the picture's parameters and the revisions of the
days it shows, so a client's copy is confirmed (304) from one small catalog
read, and a new package of one of those days gives a new picture.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from flask import Response

from hydroserve.acoustics import hmd_day, soundscape_pictures
from hydroserve.acoustics.colour_scales import colour_scale_db
from hydroserve.acoustics.pictures import MEDIA_TYPE
from hydroserve.api import urls
from hydroserve.codecs.raw import SensorId

from . import errors, http
from .blueprint import Blueprint
from .pictures import PICTURE_MAX_AGE_S
from .services import services
from .soundscape import band_columns, check_sensor, soundscape_call, unix_s
from .soundscape_schemas import PICTURE_BANDS_HZ, LevelsPictureQuery, LtsaPictureQuery, SpdPictureQuery

bp = Blueprint("soundscape_pictures", __name__, description="Long-term pictures of a sensor (PNG): LTSA, SPD, band levels")

PNG = {"content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}
NO_DATA = {"description": "No such sensor, or no HMD of it in the time range", **errors.PROBLEM}


def _send_picture(sensor: str, kind: str, start: datetime, end: datetime, parameters: tuple, make) -> Response:
    soundscape = services().soundscape
    start_s, end_s = unix_s(start), unix_s(end)
    etag = soundscape.picture_etag(sensor, kind, start_s, end_s, parameters)
    return http.send_made(etag, MEDIA_TYPE, lambda: soundscape.picture(sensor, etag, kind, start_s, end_s, lambda: make(start_s, end_s)),
                          max_age_s=PICTURE_MAX_AGE_S)


def _title(sensor: str, what: str, start: datetime, end: datetime) -> str:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return f"{sensor}: {what}, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


@bp.route(urls.rule(urls.SENSOR_LTSA_PICTURE), endpoint="LtsaPng")
@bp.arguments(LtsaPictureQuery, location="query", as_kwargs=True)
@bp.doc(responses={"200": {"description": "long-term spectral average: mean HMD spectral density per time bin "
                                          "(resolution_s; by default minutes up to 12 hours, hours up to 40 days, "
                                          "days beyond) against time and log frequency (10 Hz to Nyquist), fixed "
                                          "colour scale per sensor type; grey: no data", **PNG},
                   "304": {"description": "not modified"}})
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, **NO_DATA)
def ltsa_png(sensor: str, start: datetime, end: datetime, size: str, resolution_s: int | None = None):
    """The sensor's long-term spectral average over the time range, at a resolution chosen from the range's length
    unless ``resolution_s`` is given."""
    check_sensor(sensor)
    info = services().sensors.info(SensorId.parse(sensor))
    configured = colour_scale_db(services().settings, info.type, "ltsa")
    resolution_s = resolution_s or soundscape_pictures.ltsa_resolution_s((end - start).total_seconds())

    def make(start_s: int, end_s: int) -> bytes:
        series = soundscape_call(services().soundscape.ltsa, sensor, start_s, end_s, resolution_s)
        return soundscape_pictures.ltsa_png(
            series, start_s=start_s, end_s=end_s, resolution_s=resolution_s, unit=hmd_day.units(series.calibrated)[0],
            title=_title(sensor, f"long-term spectral average ({_bin_name(resolution_s)} mean HMD)", start, end),
            colour_range=soundscape_pictures.colour_range_db(series.calibrated, configured), small=size == "small")

    return _send_picture(sensor, "ltsa", start, end, (info.type, configured, size, resolution_s), make)


def _bin_name(resolution_s: int) -> str:
    for unit_s, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if resolution_s % unit_s == 0:
            count = resolution_s // unit_s
            return name if count == 1 else f"{count}-{name}"
    return f"{resolution_s} s"


@bp.route(urls.rule(urls.SENSOR_SPD_PICTURE), endpoint="SpdPng")
@bp.arguments(SpdPictureQuery, location="query", as_kwargs=True)
@bp.doc(responses={"200": {"description": "spectral probability density of the 1-minute HMD levels (colour, 1 dB "
                                          "bins) with the p1, p5, p50, p95, p99 curves and the linear mean", **PNG},
                   "304": {"description": "not modified"}})
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, **NO_DATA)
def spd_png(sensor: str, start: datetime, end: datetime, size: str):
    """The sensor's SPD and percentiles over the time range as a picture."""
    check_sensor(sensor)

    def make(start_s: int, end_s: int) -> bytes:
        soundscape = services().soundscape
        histogram = soundscape_call(soundscape.spd, sensor, start_s, end_s)
        return soundscape_pictures.spd_png(histogram, soundscape.centre_hz, unit=hmd_day.units(histogram.calibrated)[0],
                                           title=_title(sensor, "spectral probability density", start, end),
                                           small=size == "small")

    return _send_picture(sensor, "spd", start, end, (size,), make)


@bp.route(urls.rule(urls.SENSOR_LEVELS_PICTURE), endpoint="LevelsPng")
@bp.arguments(LevelsPictureQuery, location="query", as_kwargs=True)
@bp.doc(responses={"200": {"description": "band levels against time (decidecade bands or broadband), hourly bins up "
                                          "to 10 days, daily beyond", **PNG}, "304": {"description": "not modified"}})
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, **NO_DATA)
def levels_png(sensor: str, start: datetime, end: datetime, size: str, bands=None):
    """The sensor's band-level trends over the time range."""
    check_sensor(sensor)
    bands = bands or PICTURE_BANDS_HZ
    resolution_s = 3600 if (end - start).total_seconds() <= 10 * 86400 else 86400

    def make(start_s: int, end_s: int) -> bytes:
        series = soundscape_call(services().soundscape.levels, sensor, start_s, end_s, resolution_s)
        names, levels = soundscape_call(band_columns, series, bands)
        labels = [n["name"] if n["centre_hz"] is None else f"{n['name']} Hz" for n in names]
        return soundscape_pictures.levels_png(series.start_unix_ns, np.asarray(levels), labels,
                                              unit=hmd_day.units(series.calibrated)[1],
                                              title=_title(sensor, f"band levels, {resolution_s // 3600} h bins", start, end),
                                              small=size == "small")

    return _send_picture(sensor, "levels", start, end, (str(bands), resolution_s, size), make)

