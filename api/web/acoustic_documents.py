"""The JSON documents of the acoustic API (sensors, packages, gaps, /info), shared by the API and the pages."""

from __future__ import annotations

from flask import url_for

from hydroserve.acoustics import catalog_by_sensor, products, provenance
from hydroserve.acoustics.calibration import in_force
from hydroserve.acoustics.catalog import PackageRecord, PackageSummary
from hydroserve.acoustics.product_record import ProductSummary
from hydroserve.acoustics.products import ProductRecord
from hydroserve.acoustics.psd_product import unit as psd_unit
from hydroserve.acoustics.sensors import Calibration, SensorInfo, calibration_tag
from hydroserve.codecs import raw
from hydroserve.codecs.times import rfc3339, tick_rfc3339

from .links import quoted, url_templates
from .services import services


def sensor_json(info: SensorInfo, summary: catalog_by_sensor.SensorSummary | None) -> dict:
    calibration = info.calibration
    return {
        "sensor": str(info.sensor),
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
            "psd_offset_db": calibration.flat_offset_db,
            "sensitivity_curves": [curve.describe() for curve in calibration.curves],
        },
        "n_packages": summary.n_packages if summary else 0,
        "n_skipped_windows": summary.n_skipped if summary else 0,
        "first_package_start": None if summary is None or summary.first_tick is None else tick_rfc3339(summary.first_tick),
        "last_package_end": None if summary is None or summary.last_tick is None else tick_rfc3339(summary.last_tick),
        "links": {
            "self": url_for("acoustic.Sensor", sensor=str(info.sensor), _external=True),
            "packages": url_for("acoustic.Packages", sensor=str(info.sensor), _external=True),
        },
    }


def package_urls(record: PackageSummary) -> dict[str, str]:
    """The URLs of a package: ``self``, ``info`` and one per product kind."""
    templates, package_id = url_templates("package_id"), quoted(record.package_id)
    return {"self": templates["acoustic.Package"].format(package_id), "info": templates["acoustic.Info"].format(package_id),
            **{kind: templates[f"acoustic.{kind.capitalize()}"].format(package_id) for kind in record.products}}


def product_link(record: PackageSummary, kind: str, product: ProductSummary, url: str) -> dict:
    """Where a product is served (``url``), what it is; ``expired`` (when and why) once retention deleted it (its URL
    then answers 410 Gone)."""
    link = {"url": url, "media_type": product.media_type, "size_bytes": product.size_bytes, "sha256": product.sha256}
    if kind in record.expired:
        link["expired"] = record.expired[kind].as_json()
    return link


def package_json(record: PackageSummary) -> dict:
    urls = package_urls(record)
    return {
        "package_id": record.package_id,
        "sensor": str(record.sensor),
        "window_start": tick_rfc3339(record.boundary_tick),
        "start": tick_rfc3339(record.start_tick),
        "end": tick_rfc3339(record.end_tick),
        "duration_s": record.duration_s,
        "n_samples": record.n_samples,
        "n_expected": record.n_expected,
        "coverage": record.coverage,
        "gaps": [g.as_json() for g in record.gaps],
        "created": rfc3339(record.created_at),
        "products": {kind: product_link(record, kind, p, urls[kind]) for kind, p in record.products.items()},
        "links": urls,
    }


def info_json(record: PackageRecord) -> dict:
    """The /info document of a package."""
    info = services().sensors.info(record.sensor)
    with services().engine.connect() as conn:
        summary = catalog_by_sensor.sensor_summaries(conn, str(record.sensor))
    urls = package_urls(record)
    return {
        "package_id": record.package_id,
        "sensor": sensor_json(info, summary[0] if summary else None),
        "timing": _timing_json(record),
        "data": _data_json(record),
        "calibration": _calibration_json(in_force(info.calibration, record.boundary_tick)),
        "products": {kind: {**product_link(record, kind, p, urls[kind]), **p.details, **version_json(record, p)}
                     for kind, p in record.products.items()},
        "provenance": provenance.package_provenance(record),
        "sources": list(record.sources),
        "software_version": record.software_version,
        "created": rfc3339(record.created_at),
        "integrity": _integrity_json(record),
    }


def version_json(record: PackageRecord, product: ProductRecord) -> dict:
    """Which version of a product is served, what made it, and which version it replaces (None: the first)."""
    return {
        "version": product.version,
        "settings": product.settings or record.settings,
        "software_version": product.software_version or record.software_version,
        "made": rfc3339(product.made_at or record.created_at),
        "replaces": product.replaces,
    }


def _integrity_json(record: PackageRecord) -> dict:
    damage = services().products.integrity.damage.of_owner(record.package_id)
    return {"damaged": any(entry.repaired_at is None for entry in damage), "damage": [entry.as_json() for entry in damage],
            "checks": "every served byte is checked against the SHA-256 of its 1 MiB chunk recorded at ingest"}


def _timing_json(record: PackageRecord) -> dict:
    settings = record.settings
    tolerance_ticks = settings.get("timing_tolerance_ticks")
    return {
        "time_reference": "UTC from the ADF frame headers (utc_seconds + cycles of 16 ns)",
        "sample_rate_hz": float(raw.SAMPLE_RATE_HZ),
        "sample_rate_exact_hz": "390625/2",
        "sample_period_ticks_16ns": raw.TICKS_PER_SAMPLE,
        "wav_header_sample_rate_hz": products.WAV_HEADER_RATE_HZ,
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
        "timing_tolerance_ns": None if tolerance_ticks is None else tolerance_ticks * raw.NS_PER_TICK,
        "timestamp_deviation": record.products["raw"].details.get("input_timestamp_deviation"),
    }


def _data_json(record: PackageRecord) -> dict:
    return {
        "sample_format": "float32 little-endian, mono",
        "sample_unit": "ADC sample unit (see calibration)",
        "n_samples": record.n_samples,
        "n_expected": record.n_expected,
        "coverage": record.coverage,
        "min_coverage": record.settings["min_coverage"],
        "gaps": [g.as_json() for g in record.gaps],
        "gap_representation": "gaps are not filled: WAV/MP3 join the runs back to back, /raw frames carry their true times "
                              "(NaN pads the last frame of each run), /psd segments never span a gap",
        "runs": [{"start": tick_rfc3339(r.start_tick), "start_unix_ns": r.start_tick * raw.NS_PER_TICK,
                  "first_sample": r.first_sample, "n_samples": r.n_samples} for r in record.runs],
        "adf_window_size": record.window_size,
        "adf_frame_length": record.products["raw"].details["frame_length"],
        "storage": _storage_json(record),
    }


def _storage_json(record: PackageRecord) -> dict:
    """How the samples are stored (what /raw and /wav are made from, bit for bit)."""
    float32_bytes = record.n_samples * raw.SAMPLE_BYTES
    stored_as = record.settings.get("samples_stored_as", {"form": "float32", "reason": "stored before FLAC storage existed"})
    stored = record.products.get("flac")
    stored_bytes = float32_bytes if stored is None else stored.size_bytes
    return {**stored_as, "stored_bytes": stored_bytes, "float32_bytes": float32_bytes,
            "compression_ratio": round(stored_bytes / float32_bytes, 4),
            "exact_sample_rate_hz": float(raw.SAMPLE_RATE_HZ),
            "served": "/raw and /wav carry the ingested float32 samples bit for bit in either form; /flac exists for "
                      "FLAC-stored packages only"}


def _calibration_json(calibration: Calibration | None) -> dict:
    """The calibration the package's products are made with (the one in force at its start): flat, or the sensitivity
    curve used (points, validity, source)."""
    if calibration is None:
        return {"calibrated": False, "psd_calibrated": False, "psd_unit": psd_unit(None), "sensitivity_db_re_1v_per_upa": None,
                "gain_db": None, "volts_per_unit": None, "sign_convention": None, "psd_offset_db": None,
                "sensitivity_curve": None, "calibration_tag": calibration_tag(None)}
    curve = calibration.curve
    return {
        "calibrated": True,
        "psd_calibrated": True,
        "psd_unit": psd_unit(calibration),
        "sensitivity_db_re_1v_per_upa": calibration.sensitivity_db_re_1v_per_upa if curve is None else None,
        "gain_db": calibration.gain_db,
        "volts_per_unit": calibration.volts_per_unit,
        "sign_convention": f"positive sample = {'positive' if calibration.sign == 1 else 'negative'} pressure",
        "psd_offset_db": calibration.offset_db if curve is None else None,
        "sensitivity_curve": None if curve is None else curve.describe(),
        "offset_db_at_1khz": calibration.offset_db,
        "calibration_tag": calibration_tag(calibration),
    }
