"""What a running app holds: settings, catalog engine, blob store, sensor metadata."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy.engine import Engine

from hydroserve.acoustics.blobstore import BlobStore
from hydroserve.acoustics.sensors import SensorCatalog

from .config import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    blobs: BlobStore
    sensors: SensorCatalog


def services() -> Services:
    """The services of the current app."""
    return current_app.extensions["hydroserve"]
