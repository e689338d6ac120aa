"""Pictures as products: a package's PSD and spectrogram, a sensor's noise in bands over time (PNG).

A package's pictures are rendered once, on first request, and stored beside
its other products (see :mod:`hydroserve.acoustics.package_products`); the
ETag is the SHA-256 of the stored PNG. They are not immutable: a new
calibration in the sensors file changes the picture behind the URL. The
band-level picture of a sensor changes as packages arrive: it is rendered per
request, unless the ETag (made from the packages it shows) says the client has
it already.
"""

from __future__ import annotations

from flask import abort

from hydroserve.acoustics import pictures
from hydroserve.acoustics.colour_scales import colour_scale_db
from hydroserve.api import urls

from . import errors, http
from .acoustic_lookups import latest_packages, load_live, with_live
from .acoustic_schemas import BandLevelsQuery, PsdPictureQuery, SpectrogramPictureQuery
from .blueprint import Blueprint
from .services import services

bp = Blueprint("pictures", __name__, description="Pictures (PNG): PSD and spectrogram of a package, a sensor's noise in bands over time")

PICTURE_MAX_AGE_S = 60
"""Pictures drawn from data that grows (a sensor's latest packages, its days) are revalidated after this."""
PNG_CONTENT = {pictures.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}


@bp.route(urls.rule(urls.PACKAGE_PSD_PICTURE), endpoint="PsdPng")
@bp.arguments(PsdPictureQuery, location="query", as_kwargs=True)
@bp.doc(responses={"200": {"description": "PSD plot: mean, median, 75 % quantile and the median to 95 % band, "
                                          "dB against frequency up to Nyquist", "content": PNG_CONTENT},
                   "304": {"description": "not modified"}})
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
@bp.alt_response(410, description="The PSD was deleted by the retention rules", **errors.PROBLEM)
def psd_png(package_id: str, xscale: str, size: str):
    """The package's PSD as a picture (from the ingest PSD), in the unit of /psd."""
    record = load_live(package_id, "psd")
    small = size == "small"
    served = services().products.psd_picture(record, log_frequency=xscale == "log", small=small)
    return http.send_served(served, last_modified=record.created_at,
                            download_name=f"{package_id}.psd.{xscale}{'.small' if small else ''}.png")


@bp.route(urls.rule(urls.PACKAGE_SPECTROGRAM_PICTURE), endpoint="SpectrogramPng")
@bp.arguments(SpectrogramPictureQuery, location="query", as_kwargs=True)
@bp.doc(responses={"200": {"description": "spectrogram: time (s from the window start) against frequency up to Nyquist, "
                                          "PSD in dB as colour; grey where there is no data", "content": PNG_CONTENT},
                   "304": {"description": "not modified"}})
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
@bp.alt_response(410, description="The samples were deleted by the retention rules", **errors.PROBLEM)
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
def spectrogram_png(package_id: str, scale: str, size: str):
    """The package's spectrogram as a picture: Hann segments of 1024 samples (Δf 191 Hz), averaged into at most 800 time
    columns; colours on the fixed range configured for the sensor's type (colour_scales) unless ``scale=auto``."""
    record = load_live(package_id, "wav")
    fixed = None if scale == "auto" else spectrogram_scale_db(record.sensor)
    served = services().products.spectrogram_picture(record, fixed, thumbnail=size == "thumbnail")
    return http.send_served(served, last_modified=record.created_at, download_name=f"{package_id}.spectrogram{'.thumbnail' if size == 'thumbnail' else ''}.png")


@bp.route(urls.rule(urls.SENSOR_BAND_LEVELS_PICTURE), endpoint="BandLevelsPng")
@bp.arguments(BandLevelsQuery, location="query", as_kwargs=True)
@bp.doc(responses={"200": {"description": "band-averaged PSD level in 0.1-1, 1-10, 10-50 kHz and 50 kHz to Nyquist "
                                          "against package start time", "content": PNG_CONTENT},
                   "304": {"description": "not modified"}})
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, description="No such sensor", **errors.PROBLEM)
def band_levels_png(sensor: str, n: int, statistic: str, size: str):
    """The sensor's noise over its latest packages: the band average of a PSD statistic (median by default) in a few bands."""
    records = with_live(latest_packages(sensor, n), "psd")
    if not records:
        abort(410, description=f"The PSDs of the latest packages of {sensor} were deleted by the retention rules.")
    products = services().products
    return http.send_made(products.band_levels_etag(records, statistic) + ("-small" if size == "small" else ""),
                          pictures.MEDIA_TYPE,
                          lambda: pictures.band_levels_picture(products.band_levels(records, statistic), small=size == "small"),
                          max_age_s=PICTURE_MAX_AGE_S)


def spectrogram_scale_db(sensor) -> tuple[float, float] | None:
    """The configured spectrogram colour range of ``sensor``'s type, or None (auto-scaled)."""
    return colour_scale_db(services().settings, services().sensors.info(sensor).type, "spectrogram")
