"""The application factory: settings, then the services they name, then the Flask app."""

from __future__ import annotations

import logging
import os

from flask import Flask

from hydroserve.acoustics import sensors
from hydroserve.acoustics.package_products import PackageProducts
from hydroserve.acoustics.soundscape import Soundscape
from hydroserve.acoustics.view_cache import ViewCache

from . import acoustic_registration, catalog_changes, wiring
from .catalog_identity import CatalogWatch
from .config import Settings, load_settings
from .db import writer
from .web.app import build_app
from .web.services import CURRENT_PSDS_KEPT, PackageCache, Services

log = logging.getLogger(__name__)


def _settings(config) -> Settings:
    if isinstance(config, Settings):
        return config
    return load_settings(os.environ.get("HYDROSERVE_CONFIG"), **(config or {}))


def _view_cache(settings: Settings) -> ViewCache | None:
    """The node's view cache (None with ``view_cache_bytes = 0``, or when its folder cannot be made: logged, and the
    views are then made from the store for every request, as without one)."""
    if not settings.view_cache_bytes:
        return None
    try:
        return ViewCache(settings.view_cache_dir, settings.view_cache_bytes)
    except OSError as error:
        log.warning("view_cache_dir %s cannot be used (%s): /raw and /wav are made from the stored samples for every "
                    "request; set view_cache_dir to a writable local folder, or view_cache_bytes = 0", settings.view_cache_dir,
                    error)
        return None


def create_app(config: Settings | dict | None = None) -> Flask:
    """Build the app.

    Parameters
    ----------
    config : Settings or dict, optional
        Settings, or overrides of the configuration keys; by default the
        configuration comes from ``$HYDROSERVE_CONFIG`` (a TOML file) and
        the ``HYDROSERVE_*`` environment.
    """
    settings = _settings(config)
    blobs = wiring.open_blobs(settings)
    sensor_catalog = sensors.load(settings.sensors_file)
    engine = wiring.open_catalog(settings)
    integrity = wiring.open_integrity(engine, blobs)
    products = PackageProducts(blobs, sensor_catalog, settings.products, integrity, _view_cache(settings))
    return build_app(Services(
        settings=settings,
        engine=engine,
        writer=writer(engine),
        blobs=blobs,
        sensors=sensor_catalog,
        products=products,
        soundscape=Soundscape(engine, blobs, products, sensor_catalog,
                              describe_day=lambda sensor, day: (acoustic_registration.hmd_day_kid(settings, sensor, day),
                                                                acoustic_registration.hmd_day_url(settings, sensor, day))),
        alert_settings=wiring.alert_settings(settings),
        event_settings=wiring.event_settings(settings),
        catalog_watch=CatalogWatch(settings.database_url, engine),
        current_psds=PackageCache(catalog_changes.watch(settings.database_url, engine), CURRENT_PSDS_KEPT),
        blob_redirect=wiring.blob_redirect(settings, blobs),
    ))
