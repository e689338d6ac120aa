"""Pictures as products: a package's PSD and spectrogram, a sensor's noise in bands over time (PNG).

A package's pictures are rendered once, on first request, and stored in the
blob store beside its other products (atomic put), under keys that name
everything they depend on: the picture, the calibration tag and
``PICTURE_VERSION`` (raised whenever the rendering changes). The ETag is the
sha256 of the stored PNG. The band-level picture of a sensor changes as
packages arrive: it is rendered per request, unless the ETag (made from the
packages it shows) says the client has it already.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import marshmallow as ma
import numpy as np
from flask import Response, abort, request
from marshmallow import fields, validate

from hydroserve.acoustics import bands, catalog, plots, spectrogram
from hydroserve.acoustics import products as product_builder
from hydroserve.acoustics.catalog import PackageRecord, tick_to_datetime
from hydroserve.acoustics.sensors import Calibration, calibration_offset_db
from hydroserve.codecs import raw
from hydroserve.codecs.times import readable_utc

from . import errors, http
from .acoustic import check_id, load_package, psd_arrays, samples_file
from .acoustic_schemas import SENSOR_PATTERN
from .blueprint import Blueprint
from .services import services

bp = Blueprint("pictures", __name__, description="Pictures (PNG): PSD and spectrogram of a package, a sensor's noise in bands over time")

PICTURE_VERSION = 1
MEDIA_TYPE = "image/png"
PNG_CONTENT = {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
BAND_LEVELS_DEFAULT_N = 48


class PsdPictureQuery(ma.Schema):
    xscale = fields.String(load_default="linear", validate=validate.OneOf(["linear", "log"]),
                           metadata={"description": "frequency axis: linear in kHz (default) or log in Hz"})


def band_levels_count_field() -> fields.Integer:
    """The ``n`` parameter: how many of a sensor's latest packages the band levels follow."""
    return fields.Integer(load_default=BAND_LEVELS_DEFAULT_N, validate=validate.Range(min=1, max=500),
                          metadata={"description": "how many of the sensor's latest packages"})


class BandLevelsQuery(ma.Schema):
    n = band_levels_count_field()
    statistic = fields.String(load_default="median", validate=validate.OneOf(bands.STATISTICS),
                              metadata={"description": "PSD statistic averaged over each band"})


def display_unit(calibration: Calibration | None) -> str:
    """The PSD unit as people write it, e.g. ``dB re 1 µPa²/Hz``."""
    return product_builder.psd_unit(calibration).replace("uPa", "µPa").replace("^2", "²")


def picture_key(record: PackageRecord, name: str, calibration: Calibration | None) -> str:
    prefix = product_builder.blob_prefix(record.package_id, record.sensor, record.boundary_tick)
    return f"{prefix}.{name}.{product_builder.calibration_tag(calibration)}.v{PICTURE_VERSION}.png"


def _send_picture(record: PackageRecord, key: str, make, download_name: str) -> Response:
    blobs = services().blobs
    stored = product_builder.open_blob(blobs, key, make)
    etag = hashlib.file_digest(stored, "sha256").hexdigest()
    stored.seek(0)
    # not immutable: a new calibration in the sensors file changes the picture behind the URL
    return http.send_stream(stored, blobs.size(key), media_type=MEDIA_TYPE, etag=etag, last_modified=record.created_at,
                            download_name=download_name, immutable=False)


@bp.route("/packages/<pid>/psd.png", endpoint="PsdPng")
@bp.arguments(PsdPictureQuery, location="query", as_kwargs=True)
@bp.doc(responses={"200": {"description": "PSD plot: mean, median, 75 % quantile and the median to 95 % band, "
                                          "dB against frequency up to Nyquist", "content": PNG_CONTENT},
                   "304": {"description": "not modified"}})
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
def psd_png(pid: str, xscale: str):
    """The package's PSD as a picture (from the ingest PSD), in the unit of /psd."""
    record = load_package(pid)
    calibration = services().sensors.info(record.sensor).calibration

    def make() -> bytes:
        result = psd_arrays(record, None)
        title = (f"{pid}, from {readable_utc(tick_to_datetime(record.start_tick))}\nWelch PSD: nfft {result.nfft} "
                 f"(Δf {result.frequency_hz[1]:.1f} Hz), {result.n_segments} segments over {result.effort_s:.1f} s, Hann, 50 % overlap")
        return plots.psd_png(result, offset_db=calibration_offset_db(calibration), unit=display_unit(calibration), title=title,
                             log_frequency=xscale == "log")

    return _send_picture(record, picture_key(record, f"psd.{xscale}", calibration), make, f"{pid}.psd.{xscale}.png")


@bp.route("/packages/<pid>/spectrogram.png", endpoint="SpectrogramPng")
@bp.doc(responses={"200": {"description": "spectrogram: time (s from the window start) against frequency up to Nyquist, "
                                          "PSD in dB as colour; grey where there is no data", "content": PNG_CONTENT},
                   "304": {"description": "not modified"}})
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
def spectrogram_png(pid: str):
    """The package's spectrogram as a picture: Hann segments of 1024 samples (Δf 191 Hz), averaged into at most 800 time columns."""
    record = load_package(pid)
    calibration = services().sensors.info(record.sensor).calibration

    def make() -> bytes:
        with samples_file(record) as stored:
            result = spectrogram.stored_spectrogram(
                stored, record.runs, window_start_tick=record.boundary_tick, n_expected=record.n_expected,
                sample_rate_hz=raw.SAMPLE_RATE_HZ,
            )
        return plots.spectrogram_png(result, offset_db=calibration_offset_db(calibration), unit=display_unit(calibration),
                                     title=f"{pid}, window from {readable_utc(tick_to_datetime(record.boundary_tick))}")

    return _send_picture(record, picture_key(record, "spectrogram", calibration), make, f"{pid}.spectrogram.png")


@dataclass(frozen=True)
class BandLevels:
    """Band levels of a sensor's latest packages, oldest first; ``levels_db`` has shape (n_packages, n_bands)."""

    records: list[PackageRecord]
    levels_db: np.ndarray
    bands: tuple[bands.Band, ...]
    unit: str

    @property
    def starts(self) -> list[datetime]:
        return [tick_to_datetime(r.boundary_tick) for r in self.records]

    @property
    def newest_first(self) -> list[tuple[PackageRecord, datetime, np.ndarray]]:
        """(package, window start, levels) rows, newest first."""
        return list(zip(self.records, self.starts, self.levels_db))[::-1]


def latest_packages(sensor: str, n: int) -> list[PackageRecord]:
    """The sensor's ``n`` latest packages, oldest first; 404 if it has none."""
    check_id(sensor, SENSOR_PATTERN, "sensor")
    with services().engine.connect() as conn:
        records = catalog.list_packages(conn, sensor=sensor, newest_first=True, limit=n)
    if not records:
        abort(404, description=f"No sensor {sensor!r} has data here.")
    return records[::-1]


def band_levels(records: list[PackageRecord], statistic: str) -> BandLevels:
    """Band levels of ``records`` (one sensor's) from their stored PSDs, calibrated when the sensor is."""
    calibration = services().sensors.info(records[0].sensor).calibration
    levels = np.array([bands.band_levels_db(psd_arrays(r, None), bands.DEFAULT_BANDS, statistic) for r in records])
    return BandLevels(records, levels + calibration_offset_db(calibration), bands.DEFAULT_BANDS, display_unit(calibration))


@bp.route("/sensors/<sensor>/band-levels.png", endpoint="BandLevelsPng")
@bp.arguments(BandLevelsQuery, location="query", as_kwargs=True)
@bp.doc(responses={"200": {"description": "band-averaged PSD level in 0.1-1, 1-10, 10-50 kHz and 50 kHz to Nyquist "
                                          "against package start time", "content": PNG_CONTENT},
                   "304": {"description": "not modified"}})
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, description="No such sensor", **errors.PROBLEM)
def band_levels_png(sensor: str, n: int, statistic: str):
    """The sensor's noise over its latest packages: the band average of a PSD statistic (median by default) in a few bands."""
    records = latest_packages(sensor, n)
    calibration = services().sensors.info(records[0].sensor).calibration
    state = [PICTURE_VERSION, statistic, product_builder.calibration_tag(calibration)] + [
        (r.package_id, r.products["psd"].sha256) for r in records]
    response = Response(mimetype=MEDIA_TYPE)
    response.set_etag(hashlib.sha256(repr(state).encode()).hexdigest()[:40])
    response.cache_control.public = True
    response.cache_control.max_age = 60
    response.make_conditional(request)
    if response.status_code == 304:
        return response
    series = band_levels(records, statistic)
    title = f"{sensor}: band-averaged {statistic} PSD, {len(records)} latest packages"
    response.set_data(plots.band_levels_png(series.starts, series.levels_db, series.bands, unit=series.unit, title=title))
    return response
