"""Acoustic endpoints: sensors, data packages and their products (raw, wav, mp3, psd, info)."""

from __future__ import annotations

import hashlib
import re

from flask import Response, abort, url_for

from hydroserve.acoustics import catalog, views
from hydroserve.acoustics import products as product_builder
from hydroserve.acoustics.blobstore import BlobNotFound
from hydroserve.acoustics.catalog import PackageRecord, tick_to_datetime
from hydroserve.acoustics.products import ProductRecord
from hydroserve.acoustics.sensors import SensorInfo
from hydroserve.codecs import raw
from hydroserve.codecs.raw import SensorId
from hydroserve.codecs.times import rfc3339

from . import errors, http
from .acoustic_schemas import (
    PACKAGE_PATTERN,
    SENSOR_PATTERN,
    InfoSchema,
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
from .services import services

bp = Blueprint("acoustic", __name__, description="Acoustic sensors, data packages and their products")


def tick_rfc3339(tick: int | None) -> str | None:
    """A tick as RFC 3339 UTC with microseconds, e.g. ``2020-12-23T19:28:00.000002Z``."""
    return None if tick is None else rfc3339(tick_to_datetime(tick))


def check_id(value: str, pattern: str, what: str) -> None:
    """404 for ids that cannot exist (wrong form, over-long), before touching the catalog."""
    if not re.fullmatch(pattern, value):
        abort(404, description=f"No {what} {value[:80]!r}: {what} ids look like {pattern.strip('^$')}.")


def load_package(pid: str) -> PackageRecord:
    check_id(pid, PACKAGE_PATTERN, "package")

    def from_catalog():
        with services().engine.connect() as conn:
            return catalog.get_package(conn, pid)

    record = services().packages.get(pid, from_catalog)
    if record is None:
        abort(404, description=f"No package {pid!r}.")
    return record


def sensor_json(info: SensorInfo, summary: catalog.SensorSummary | None) -> dict:
    calibration = info.calibration
    return {
        "id": str(info.sensor),
        "dom_id": info.sensor.dom_id,
        "channel": info.sensor.channel,
        "type": info.type,
        "detector": info.detector,
        "string": info.string,
        "floor": info.floor,
        "position": None if info.position_m is None else dict(zip(("x_m", "y_m", "z_m"), info.position_m), frame=info.position_frame),
        "calibrated": calibration is not None,
        "calibration": None if calibration is None else {
            "sensitivity_db_re_1v_per_upa": calibration.sensitivity_db_re_1v_per_upa,
            "gain_db": calibration.gain_db,
            "volts_per_unit": calibration.volts_per_unit,
            "sign": calibration.sign,
            "psd_offset_db": calibration.offset_db,
        },
        "n_packages": summary.n_packages if summary else 0,
        "n_skipped_windows": summary.n_skipped if summary else 0,
        "first_package_start": tick_rfc3339(summary.first_tick) if summary else None,
        "last_package_end": tick_rfc3339(summary.last_tick) if summary else None,
        "links": {
            "self": url_for("acoustic.Sensor", sensor=str(info.sensor), _external=True),
            "packages": url_for("acoustic.Packages", sensor=str(info.sensor), _external=True),
        },
    }


def product_url(kind: str, pid: str) -> str:
    return url_for(f"acoustic.{kind.capitalize()}", pid=pid, _external=True)


def product_link(pid: str, kind: str, product: ProductRecord) -> dict:
    return {"url": product_url(kind, pid), "media_type": product.media_type, "size_bytes": product.size_bytes,
            "sha256": product.sha256}


def package_json(record: PackageRecord) -> dict:
    pid = record.package_id
    return {
        "id": pid,
        "sensor": str(record.sensor),
        "window_start": tick_rfc3339(record.boundary_tick),
        "start": tick_rfc3339(record.start_tick),
        "end": tick_rfc3339(record.end_tick),
        "duration_s": record.duration_s,
        "n_samples": record.n_samples,
        "n_expected": record.n_expected,
        "coverage": record.coverage,
        "gaps": [gap_json(g) for g in record.gaps],
        "created": rfc3339(record.created_at),
        "products": {kind: product_link(pid, kind, p) for kind, p in record.products.items()},
        "links": {
            "self": url_for("acoustic.Package", pid=pid, _external=True),
            "info": url_for("acoustic.Info", pid=pid, _external=True),
            **{kind: product_url(kind, pid) for kind in record.products},
        },
    }


def gap_json(gap) -> dict:
    return {
        "start": tick_rfc3339(gap.start_tick),
        "end": tick_rfc3339(gap.end_tick),
        "start_unix_ns": gap.start_tick * raw.NS_PER_TICK,
        "end_unix_ns": gap.end_tick * raw.NS_PER_TICK,
        "duration_s": gap.duration_s,
        "at_sample": gap.at_sample,
    }


@bp.route("/sensors", endpoint="Sensors")
@bp.response(200, SensorListSchema)
def list_sensors():
    """Every sensor with data, with its metadata and package counts."""
    with services().engine.connect() as conn:
        summaries = catalog.sensor_summaries(conn)
    return {"items": [sensor_json(services().sensors.info(s.sensor), s) for s in summaries]}


@bp.route("/sensors/<sensor>", endpoint="Sensor")
@bp.response(200, SensorSchema)
@bp.alt_response(404, description="No such sensor", **errors.PROBLEM)
def get_sensor(sensor: str):
    """One sensor: type, detector, position, calibration, packages."""
    return load_sensor(sensor)


def load_sensor(sensor: str) -> dict:
    """The JSON document of a sensor; 404 unless it has data here."""
    check_id(sensor, SENSOR_PATTERN, "sensor")
    with services().engine.connect() as conn:
        summaries = catalog.sensor_summaries(conn, sensor)
    if not summaries:
        abort(404, description=f"No sensor {sensor!r} has data here.")
    return sensor_json(services().sensors.info(SensorId.parse(sensor)), summaries[0])


def _bounded_tick(moment) -> int:
    """A query bound as a tick, held inside the 64-bit range of the catalog (years before 4892)."""
    return max(-(2**63), min(2**63 - 1, catalog.datetime_to_tick(moment)))


@bp.route("/packages", endpoint="Packages")
@bp.arguments(PackageQuery, location="query", as_kwargs=True)
@bp.response(200, PackagePageSchema, headers=NEXT_LINK)
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
def list_packages(order, limit, sensor=None, start=None, end=None, cursor=None):
    """Data packages, newest first (or oldest first), paginated with an opaque cursor."""
    page, next_cursor = package_page(order=order, limit=limit, sensor=sensor, start=start, end=end, cursor=cursor)
    next_url, headers = next_page("acoustic.Packages", next_cursor) if next_cursor is not None else (None, {})
    return {"items": [package_json(r) for r in page], "next": next_url}, 200, headers


def package_page(*, order: str, limit: int, sensor=None, start=None, end=None, cursor=None) -> tuple[list[PackageRecord], list | None]:
    """One page of packages (``order`` "newest" or "oldest") after the decoded ``cursor``, and the
    cursor values of the next page (None on the last page); 400 for a cursor of the other order."""
    newest_first = order == "newest"
    after = None
    if cursor is not None:
        tick, pid, cursor_order = cursor
        if cursor_order != order:
            abort(400, description="Invalid query parameter 'cursor': it belongs to the other order.")
        after = (tick, pid)
    with services().engine.connect() as conn:
        records = catalog.list_packages(
            conn,
            sensor=sensor,
            start_tick=None if start is None else _bounded_tick(start),
            end_tick=None if end is None else _bounded_tick(end),
            after=after,
            newest_first=newest_first,
            limit=limit + 1,
        )
    page = records[:limit]
    if len(records) <= limit:
        return page, None
    return page, [page[-1].boundary_tick, page[-1].package_id, order]


@bp.route("/packages/<pid>", endpoint="Package")
@bp.response(200, PackageSchema)
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
def get_package(pid: str):
    """A package's summary with links to every product."""
    return package_json(load_package(pid))


def samples_file(record: PackageRecord):
    try:
        return services().blobs.open(record.samples_key)
    except BlobNotFound:
        abort(503, description=f"The samples of {record.package_id} are missing from the blob store.")


def _stream_view(record: PackageRecord, kind: str, composite: views.Composite, download_name: str) -> Response:
    product = record.products[kind]
    return http.send_stream(
        views.CompositeFile(composite, samples_file(record)),
        composite.size,
        media_type=product.media_type,
        etag=product.sha256,
        last_modified=record.created_at,
        download_name=download_name,
    )


@bp.route("/packages/<pid>/raw", endpoint="Raw")
@bp.doc(responses={"200": {"description": "ADF raw dump", "content": {raw.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
                   "206": {"description": "partial content"}, "304": {"description": "not modified"}})
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
def get_raw(pid: str):
    """The package as a KM3NeT ADF raw dump (readable by km3io; NaN pads the last frame of each run)."""
    record = load_package(pid)
    composite = product_builder.adf_view(
        record.runs, frame_length=record.products["raw"].details["frame_length"], window_size=record.window_size
    )
    return _stream_view(record, "raw", composite, f"{pid}.bin")  # DOM_<domid>_CH<n>_<unix>.bin, as the DAQ names them


@bp.route("/packages/<pid>/wav", endpoint="Wav")
@bp.doc(responses={"200": {"description": "IEEE float32 mono WAV, header rate 195312 Hz", "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}},
                   "206": {"description": "partial content"}, "304": {"description": "not modified"}})
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
def get_wav(pid: str):
    """The package as a float32 WAV; samples bit-identical to the raw ones."""
    record = load_package(pid)
    composite = product_builder.wav_view(pid, record.n_samples, record.start_tick, len(record.gaps))
    return _stream_view(record, "wav", composite, f"{pid}.wav")


@bp.route("/packages/<pid>/mp3", endpoint="Mp3")
@bp.doc(responses={"200": {"description": "MPEG Layer III, 48 kHz mono", "content": {"audio/mpeg": {"schema": {"type": "string", "format": "binary"}}}},
                   "206": {"description": "partial content"}, "304": {"description": "not modified"}})
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
def get_mp3(pid: str):
    """A listenable MP3: DC removed, anti-alias resampled to 48 kHz, fixed gain per sensor with a soft limiter
    (gain, limiter in /info and ID3 tags), gapless LAME tag: decoded, it is time-aligned with the WAV."""
    record = load_package(pid)
    settings = services().settings.products

    def make():
        runs = product_builder.load_runs(services().blobs, record.samples_key, record.runs)
        calibration = services().sensors.info(record.sensor).calibration
        return product_builder.make_mp3(runs, settings, calibration, title=pid)[0]

    mp3 = record.products["mp3"]
    file = product_builder.open_blob(services().blobs, mp3.blob_key, make)
    return http.send_stream(file, mp3.size_bytes, media_type=mp3.media_type, etag=mp3.sha256,
                            last_modified=record.created_at, download_name=f"{pid}.mp3")


def psd_arrays(record: PackageRecord, nfft: int | None):
    """The linear PSD statistics of a package for ``nfft`` (ingest's by default), computed once and cached."""
    blobs = services().blobs
    prefix = product_builder.blob_prefix(record.package_id, record.sensor, record.boundary_tick)
    ingest_nfft = record.products["psd"].details["nfft"]
    key = product_builder.psd_arrays_key(prefix if nfft in (None, ingest_nfft) else f"{prefix}.nfft{nfft}")

    def make():
        runs = product_builder.load_runs(blobs, record.samples_key, record.runs)
        return product_builder.psd_to_npz(product_builder.make_psd(runs, nfft or ingest_nfft))

    with product_builder.open_blob(blobs, key, make) as stored:
        return product_builder.psd_from_npz(stored.read())


@bp.route("/packages/<pid>/psd", endpoint="Psd")
@bp.arguments(PsdQuery, location="query", as_kwargs=True)
@bp.response(200, PsdSchema)
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
@bp.alt_response(422, description="No whole segment of that length in the package", **errors.PROBLEM)
def get_psd(pid: str, fmin=None, fmax=None, nfft=None):
    """Welch PSD: mean, median, 75 % and 95 % quantiles per frequency across segments, in dB."""
    record = load_package(pid)
    product = record.products["psd"]
    calibration = services().sensors.info(record.sensor).calibration
    as_stored = product.details["calibration_tag"] == product_builder.calibration_tag(calibration)
    if fmin is None and fmax is None and nfft is None and as_stored:  # the document made at ingest
        file = product_builder.open_blob(services().blobs, product.blob_key,
                                         lambda: product_builder.psd_document(pid, psd_arrays(record, None), calibration))
        return http.send_stream(file, product.size_bytes, media_type=product.media_type, etag=product.sha256,
                                last_modified=record.created_at, immutable=False)
    try:
        arrays = psd_arrays(record, nfft)
    except ValueError as error:
        abort(422, description=f"nfft={nfft}: {error}")
    document = product_builder.psd_document(pid, arrays.band(fmin, fmax), calibration)
    etag = hashlib.sha256(f"{product.sha256}|{nfft}|{fmin}|{fmax}|{product_builder.calibration_tag(calibration)}".encode()).hexdigest()[:40]
    return http.send_json_bytes(document, etag=etag, last_modified=record.created_at)


@bp.route("/packages/<pid>/info", endpoint="Info")
@bp.response(200, InfoSchema)
@bp.alt_response(404, description="No such package", **errors.PROBLEM)
def get_info(pid: str):
    """Everything needed to use the package: sensor, calibration, exact timing, gaps, products, provenance."""
    return info_json(load_package(pid))


def info_json(record: PackageRecord) -> dict:
    """The /info document of a package."""
    pid = record.package_id
    info = services().sensors.info(record.sensor)
    with services().engine.connect() as conn:
        summary = catalog.sensor_summaries(conn, str(record.sensor))
    calibration = info.calibration
    psd_details = record.products["psd"].details
    settings = record.settings
    return {
        "package_id": pid,
        "sensor": sensor_json(info, summary[0] if summary else None),
        "timing": {
            "time_reference": "UTC from the ADF frame headers (utc_seconds + cycles of 16 ns)",
            "sample_rate_hz": float(raw.SAMPLE_RATE_HZ),
            "sample_rate_exact_hz": "390625/2",
            "sample_period_ticks_16ns": raw.TICKS_PER_SAMPLE,
            "wav_header_sample_rate_hz": product_builder.WAV_HEADER_RATE_HZ,
            "window_start": tick_rfc3339(record.boundary_tick),
            "window_end": tick_rfc3339(record.window_end_tick),
            "start": tick_rfc3339(record.start_tick),
            "end": tick_rfc3339(record.end_tick),
            "start_unix_ns": record.start_tick * raw.NS_PER_TICK,
            "end_unix_ns": record.end_tick * raw.NS_PER_TICK,
            "snippet_duration_s": settings["snippet_duration_s"],
            "snippet_interval_s": settings["snippet_interval_s"],
            "window_start_unix_ns": record.boundary_tick * raw.NS_PER_TICK,
            "window_end_unix_ns": record.window_end_tick * raw.NS_PER_TICK,
            "cutting": "the package holds exactly the samples whose times lie in [window_start, window_end), "
                       "window_end = window_start + snippet_duration_s; n_expected is the number of sample instants "
                       "of the data's sample grid in that window, so consecutive packages join bit for bit",
            "timing_tolerance_ns": None if "timing_tolerance_ticks" not in settings else settings["timing_tolerance_ticks"] * raw.NS_PER_TICK,
            "timestamp_deviation": record.products["raw"].details.get("input_timestamp_deviation"),
        },
        "data": {
            "sample_format": "float32 little-endian, mono",
            "sample_unit": "ADC sample unit (see calibration)",
            "n_samples": record.n_samples,
            "n_expected": record.n_expected,
            "coverage": record.coverage,
            "min_coverage": settings["min_coverage"],
            "gaps": [gap_json(g) for g in record.gaps],
            "gap_representation": "gaps are not filled: WAV/MP3 join the runs back to back, /raw frames carry their true times "
                                  "(NaN pads the last frame of each run), /psd segments never span a gap",
            "runs": [{"start": tick_rfc3339(r.start_tick), "start_unix_ns": r.start_tick * raw.NS_PER_TICK, "first_sample": r.first_sample,
                      "n_samples": r.n_samples} for r in record.runs],
            "adf_window_size": record.window_size,
            "adf_frame_length": record.products["raw"].details["frame_length"],
        },
        "calibration": {
            "calibrated": calibration is not None,
            "psd_calibrated": calibration is not None,
            "psd_unit": product_builder.psd_unit(calibration),
            "sensitivity_db_re_1v_per_upa": None if calibration is None else calibration.sensitivity_db_re_1v_per_upa,
            "gain_db": None if calibration is None else calibration.gain_db,
            "volts_per_unit": None if calibration is None else calibration.volts_per_unit,
            "sign_convention": None if calibration is None else (
                "positive sample = positive pressure" if calibration.sign == 1 else "positive sample = negative pressure"),
            "psd_offset_db": None if calibration is None else calibration.offset_db,
        },
        "products": {kind: {**product_link(pid, kind, p), **p.details} for kind, p in record.products.items()},
        "provenance": [
            {"step": "hydroserve:cut", "description": "fixed-interval sample-exact cutting of the ADF stream",
             "parameters": {k: settings[k] for k in ("snippet_duration_s", "snippet_interval_s", "min_coverage")}},
            {"step": "hydroserve:raw", "description": "ADF framing of the stored samples",
             "parameters": {"frame_length": record.products["raw"].details["frame_length"]}},
            {"step": "hydroserve:wav", "description": "WAV header + the stored float32 samples"},
            {"step": "hydroserve:mp3", "description": record.products["mp3"].details["resampler"],
             "parameters": {k: record.products["mp3"].details[k] for k in ("bit_rate_kbps", "lame_quality", "gain_db")}},
            {"step": "hydroserve:psd", "description": "Welch PSD with per-frequency quantiles across segments",
             "parameters": {k: psd_details[k] for k in ("nfft", "window", "overlap_samples", "n_segments")}},
        ],
        "sources": list(record.sources),
        "software_version": record.software_version,
        "created": rfc3339(record.created_at),
    }
