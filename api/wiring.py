"""Small factories that wire the parts together from the settings."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hydroserve.acoustics import catalog, sensors
from hydroserve.acoustics.blobstore import BlobStore, LocalBlobStore
from hydroserve.acoustics.integrity import DamageLog, Integrity
from hydroserve.acoustics.retention import Retention
from hydroserve.acoustics.spool import SpoolDirectory, SpoolDone
from hydroserve.acoustics.worker import Duty
from hydroserve.api.alerts.registration import ensure_alert_registry
from hydroserve.api.alerts.settings import AlertSettings
from hydroserve.api.alerts.store import packet_for_resource
from hydroserve.api.events.settings import EventSettings
from hydroserve.odc_sync import registry
from hydroserve.odc_sync.outbox import ODC_DESTINATION
from hydroserve.odc_sync.retry import RetryPolicy
from hydroserve.odc_sync.vtp import VtpDeliverer

from . import acoustic_registration as registration
from . import catalog_identity, schema
from .config import Settings
from .db import become_writer, make_engine, writer

REPROCESS_RETRY_MAX_S = 3600.0
"""The longest wait of a reprocessing job between attempts ended by a catalog or storage error."""

if TYPE_CHECKING:  # the parts that build products (scipy): imported by the factories below, not by every command
    from hydroserve.acoustics.archive import Archive
    from hydroserve.acoustics.ingest import Ingestor
    from hydroserve.acoustics.reprocess import Reprocessor

log = logging.getLogger(__name__)


def open_catalog(settings: Settings) -> Engine:
    """The catalog engine; nothing is written (the schema is made by :func:`init_catalog` or ``db upgrade``)."""
    return make_engine(settings.database_url, busy_timeout_s=settings.database_busy_timeout_s)


def init_catalog(settings: Settings) -> Engine:
    """The one place the catalog is made (``hydroserve db init``): the schema upgraded to the newest revision
    (:func:`schema.upgrade`; a catalog from before migrations is upgraded in place), the registry's collections and
    streams, the catalog's id, and the blob store's marker naming it when the store has none (idempotent; an existing
    catalog's rows are left as they are). Returns the engine."""
    engine = open_catalog(settings)
    try:
        schema.upgrade(engine)
    except schema.SchemaError:
        engine.dispose()
        raise
    registration.ensure_acoustic_registry(engine, writer(engine), settings)
    ensure_alert_registry(engine, writer(engine), alert_settings(settings))
    with writer(engine).begin() as conn:
        catalog_id = catalog_identity.write_id(conn)
    catalog_identity.claim_blobs(open_blobs(settings), catalog_id)
    return engine


def complete_registry(settings: Settings, engine: Engine) -> None:
    """Add the acoustic streams that a newer release brings (e.g. ``<collection>_hmd``) to a registry made by an older
    one (``hydroserve db upgrade``; a catalog whose registry :func:`init_catalog` has not made is left as it is)."""
    with engine.connect() as conn:
        made = registry.get_collection(conn, settings.collection) is not None
    if made:
        registration.ensure_acoustic_registry(engine, writer(engine), settings)


def open_existing_catalog(settings: Settings) -> Engine:
    """The engine of a catalog made by :func:`init_catalog` that the blob store belongs to; nothing is created.

    Raises
    ------
    CatalogNotReady
        No catalog (a missing SQLite file), one without a catalog id, or an empty catalog beside a blob store holding
        another catalog's packages; the message says what to do.
    SchemaError
        The catalog's schema is not at the newest revision (``hydroserve db upgrade`` brings it there).
    """
    engine = open_catalog(settings)  # no connection yet: the file is looked for first (SQLite would make an empty one)
    try:
        catalog_identity.check_existing(settings.database_url, engine, functools.partial(open_blobs, settings),
                                        holds_packages=catalog.holds_packages)
        with engine.connect() as conn:
            schema.require_head(conn)
    except catalog_identity.CatalogNotReady:  # SchemaError included
        engine.dispose()
        raise
    return engine


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


def open_integrity(engine: Engine, blobs: BlobStore) -> Integrity:
    """Reads of ``blobs`` checked chunk by chunk, a damaged blob recorded in the catalog."""
    return Integrity(blobs, DamageLog(engine, writer(engine)))


def build_archive(settings: Settings, engine: Engine, blobs=None, *, fence=None) -> Archive:
    """The ingest side's archive; temporary blob files older than an hour (writers that died) are removed first.
    ``fence``: see :class:`~hydroserve.acoustics.archive.Archive` (an ingest worker's lease check)."""
    from hydroserve.acoustics.archive import Archive

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
        fence=fence,
    )


def build_reprocessor(settings: Settings, engine: Engine, blobs=None) -> Reprocessor:
    """An executor of reprocessing jobs (ingest workers and ``hydroserve reprocess --run-here``)."""
    from hydroserve.acoustics.package_products import PackageProducts
    from hydroserve.acoustics.reprocess import Reprocessor

    blobs = blobs or open_blobs(settings)
    products = PackageProducts(blobs, sensors.load(settings.sensors_file), settings.products, open_integrity(engine, blobs))
    retry = RetryPolicy(base_s=settings.reprocess_retry_s, max_s=max(settings.reprocess_retry_s, REPROCESS_RETRY_MAX_S),
                        full_jitter=False)
    return Reprocessor(engine, writer(engine), products, blobs, become_writer=become_writer,
                       registrar=registration.acoustic_registrar(settings), max_attempts=settings.reprocess_attempts,
                       retry_delay_s=retry.delay_s)


def open_spool(settings: Settings, archive: Archive) -> SpoolDirectory:
    """The spool directory (created if missing), resuming after each sensor's archive cursor."""
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    return SpoolDirectory(
        settings.spool_dir,
        frame_length=settings.adf_frame_length,
        settle_s=settings.spool_settle_s,
        resume_from=archive.cursor,
        done=SpoolDone.parse(settings.spool_done),
    )


def build_retention(settings: Settings, engine: Engine, blobs=None) -> Retention:
    """Retention by ``retention_days``; the expired products' resources become tombstones queued for the ODC."""
    return Retention(writer(engine), blobs or open_blobs(settings), settings.retention,
                     on_expired=registration.acoustic_tombstones(settings))


def retention_duty(settings: Settings, engine: Engine, blobs=None) -> Duty | None:
    """The worker's retention run every ``retention_interval_s`` (the first at once); None when every class is kept
    forever. A failing run is logged and tried again at the next interval; ingest goes on."""
    if not settings.retention.rules():
        return None
    retention = build_retention(settings, engine, blobs)

    def run() -> None:
        try:
            retention.run()
        except (OSError, SQLAlchemyError) as error:
            log.error("retention failed (%s); trying again in %.0f s", error, settings.retention_interval_s)

    return Duty("retention", settings.retention_interval_s, run)


def build_ingestor(settings: Settings, archive: Archive, *, retry_for_s: float | None) -> Ingestor:
    from hydroserve.acoustics.ingest import Ingestor

    return Ingestor(archive, settings.cut, max_future_s=settings.max_future_s, retry_for_s=retry_for_s)


REPROCESS_JOBS_PER_ROUND = 4


def worker_duties(settings: Settings, engine: Engine, blobs=None) -> list[Duty]:
    """The periodic duties an ingest worker runs besides its spool passes (reprocessing jobs, retention, ...): each a
    :class:`~hydroserve.acoustics.worker.Duty` with its interval, run by the same loop (:mod:`.ingest_worker`), on
    the worker's blob store ``blobs`` (default: opened here).

    Reprocessing runs a few jobs per round (a 300 s package's job takes seconds), so spool passes keep their pace."""
    blobs = blobs or open_blobs(settings)
    reprocessor = build_reprocessor(settings, engine, blobs)
    duties = [Duty("reprocess", settings.poll_interval_s, lambda: reprocessor.run_due_jobs(limit=REPROCESS_JOBS_PER_ROUND))]
    retention = retention_duty(settings, engine, blobs)
    return duties if retention is None else [*duties, retention]


def deliverers(settings: Settings, engine: Engine) -> list:
    """Everything ``hydroserve sync`` delivers: the ODC push when ``odc_url`` is set, and every VTP broker."""
    from hydroserve.odc_sync.push import OdcPusher  # requests: imported by the one command that pushes

    found = []
    if settings.odc_url:
        found.append(OdcPusher(writer(engine), settings.odc_url, settings.odc_token,
                               path_template=settings.odc_path_template, timeout_s=settings.odc_timeout_s))
    return found + vtp_deliverers(settings, engine)
