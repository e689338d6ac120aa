"""What a running app holds: settings, catalog engine, blob store, sensor metadata, the products engine, the alert
and event-table domains' settings, caches."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy.engine import Engine

from hydroserve.acoustics.blobstore import BlobStore
from hydroserve.acoustics.package_products import PackageProducts
from hydroserve.acoustics.sensors import SensorCatalog
from hydroserve.acoustics.soundscape import Soundscape
from hydroserve.api.alerts.settings import AlertSettings
from hydroserve.api.catalog_identity import CatalogWatch
from hydroserve.api.config import Settings
from hydroserve.api.events.settings import EventSettings


DOCUMENTS_KEPT = 128
"""/psd documents kept per process: 128 of a 300 s package's (270 kB, 100 kB gzipped) hold about 47 MB."""


class LruCache:
    """A thread-safe least-recently-used cache of values that never change once they exist.

    ``get(key, load)`` returns the cached value or ``load()``; ``None`` (not
    found, yet) is returned but never kept, since the thing may appear a moment
    later. The least recently used entries are dropped beyond ``max_entries``.
    """

    def __init__(self, max_entries: int):
        if max_entries < 1:
            raise ValueError(f"{max_entries=} must be at least 1")
        self.max_entries = max_entries
        self._values: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], object | None]):
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = load()
        if value is not None:
            with self._lock:
                self._values[key] = value
                while len(self._values) > self.max_entries:
                    self._values.popitem(last=False)
        return value


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine  # reads
    writer: Engine  # write transactions (BEGIN IMMEDIATE on SQLite; the same pool)
    blobs: BlobStore
    sensors: SensorCatalog
    products: PackageProducts
    soundscape: Soundscape  # long-term queries over the sensor-day HMD aggregates
    alert_settings: AlertSettings
    event_settings: EventSettings
    catalog_watch: CatalogWatch  # the catalog's id and file as the app found them: /readyz and writes compare
    blob_redirect: Callable[..., str] | None = None  # s3_serve = "redirect": presigned URL of a blob (wiring.blob_redirect)
    # prepared event tables, by blob SHA-256: content-addressed, so never stale (a replaced table has another key).
    # Likewise the /psd documents as sent (http.EncodedDocument, identity and gzip), by ETag: a hash of their content.
    # Nothing else is kept per process: which version of a package's products is current is read from the catalog on
    # every request, so every API node answers from the one catalog, whatever another node or a worker changed.
    cone_indexes: LruCache = field(default_factory=lambda: LruCache(8))
    documents: LruCache = field(default_factory=lambda: LruCache(DOCUMENTS_KEPT))


def services() -> Services:
    """The services of the current app."""
    return current_app.extensions["hydroserve"]
