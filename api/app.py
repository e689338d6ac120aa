"""The application factory: settings, then the services they name, then the Flask app."""

from __future__ import annotations

import os

from flask import Flask

from hydroserve.acoustics import sensors

from . import wiring
from .config import Settings, load_settings
from .web.app import build_app
from .web.services import Services


def _settings(config) -> Settings:
    if isinstance(config, Settings):
        return config
    return load_settings(os.environ.get("HYDROSERVE_CONFIG"), **(config or {}))


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
    engine = wiring.open_catalog(settings)
    return build_app(Services(
        settings=settings,
        engine=engine,
        blobs=wiring.open_blobs(settings),
        sensors=sensors.load(settings.sensors_file),
        event_settings=wiring.event_settings(settings),
    ))
