"""The API index: version, collection and links."""

from __future__ import annotations

import marshmallow as ma
from flask import url_for

from hydroserve.codecs import SOFTWARE_VERSION

from .blueprint import Blueprint
from .services import services

bp = Blueprint("index", __name__, description="Service index")


class IndexSchema(ma.Schema):
    service = ma.fields.String(metadata={"description": "name of the service: hydroserve"})
    version = ma.fields.String(metadata={"description": "software version of this server"})
    collection = ma.fields.String(metadata={"description": "KM3ResourceCollection kid of the acoustic data"})
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), metadata={"description": "URLs of the API's entry points by name (sensors, packages, collections, resources, alerts, event tables, OAI-PMH, OpenAPI document)"})


@bp.route("", endpoint="Index")
@bp.response(200, IndexSchema)
def index():
    """Where to go from here."""
    return {
        "service": "hydroserve",
        "version": SOFTWARE_VERSION,
        "collection": services().settings.collection,
        "links": {
            "sensors": url_for("acoustic.Sensors", _external=True),
            "packages": url_for("acoustic.Packages", _external=True),
            "collections": url_for("registry.Collections", _external=True),
            "resources": url_for("registry.Resources", _external=True),
            "oai": url_for("oai.Oai", _external=True),
            "event_tables": url_for("events.Tables", _external=True),
            "alerts": url_for("alerts.Alerts", _external=True),
            "metrics": url_for("metrics.metrics", _external=True),
            "openapi": url_for("api-docs.openapi_json", _external=True),
            "docs": url_for("api-docs.openapi_swagger_ui", _external=True),
        },
    }
