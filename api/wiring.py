"""Small factories that wire the parts together from the settings."""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlalchemy.engine import Engine

from hydroserve.acoustics import catalog, sensors
from hydroserve.acoustics.archive import Archive
from hydroserve.acoustics.blobstore import BlobStore, LocalBlobStore
from hydroserve.acoustics.ingest import Ingestor
from hydroserve.acoustics.spool import SpoolDirectory
from hydroserve.api.alerts.registration import ensure_alert_registry
from hydroserve.api.alerts.settings import AlertSettings
from hydroserve.api.alerts.store import alerts, packet_for_resource
from hydroserve.api.events.settings import EventSettings
from hydroserve.api.events.store import event_tables
from hydroserve.odc_sync import registry
from hydroserve.odc_sync.outbox import ODC_DESTINATION
from hydroserve.odc_sync.push import OdcPusher
from hydroserve.odc_sync.retry import RetryPolicy
from hydroserve.odc_sync.vtp import VtpDeliverer

from . import acoustic_registration as registration
from . import catalog_identity
from .config import Settings
from .db import create_schema, make_engine, writer


def open_catalog(settings: Settings) -> Engine:
    """The catalog engine; nothing is written (the schema is made by :func:`init_catalog`)."""
    return make_engine(settings.database_url, busy_timeout_s=settings.database_busy_timeout_s)


def init_catalog(settings: Settings) -> Engine:
    """The one place the catalog is made (``hydroserve db init``): every missing table, the registry's collections and
    streams, the catalog's id, and the blob store's marker naming it when the store has none (idempotent; an existing
    catalog is left as it is). Returns the engine."""
    engine = open_catalog(settings)
    create_schema(engine, catalog.metadata, registry.metadata, alerts.metadata, event_tables.metadata,
                  catalog_identity.metadata)
    registration.ensure_acoustic_registry(engine, writer(engine), settings)
    ensure_alert_registry(engine, writer(engine), alert_settings(settings))
    with writer(engine).begin() as conn:
        catalog_id = catalog_identity.write_id(conn)
    catalog_identity.claim_blobs(open_blobs(settings), catalog_id)
    return engine


def open_existing_catalog(settings: Settings) -> Engine:
    """The engine of a catalog made by :func:`init_catalog` that the blob store belongs to; nothing is created.

    Raises
    ------
    CatalogNotReady
        No catalog (a missing SQLite file), one without a catalog id, or an empty catalog beside a blob store holding
        another catalog's packages; the message says what to do.
    """
    engine = open_catalog(settings)  # no connection yet: the file is looked for first (SQLite would make an empty one)
    try:
        catalog_identity.check_existing(settings.database_url, engine, functools.partial(open_blobs, settings),
                                        holds_packages=_holds_packages)
    except catalog_identity.CatalogNotReady:
        engine.dispose()
        raise
    return engine


def _holds_packages(conn) -> bool:
    return bool(catalog.list_packages(conn, limit=1))


def alert_settings(settings: Settings) -> AlertSettings:
    """What the alert domain needs: naming, authorship, sites, the public URL, and the outbox destinations of every
    packet (the ODC and each configured VTP broker)."""
    return AlertSettings(
        collection=settings.alert_collection,
        ivorn_authority=settings.alert_ivorn_authority,
        ivorn_stream=settings.alert_ivorn_stream,
        publisher=settings.alert_publisher,
        contact_name=settings.alert_contact_name,
        contact_email=settings.alert_contact_email,
        observatories=settings.alert_observatories,
        public_url=settings.public_url,
        destinations=(ODC_DESTINATION, *(broker.destination for broker in settings.vtp_brokers)),
    )


def event_settings(settings: Settings) -> EventSettings:
    """The event-table domain's settings."""
    return EventSettings(
        collection=settings.events_collection,
        public_url=settings.public_url,
        max_rows=settings.events_max_rows,
        scs_max_sr_deg=settings.events_scs_max_sr_deg,
        scs_max_records=settings.events_scs_max_records,
    )


def vtp_deliverers(settings: Settings, engine: Engine) -> list[VtpDeliverer]:
    """One outbox deliverer per configured VTP broker, retrying without jitter."""
    retry = RetryPolicy(base_s=settings.vtp_retry_base_s, max_s=settings.vtp_retry_max_s, full_jitter=False)
    return [
        VtpDeliverer(writer(engine), broker, packet_for_resource, timeout_s=settings.vtp_timeout_s, retry=retry)
        for broker in settings.vtp_brokers
    ]


def open_blobs(settings: Settings) -> BlobStore:
    """The blob store: the S3 bucket and prefix of ``blob_url``, else the local folder ``<data_dir>/blobs``."""
    if settings.blob_url is None:
        return LocalBlobStore(settings.blob_dir)
    from hydroserve.acoustics.s3store import S3BlobStore

    return S3BlobStore(settings.blob_url, endpoint_url=settings.s3_endpoint_url)


def blob_redirect(settings: Settings, blobs: BlobStore) -> Callable[..., str] | None:
    """``s3_serve = "redirect"`` on S3: ``url(key, media_type=, download_name=)`` of a presigned GET of a blob,
    valid for ``s3_presign_expiry_s``; None: every product streams through the app."""
    if settings.blob_url is None or settings.s3_serve != "redirect":
        return None
    return functools.partial(blobs.presigned_url, expires_s=settings.s3_presign_expiry_s)


def build_archive(settings: Settings, engine: Engine, blobs=None) -> Archive:
    """The ingest side's archive; temporary blob files older than an hour (writers that died) are removed first."""
    if blobs is None:
        blobs = open_blobs(settings)
        blobs.purge_incoming()
    return Archive(
        writer(engine),
        blobs,
        cut_settings=settings.cut,
        product_settings=settings.products,
        sensor_catalog=sensors.load(settings.sensors_file),
        registrar=registration.acoustic_registrar(settings),
    )


def open_spool(settings: Settings, archive: Archive) -> SpoolDirectory:
    """The spool directory (created if missing), resuming after each sensor's archive cursor."""
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    return SpoolDirectory(
        settings.spool_dir,
        frame_length=settings.adf_frame_length,
        settle_s=settings.spool_settle_s,
        resume_from=archive.cursor,
    )


def build_ingestor(settings: Settings, archive: Archive, *, retry_for_s: float | None) -> Ingestor:
    return Ingestor(archive, settings.cut, max_future_s=settings.max_future_s, retry_for_s=retry_for_s)


def deliverers(settings: Settings, engine: Engine) -> list:
    """Everything ``hydroserve sync`` delivers: the ODC push when ``odc_url`` is set, and every VTP broker."""
    found = []
    if settings.odc_url:
        found.append(OdcPusher(writer(engine), settings.odc_url, settings.odc_token,
                               path_template=settings.odc_path_template, timeout_s=settings.odc_timeout_s))
    return found + vtp_deliverers(settings, engine)
