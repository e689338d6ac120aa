"""Registering archived acoustic packages as open-data resources (wired into the archive).

Every package yields one KM3OpenResource per product, in the stream
``<collection>_<kind>`` of the acoustic collection, written in the package's
own transaction together with an outbox row for the ODC. The per-package HMD
is not a resource of its own: each UTC day a package with HMD touches gets its
revision raised (:mod:`hydroserve.acoustics.hmd_days`) and its sensor-day
resource ``<collection>_hmd_<sensor>_<YYYYMMDD>`` (the daily netCDF, stream
``<collection>_hmd``) registered again, so the ODC sees the day change. A product deleted
by retention turns its resource into a tombstone, in the retention's own
marking transaction (:func:`acoustic_tombstones`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from hydroserve.acoustics import hmd_days, provenance
from hydroserve.acoustics.catalog import PackageRecord
from hydroserve.codecs import flac, mp3, netcdf, psdjson, raw, wav
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
HMD_KIND = "hmd"
HMD_STREAM = (netcdf.MEDIA_TYPE, "Daily 1-minute hybrid millidecade spectra",
              "One netCDF per sensor and UTC day: 1-minute hybrid millidecade (HMD) spectra with effort and quality "
              "flags in the SoundCoop HMD layout (CF-1.6, ACDD-1.3)")


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
        for kind, (media_type, title, description) in {**ACOUSTIC_STREAMS, HMD_KIND: HMD_STREAM}.items()
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
        if kind == HMD_KIND:
            continue  # registered per sensor-day (hmd_day_resources)
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


def hmd_day_kid(settings: Settings, sensor: str, day: date) -> str:
    """The kid of a sensor-day's HMD resource: ``<collection>_hmd_<sensor>_<YYYYMMDD>``."""
    return f"{settings.collection}_{HMD_KIND}_{sensor}_{day:%Y%m%d}"


def hmd_day_url(settings: Settings, sensor: str, day: date) -> str:
    return urls.absolute(settings.public_url, urls.SENSOR_HMD_DAY, sensor=sensor, day=f"{day:%Y-%m-%d}")


def hmd_day_resource(settings: Settings, sensor: str, day: date, revision: int) -> registry.Resource:
    """The open-data resource of a sensor-day's netCDF (made on its first request, so no size or digest here)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return registry.Resource(
        kid=hmd_day_kid(settings, sensor, day),
        stream_kid=f"{settings.collection}_{HMD_KIND}",
        ktype=f"acoustics.{HMD_KIND}",
        title=f"{HMD_STREAM[1]}: {sensor} {day:%Y-%m-%d}",
        description=(f"1-minute hybrid millidecade spectra of sensor {sensor} on {day:%Y-%m-%d} (UTC) in the SoundCoop "
                     f"HMD netCDF layout, made from the day's packages (revision {revision}: one more per package)"),
        media_type=netcdf.MEDIA_TYPE,
        access_url=hmd_day_url(settings, sensor, day),
        coverage_start=start,
        coverage_end=start + timedelta(days=1),
        subject_id=f"{sensor}_{day:%Y%m%d}",
        info_url=urls.absolute(settings.public_url, urls.SENSOR, sensor=sensor),
        extra={"sensor": sensor, "day": f"{day:%Y-%m-%d}", "revision": revision},
    )


def hmd_day_resources(conn: Connection, settings: Settings, record: PackageRecord) -> list[registry.Resource]:
    """Raise the revision of the days the package's HMD touches and describe their resources (none without HMD)."""
    if HMD_KIND not in record.products:
        return []
    sensor = str(record.sensor)
    revisions = hmd_days.touch(conn, sensor, hmd_days.days_touched(record.start_tick, record.end_tick))
    return [hmd_day_resource(settings, sensor, day, revision) for day, revision in revisions.items()]


def acoustic_registrar(settings: Settings):
    """The archive's (and reprocessing's) registrar: resources and outbox rows in the package's transaction; the
    sensor-days of a new or changed HMD move to a new revision."""

    def register(conn: Connection, record: PackageRecord) -> None:
        items = package_resources(settings, record) + hmd_day_resources(conn, settings, record)
        registry.register(conn, items, destinations=(ODC_DESTINATION,))

    return register


def acoustic_tombstones(settings: Settings):
    """The retention's ``on_expired``: the resources of the expired products become tombstones, queued for the ODC;
    the sensor-days of expired HMD (at the new revision the retention gave them) are registered again, as changed."""

    def tombstone(conn: Connection, items: list[tuple[str, str]], expired_at: datetime, reason: str,
                  day_revisions: dict[tuple[str, date], int]) -> None:
        kids = [resource_kid(settings, kind, package_id) for package_id, kind in items if kind != HMD_KIND]
        registry.tombstone(conn, kids, deleted_at=expired_at, reason=reason, destinations=(ODC_DESTINATION,))
        changed = [hmd_day_resource(settings, sensor, day, revision) for (sensor, day), revision in sorted(day_revisions.items())]
        if changed:
            registry.register(conn, changed, destinations=(ODC_DESTINATION,))

    return tombstone
