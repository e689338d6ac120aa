"""The Flask application: extensions, error handling, blueprints, OpenAPI document."""

from __future__ import annotations

import http
from urllib.parse import urlsplit

from flask import Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from hydroserve.acoustics.blobstore import BlobDamaged, BlobNotFound
from hydroserve.api.urls import API_PREFIX
from hydroserve.codecs import SOFTWARE_VERSION

from . import body, errors
from .services import Services


class ProblemApi(Api):
    """flask-smorest's Api with RFC 9457 problem+json errors (documented and returned)."""

    ERROR_SCHEMA = errors.ProblemSchema

    def handle_http_exception(self, error: HTTPException):
        return errors.from_http_exception(error)

    def _register_responses(self):
        """The error responses flask-smorest documents for every operation, as problem+json."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"], content_type = self.ERROR_SCHEMA, errors.MEDIA_TYPE
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (RFC 9457 problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class PublicUrlFlask(Flask):
    """Flask whose URLs (absolute ones, and the path prefix of all) are built on the configured ``public_url``, never on
    the request's Host header or scheme: a client cannot make the service write its address into links."""

    def create_url_adapter(self, request):
        adapter = super().create_url_adapter(request)
        if request is not None:
            public = urlsplit(self.extensions["hydroserve"].settings.public_url)
            adapter.url_scheme, adapter.server_name, adapter.script_name = public.scheme, public.netloc, public.path.rstrip("/") + "/"
        return adapter


def build_app(services: Services) -> Flask:
    """The Flask app serving ``services``, with every blueprint registered."""
    app = PublicUrlFlask(__name__)
    app.json.sort_keys = False
    app.config.update(
        API_TITLE="hydroserve",
        API_VERSION=SOFTWARE_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=f"{API_PREFIX}/docs/static/",
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        API_SPEC_OPTIONS={
            "info": {
                "description": "Acoustic data packages of a deep-sea neutrino telescope (KM3NeT ADF raw, WAV, MP3, PSD), "
                "their open-data resources, particle-event tables and neutrino alerts.",
            },
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        },
    )
    app.extensions["hydroserve"] = services
    api = ProblemApi(app)
    app.register_error_handler(OperationalError, errors.catalog_unavailable)
    app.register_error_handler(BlobNotFound, errors.blob_missing)
    app.register_error_handler(BlobDamaged, errors.blob_damaged)
    app.register_error_handler(OSError, errors.storage_error)
    app.register_error_handler(errors.ProductExpired, errors.product_expired)

    from . import (acoustic, alerts, detector, events, headers, health, index, metrics, oai, pages, pictures, resources,
                   soundscape, soundscape_pictures)

    app.before_request(metrics.start_timer)
    app.before_request(health.refuse_writes_to_a_replaced_catalog)
    app.before_request(body.read_chunked)
    app.after_request(metrics.record)
    app.after_request(headers.add)
    api.register_blueprint(metrics.bp)
    api.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    api.register_blueprint(index.bp, url_prefix=API_PREFIX)
    api.register_blueprint(acoustic.bp, url_prefix=API_PREFIX)
    api.register_blueprint(pictures.bp, url_prefix=API_PREFIX)
    api.register_blueprint(soundscape.bp, url_prefix=API_PREFIX)
    api.register_blueprint(soundscape_pictures.bp, url_prefix=API_PREFIX)
    api.register_blueprint(detector.bp, url_prefix=API_PREFIX)
    api.register_blueprint(resources.bp, url_prefix=API_PREFIX)
    api.register_blueprint(alerts.bp, url_prefix=API_PREFIX)
    api.register_blueprint(events.bp, url_prefix=API_PREFIX)
    api.register_blueprint(oai.bp)

    @app.get(f"{API_PREFIX}/docs/static/<path:filename>")
    def swagger_ui_static(filename):
        from swagger_ui_bundle import swagger_ui_path

        return send_from_directory(swagger_ui_path, filename, max_age=86400)

    return app

