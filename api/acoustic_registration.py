"""Registering archived acoustic packages as open-data resources (wired into the archive).

Every package yields one KM3OpenResource per product (but the HMD, registered
per sensor-day), in the stream
``<collection>_<kind>`` of the acoustic collection, written in the package's
own transaction together with an outbox row for the ODC. A product deleted
by retention turns its resource into a tombstone, in the retention's own
marking transaction (:func:`acoustic_tombstones`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from hydroserve.acoustics import provenance
from hydroserve.acoustics.catalog import PackageRecord
from hydroserve.codecs import flac, mp3, psdjson, raw, wav
from hydroserve.codecs.times import tick_to_datetime
from hydroserve.odc_sync import registry
from hydroserve.odc_sync.outbox import ODC_DESTINATION

from . import urls
from .config import Settings

ACOUSTIC_STREAMS = {
    "raw": (raw.MEDIA_TYPE, "Raw acoustic data", "KM3NeT ADF raw dumps of the acoustic data packages (readable by km3io)"),
    "wav": (wav.MEDIA_TYPE, "Acoustic data as WAV", "Full-fidelity IEEE float32 WAV of the acoustic data packages"),
    "flac": (flac.MEDIA_TYPE, "Acoustic data as FLAC", "Lossless 24-bit FLAC of the acoustic data packages whose samples "
             "are exact 24-bit ADC counts (the samples as stored)"),
    "mp3": (mp3.MEDIA_TYPE, "Acoustic data as MP3", "Listenable 48 kHz MP3 of the acoustic data packages"),
    "psd": (psdjson.MEDIA_TYPE, "Acoustic noise spectra", "Welch power spectral density (mean, median, 75 % and 95 % quantiles) per package"),
}


SENSOR_DAY_KINDS = ("hmd",)
"""Products registered as one resource per sensor and day (the daily HMD file), not per package."""


def acoustic_collection(settings: Settings) -> registry.Collection:
    return registry.Collection(
        settings.collection,
        "Acoustic data",
        "Snippets of the continuous acoustic data stream of the detector's piezo sensors and hydrophones, "
        "cut at a fixed interval and offered as raw ADF, WAV, lossless FLAC, MP3 and noise spectra.",
    )


def acoustic_streams(settings: Settings) -> list[registry.Stream]:
    return [
        registry.Stream(f"{settings.collection}_{kind}", settings.collection, f"acoustics.{kind}", title, description, media_type)
        for kind, (media_type, title, description) in ACOUSTIC_STREAMS.items()
    ]


def ensure_acoustic_registry(reader: Engine, writer: Engine, settings: Settings) -> None:
    """Create the acoustic collection and its streams if missing."""
    registry.ensure_registered(reader, writer, acoustic_collection(settings), acoustic_streams(settings))


def resource_kid(settings: Settings, kind: str, package_id: str) -> str:
    """The kid of the resource of a package's product: ``<collection>_<kind>_<package id>``."""
    return f"{settings.collection}_{kind}_{package_id}"


def package_resources(settings: Settings, record: PackageRecord) -> list[registry.Resource]:
    start, end = tick_to_datetime(record.start_tick), tick_to_datetime(record.end_tick)
    items = []
    for kind, product in record.products.items():
        if kind in SENSOR_DAY_KINDS:
            continue
        _, title, _ = ACOUSTIC_STREAMS[kind]
        stream_kid = f"{settings.collection}_{kind}"
        items.append(
            registry.Resource(
                kid=resource_kid(settings, kind, record.package_id),
                stream_kid=stream_kid,
                ktype=f"acoustics.{kind}",
                title=f"{title}: {record.package_id}",
                description=(
                    f"{kind} product of acoustic data package {record.package_id}: sensor {record.sensor}, "
                    f"{record.duration_s:g} s from {start.isoformat()}, coverage {record.coverage:.4f}"
                ),
                media_type=product.media_type,
                access_url=urls.absolute(settings.public_url, urls.PACKAGE_PRODUCT, package_id=record.package_id, kind=kind),
                size_bytes=product.size_bytes,
                sha256=product.sha256,
                coverage_start=start,
                coverage_end=end,
                subject_id=record.package_id,
                info_url=urls.absolute(settings.public_url, urls.PACKAGE_INFO, package_id=record.package_id),
                provenance=(provenance.cut_step(record), provenance.product_step(record, kind)),
                software_version=product.software_version or record.software_version,
                extra={"package_id": record.package_id, "sensor": str(record.sensor), "coverage_fraction": record.coverage,
                       "n_gaps": len(record.gaps)},
            )
        )
    return items


def acoustic_registrar(settings: Settings):
    """The archive's registrar: resources and outbox rows in the package's transaction."""

    def register(conn: Connection, record: PackageRecord) -> None:
        registry.register(conn, package_resources(settings, record), destinations=(ODC_DESTINATION,))

    return register


def acoustic_tombstones(settings: Settings):
    """The retention's ``on_expired``: the resources of the expired products become tombstones, queued for the ODC."""

    def tombstone(conn: Connection, items: list[tuple[str, str]], expired_at: datetime, reason: str) -> None:
        kids = [resource_kid(settings, kind, package_id) for package_id, kind in items if kind not in SENSOR_DAY_KINDS]
        registry.tombstone(conn, kids, deleted_at=expired_at, reason=reason, destinations=(ODC_DESTINATION,))

    return tombstone
