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
CURRENT_PSDS_KEPT = 10_000
"""Packages' current PSDs kept per process (:class:`~hydroserve.acoustics.current_psd.CurrentPsd`, a few hundred bytes
each): the latest package of every sensor of a full detector, and more."""


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
                return self._hit(key)
        value = load()
        if value is not None:
            with self._lock:
                self._keep(key, value)
        return value

    def _hit(self, key: str):
        """The kept value of ``key``, now the most recently used (lock held)."""
        self._values.move_to_end(key)
        return self._values[key]

    def _keep(self, key: str, value) -> None:
        """Keep ``value``, dropping the least recently used beyond ``max_entries`` (lock held)."""
        self._values[key] = value
        while len(self._values) > self.max_entries:
            self._values.popitem(last=False)


class PackageCache(LruCache):
    """Values read from the catalog about a package (its current PSD), kept per process only while ``watch`` (a
    :class:`~hydroserve.api.catalog_changes.ChangeWatch`) tells that the package's catalog rows have not changed since;
    thread-safe; the least recently used dropped beyond ``max_entries``.

    ``get(package_id, load)`` looks at the changes first (forgetting what they name), then returns the kept value or
    ``load()``. A loaded value is kept only if nothing was forgotten while it was loaded (it may have been read before
    the change) and changes are watched; ``None`` (no such package, yet) is never kept.
    """

    def __init__(self, watch, max_entries: int):
        super().__init__(max_entries)
        self.watch = watch
        self._forgotten = 0  # +1 whenever changes are seen: a value loaded meanwhile may predate them

    def get(self, package_id: str, load: Callable[[], object | None]):
        with self._lock:
            if self._look() and package_id in self._values:
                return self._hit(package_id)
            forgotten = self._forgotten
        value = load()
        if value is not None:
            with self._lock:
                if self._look() and forgotten == self._forgotten:
                    self._keep(package_id, value)
        return value

    def _look(self) -> bool:
        """Forget what changed; whether changes are watched (lock held)."""
        changes = self.watch.changes()
        if changes.everything:
            self._values.clear()
            self._forgotten += 1
        elif changes.package_ids:
            for package_id in changes.package_ids:
                self._values.pop(package_id, None)
            self._forgotten += 1
        return changes.watching


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
    current_psds: PackageCache  # packages' current PSDs (CurrentPsd), kept while the catalog says they did not change
    blob_redirect: Callable[..., str] | None = None  # s3_serve = "redirect": presigned URL of a blob (wiring.blob_redirect)
    # prepared event tables, by blob SHA-256: content-addressed, so never stale (a replaced table has another key).
    # Likewise the /psd documents as sent (http.EncodedDocument, identity and gzip), by ETag: a hash of their content.
    # Which version of a package's products is current is read from the catalog on every request, so every API node
    # answers from the one catalog, whatever another node or a worker changed; only the current PSD (current_psds) is
    # kept, and forgotten as soon as the catalog tells that the package changed (catalog_changes).
    cone_indexes: LruCache = field(default_factory=lambda: LruCache(8))
    documents: LruCache = field(default_factory=lambda: LruCache(DOCUMENTS_KEPT))


def services() -> Services:
    """The services of the current app."""
    return current_app.extensions["hydroserve"]
