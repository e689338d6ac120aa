"""Acoustic endpoints: sensors, data packages and their products (raw, wav, flac, mp3, psd, info).

Each view parses its request, makes one call into the catalog or into
:class:`~hydroserve.acoustics.package_products.PackageProducts`, and shapes the answer.
"""

from __future__ import annotations

from flask import abort

from hydroserve.acoustics import catalog_by_sensor, hmd_product
from hydroserve.api import urls
from hydroserve.codecs import flac, raw

from . import errors, http
from .acoustic_documents import info_json, package_json, sensor_json
from .acoustic_lookups import load_current_psd, load_live, load_package, load_sensor, package_page
from .acoustic_schemas import (
    PackagePageSchema,
    PackageQuery,
    PackageSchema,
    PsdQuery,
    PsdSchema,
    SensorListSchema,
    SensorSchema,
)
from .blueprint import Blueprint
from .cursor import NEXT_LINK, next_page
from .info_schemas import InfoSchema
from .services import services

bp = Blueprint("acoustic", __name__, description="Acoustic sensors, data packages and their products")

NOT_FOUND = {"description": "No such package", **errors.PROBLEM}
GONE = {"description": "The product was deleted by the retention rules (when and why in the problem); the package's "
                       "other products stay", **errors.PROBLEM}


@bp.route(urls.rule(urls.SENSORS), endpoint="Sensors")
@bp.response(200, SensorListSchema)
def list_sensors():
    """Every sensor with data, with its metadata and package counts."""
    with services().engine.connect() as conn:
        summaries = catalog_by_sensor.sensor_summaries(conn)
    return {"items": [sensor_json(services().sensors.info(s.sensor), s) for s in summaries]}


@bp.route(urls.rule(urls.SENSOR), endpoint="Sensor")
@bp.response(200, SensorSchema)
@bp.alt_response(404, description="No such sensor", **errors.PROBLEM)
def get_sensor(sensor: str):
    """One sensor: type, detector, position, calibration, packages."""
    return load_sensor(sensor)


@bp.route(urls.rule(urls.PACKAGES), endpoint="Packages")
@bp.arguments(PackageQuery, location="query", as_kwargs=True)
@bp.response(200, PackagePageSchema, headers=NEXT_LINK, dumped=False)
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
def list_packages(order, limit, sensor=None, start=None, end=None, cursor=None):
    """Data packages, newest first (or oldest first), paginated with an opaque cursor."""
    page, next_cursor = package_page(order=order, limit=limit, sensor=sensor, start=start, end=end, cursor=cursor)
    next_url, headers = next_page("acoustic.Packages", next_cursor) if next_cursor is not None else (None, {})
    return {"items": [package_json(r) for r in page], "next": next_url}, 200, headers


@bp.route(urls.rule(urls.PACKAGE), endpoint="Package")
@bp.response(200, PackageSchema, dumped=False)
@bp.alt_response(404, **NOT_FOUND)
def get_package(package_id: str):
    """A package's summary with links to every product."""
    return package_json(load_package(package_id))


@bp.route(urls.rule(urls.partial(urls.PACKAGE_PRODUCT, kind="raw")), endpoint="Raw")
@bp.doc(**http.file_doc("ADF raw dump", raw.MEDIA_TYPE))
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(410, **GONE)
def get_raw(package_id: str):
    """The package as a KM3NeT ADF raw dump (readable by km3io; NaN pads the last frame of each run)."""
    record = load_live(package_id, "raw")
    # named DOM_<domid>_CH<n>_<unix>.bin, as the DAQ names its files
    return http.send_served(services().products.raw(record), last_modified=record.created_at, download_name=f"{package_id}.bin")


@bp.route(urls.rule(urls.partial(urls.PACKAGE_PRODUCT, kind="wav")), endpoint="Wav")
@bp.doc(**http.file_doc("IEEE float32 mono WAV, header rate 195312 Hz", "audio/wav"))
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(410, **GONE)
def get_wav(package_id: str):
    """The package as a float32 WAV; samples bit-identical to the raw ones."""
    record = load_live(package_id, "wav")
    return http.send_served(services().products.wav(record), last_modified=record.created_at, download_name=f"{package_id}.wav")


@bp.route(urls.rule(urls.partial(urls.PACKAGE_PRODUCT, kind="flac")), endpoint="Flac")
@bp.doc(**http.file_doc("24-bit mono FLAC, header rate 195312 Hz (exact rate in a Vorbis comment)",
                                      flac.MEDIA_TYPE))
@bp.alt_response(404, description="No such package, or its samples are not 24-bit counts (stored as float32: no "
                                  "lossless FLAC exists; use /wav)", **errors.PROBLEM)
@bp.alt_response(410, **GONE)
def get_flac(package_id: str):
    """The package as lossless 24-bit FLAC, as stored: decoded, count * 2**-23 gives the WAV's float32 samples bit for
    bit. Only packages whose samples are all exact 24-bit ADC counts have one (``storage`` in /info)."""
    record = load_live(package_id, "flac")
    if "flac" not in record.products:
        reason = record.settings.get("samples_stored_as", {}).get("reason", "it was stored before FLAC storage existed")
        abort(404, description=f"package {package_id} has no FLAC: its samples are stored as float32 ({reason}), and "
                               "FLAC of them would not be lossless; /wav has them bit for bit")
    return http.send_served(services().products.flac(record), last_modified=record.created_at,
                            download_name=f"{package_id}.flac")


@bp.route(urls.rule(urls.partial(urls.PACKAGE_PRODUCT, kind="mp3")), endpoint="Mp3")
@bp.doc(**http.file_doc("MPEG Layer III, 48 kHz mono", "audio/mpeg"))
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(410, **GONE)
def get_mp3(package_id: str):
    """A listenable MP3: DC removed, anti-alias resampled to 48 kHz, fixed gain per sensor with a soft limiter
    (gain, limiter in /info and ID3 tags), gapless LAME tag: decoded, it is time-aligned with the WAV."""
    record = load_live(package_id, "mp3")
    return http.send_served(services().products.mp3(record), last_modified=record.created_at, download_name=f"{package_id}.mp3")


@bp.route(urls.rule(urls.partial(urls.PACKAGE_PRODUCT, kind="hmd")), endpoint="Hmd")
@bp.doc(**http.file_doc("numpy .npz of the package's 1-minute hybrid millidecade spectra and levels",
                        hmd_product.MEDIA_TYPE))
@bp.alt_response(404, description="No such package, or it was archived before HMD products existed", **errors.PROBLEM)
@bp.alt_response(410, **GONE)
def get_hmd(package_id: str):
    """The package's 1-minute hybrid millidecade spectra (linear band densities), effort, quality flags, decidecade
    and broadband mean squares, SEL and peak level, as numpy .npz (units and calibration in /info; the daily SoundCoop
    netCDF of a sensor is made from these)."""
    record = load_live(package_id, "hmd")
    if "hmd" not in record.products:
        abort(404, description=f"package {package_id} has no HMD product: it was archived before HMD products existed")
    return http.send_served(services().products.hmd_file(record), last_modified=record.created_at,
                            download_name=f"{package_id}.hmd.npz")


@bp.route(urls.rule(urls.partial(urls.PACKAGE_PRODUCT, kind="psd")), endpoint="Psd", parameters=[http.IF_NONE_MATCH_HEADER])
@bp.arguments(PsdQuery, location="query", as_kwargs=True)
@bp.response(200, PsdSchema)
@bp.doc(responses={"304": {"description": "not modified"}})
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(410, **GONE)
@bp.alt_response(422, description="No whole segment of that length in the package", **errors.PROBLEM)
def get_psd(package_id: str, fmin=None, fmax=None, nfft=None):
    """Welch PSD: mean, median, 75 % and 95 % quantiles per frequency across segments, in dB (another nfft is
    computed from the samples: gone with them). gzip-encoded for a client that accepts it."""
    current = load_current_psd(package_id)
    if nfft is not None and nfft != current.nfft:
        record = load_live(package_id, "psd", "wav")
        return http.send_served(_psd(record, nfft, fmin, fmax), last_modified=record.created_at)
    etag = services().products.psd_etag(current, fmin_hz=fmin, fmax_hz=fmax)
    document = services().documents.get(etag, lambda: None)
    if document is None:
        served = _psd(load_live(package_id, "psd"), None, fmin, fmax)
        with served.file as stored:
            document = http.EncodedDocument.of(stored.read(), served.etag)
        services().documents.get(served.etag, lambda: document)  # by what it holds (a new version may have come)
    return http.send_document(document, last_modified=current.created_at)


def _psd(record, nfft, fmin, fmax):
    """The /psd document as :meth:`~hydroserve.acoustics.package_products.PackageProducts.psd` makes it; 422 when no
    whole segment of ``nfft`` fits."""
    try:
        return services().products.psd(record, nfft=nfft, fmin_hz=fmin, fmax_hz=fmax)
    except ValueError as error:
        abort(422, description=f"nfft={nfft}: {error}")


@bp.route(urls.rule(urls.PACKAGE_INFO), endpoint="Info")
@bp.response(200, InfoSchema)
@bp.alt_response(404, **NOT_FOUND)
def get_info(package_id: str):
    """Everything needed to use the package: sensor, calibration, exact timing, gaps, products, provenance."""
    return info_json(load_package(package_id))
