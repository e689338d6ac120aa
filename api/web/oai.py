"""OAI-PMH 2.0 endpoint (``/oai``): the request's arguments to :func:`hydroserve.odc_sync.oai.answer`, its XML back."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, request, url_for

from hydroserve.codecs import oaipmh
from hydroserve.odc_sync import oai

from .blueprint import Blueprint
from .links import record_url
from .services import services

bp = Blueprint("oai", __name__, description="OAI-PMH 2.0 harvesting of the open-data resources")


def _repository() -> oai.Repository:
    settings = services().settings
    return oai.Repository(
        repository_id=settings.oai_repository_id, base_url=url_for("oai.Oai", _external=True),
        admin_email=settings.admin_email, page_size=settings.oai_page_size,
        stream_url=lambda kid: record_url("registry.Stream", "kid", kid),
    )


@bp.route("/oai", methods=["GET", "POST"], endpoint="Oai")
@bp.doc(
    summary="OAI-PMH 2.0",
    description="verbs Identify, ListMetadataFormats, ListSets, ListIdentifiers, ListRecords, GetRecord; oai_dc; "
                "protocol errors are OAI-PMH error elements (HTTP 200)",
    parameters=[{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("verb", "identifier", "metadataPrefix", "from", "until", "set", "resumptionToken")],
    responses={"200": {"description": "OAI-PMH response", "content": {"text/xml": {"schema": {"type": "string"}}}}},
)
def oai_request():
    """OAI-PMH 2.0 requests (GET or POST form)."""
    values = request.values
    arguments = {key: values[key] for key in values}
    repeated = [key for key in values if len(values.getlist(key)) > 1]
    body = oai.answer(services().engine, _repository(), arguments, repeated=repeated, now=datetime.now(UTC))
    return Response(body, mimetype=oaipmh.MEDIA_TYPE, content_type=f"{oaipmh.MEDIA_TYPE}; charset=utf-8")
