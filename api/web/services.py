"""What a running app holds: settings, catalog engine, blob store, sensor metadata."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy.engine import Engine

from hydroserve.acoustics.blobstore import BlobStore
from hydroserve.acoustics.sensors import SensorCatalog
from hydroserve.api.config import Settings


class PublishedRecords:
    """Records of published packages, kept per worker: a package never changes once visible.

    Only records that exist are kept (a missing package may be published a moment
    later); the oldest are dropped beyond ``max_entries``.
    """

    def __init__(self, max_entries: int = 4096):
        self.max_entries = max_entries
        self._records: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], object | None]):
        with self._lock:
            if key in self._records:
                self._records.move_to_end(key)
                return self._records[key]
        record = load()
        if record is not None:
            with self._lock:
                self._records[key] = record
                while len(self._records) > self.max_entries:
                    self._records.popitem(last=False)
        return record


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    blobs: BlobStore
    sensors: SensorCatalog
    packages: PublishedRecords = field(default_factory=PublishedRecords)


def services() -> Services:
    """The services of the current app."""
    return current_app.extensions["hydroserve"]
