"""Small factories that wire the parts together from the settings."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from hydroserve.acoustics import catalog, sensors
from hydroserve.acoustics.archive import Archive
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.acoustics.ingest import Ingestor
from hydroserve.odc_sync import registry

from . import event_store, registration
from .config import Settings
from .db import create_schema, make_engine, writer


def open_catalog(settings: Settings) -> Engine:
    """The catalog engine with every schema created."""
    engine = make_engine(settings.database_url)
    create_schema(engine, catalog.metadata, registry.metadata, event_store.metadata)
    registration.ensure_acoustic_registry(writer(engine), settings)
    return engine


def open_blobs(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.blob_dir)


def build_archive(settings: Settings, engine: Engine, blobs=None) -> Archive:
    return Archive(
        writer(engine),
        blobs if blobs is not None else open_blobs(settings),
        cut_settings=settings.cut,
        product_settings=settings.products,
        sensor_catalog=sensors.load(settings.sensors_file),
        registrar=registration.acoustic_registrar(settings),
    )


def build_ingestor(settings: Settings, archive: Archive, *, retry_for_s: float | None) -> Ingestor:
    return Ingestor(archive, settings.cut, max_future_s=settings.max_future_s, retry_for_s=retry_for_s)
