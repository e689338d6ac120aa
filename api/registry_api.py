"""The open-data registry over HTTP: collections, streams, resources and the harvest feed.

The feed ``/resources?since=`` lists resources by (modified, kid) ascending
with an opaque cursor; registering transactions are serialised (see
:mod:`hydroserve.odc_sync.registry`), so a harvester that follows ``next``
never misses or repeats a record, even while new ones arrive.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from urllib.parse import urlencode

import marshmallow as ma
from flask import abort, request, url_for
from marshmallow import ValidationError, fields, validate

from hydroserve.odc_sync import registry
from hydroserve.odc_sync.schemas import ResourceSchema, resource_json

from . import cursor as cursors
from . import errors, http
from .blueprint import Blueprint
from .services import services

bp = Blueprint("registry", __name__, description="Open-data resources (KM3OpenResource), streams and collections")

PROBLEM = {"schema": errors.ProblemSchema, "content_type": errors.MEDIA_TYPE}
KID = r"^[A-Za-z0-9_.-]{1,200}$"


class StreamSummarySchema(ma.Schema):
    kid = fields.String()
    ktype = fields.String()
    title = fields.String()
    description = fields.String()
    media_type = fields.String()
    member_count = fields.Integer()
    url = fields.String()


class CollectionSchema(ma.Schema):
    kid = fields.String(metadata={"example": "acoustic20_01"})
    title = fields.String()
    description = fields.String()
    publisher = fields.String()
    created = fields.AwareDateTime()
    streams = fields.List(fields.Nested(StreamSummarySchema))
    url = fields.String()


class CollectionListSchema(ma.Schema):
    items = fields.List(fields.Nested(CollectionSchema))


class MemberSchema(ma.Schema):
    kid = fields.String()
    title = fields.String()
    modified = fields.AwareDateTime()
    url = fields.String()


class StreamSchema(StreamSummarySchema):
    collection = fields.String()
    members = fields.List(fields.Nested(MemberSchema))
    next = fields.String(allow_none=True)


class FeedSchema(ma.Schema):
    items = fields.List(fields.Nested(ResourceSchema))
    next = fields.String(allow_none=True, metadata={"description": "URL of the next page; also in the Link header"})


class PageQuery(ma.Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(validate=validate.Length(max=1024), metadata={"description": "opaque position from `next`"})


class FeedQuery(PageQuery):
    since = fields.AwareDateTime(metadata={"description": "resources modified at or after this time (RFC 3339)"})
    stream = fields.List(fields.String(validate=validate.Regexp(KID)), metadata={"description": "only these streams (repeatable)"})


def _page_position(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        stamp, kid = cursors.decode(cursor, (str, str))
        return datetime.fromisoformat(stamp), kid
    except (ValidationError, ValueError):
        abort(400, description="Invalid query parameter 'cursor': not a cursor issued by this service.")


def _next_url(endpoint: str, page: list[registry.Resource], limit: int, **values) -> str | None:
    if len(page) < limit:
        return None
    last = page[-1]
    params = {k: v for k, v in request.args.items(multi=True) if k != "cursor"}
    query = urlencode(list(params.items()) + [("cursor", cursors.encode([last.modified.isoformat(), last.kid]))])
    return url_for(endpoint, _external=True, **values) + "?" + query


def _json(payload: dict, next_url: str | None = None):
    body = json.dumps(payload, separators=(",", ":")).encode()
    response = http.send_json_bytes(body, etag=hashlib.sha256(body).hexdigest()[:40], max_age_s=0)
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


def _stream_summary(row, counts: dict[str, int]) -> dict:
    return {
        "kid": row.kid, "ktype": row.ktype, "title": row.title, "description": row.description,
        "media_type": row.media_type, "member_count": counts.get(row.kid, 0),
        "url": url_for("registry.Stream", kid=row.kid, _external=True),
    }


def _collection(conn, row, counts) -> dict:
    return CollectionSchema().dump({
        "kid": row.kid, "title": row.title, "description": row.description, "publisher": row.publisher,
        "created": registry.utc(row.created),
        "streams": [_stream_summary(s, counts) for s in registry.list_streams(conn, row.kid)],
        "url": url_for("registry.Collection", kid=row.kid, _external=True),
    })


def _resource(resource: registry.Resource) -> dict:
    document = resource_json(resource)
    document["url"] = url_for("registry.Resource", kid=resource.kid, _external=True)
    return document


@bp.route("/collections", endpoint="Collections")
@bp.response(200, CollectionListSchema)
def list_collections():
    """Every KM3ResourceCollection with its streams."""
    with services().engine.connect() as conn:
        counts = registry.member_counts(conn)
        return _json({"items": [_collection(conn, row, counts) for row in registry.list_collections(conn)]})


@bp.route("/collections/<kid>", endpoint="Collection")
@bp.response(200, CollectionSchema)
@bp.alt_response(404, description="No such collection", **PROBLEM)
def get_collection(kid: str):
    """A KM3ResourceCollection: title, description, publisher and its streams."""
    with services().engine.connect() as conn:
        row = registry.get_collection(conn, kid)
        if row is None:
            abort(404, description=f"No collection {kid[:100]!r}.")
        return _json(_collection(conn, row, registry.member_counts(conn)))


@bp.route("/streams/<kid>", endpoint="Stream")
@bp.arguments(PageQuery, location="query", as_kwargs=True)
@bp.response(200, StreamSchema)
@bp.alt_response(400, description="Invalid parameter", **PROBLEM)
@bp.alt_response(404, description="No such stream", **PROBLEM)
def get_stream(kid: str, limit: int, cursor: str | None = None):
    """A KM3ResourceStream and its members, oldest first, paginated."""
    after = _page_position(cursor)
    with services().engine.connect() as conn:
        row = registry.get_stream(conn, kid)
        if row is None:
            abort(404, description=f"No stream {kid[:100]!r}.")
        page = registry.feed(conn, stream_kids=[kid], after=after, limit=limit)
        counts = registry.member_counts(conn)
    next_url = _next_url("registry.Stream", page, limit, kid=kid)
    payload = StreamSchema().dump({
        **_stream_summary(row, counts),
        "collection": row.collection_kid,
        "members": [{"kid": r.kid, "title": r.title, "modified": r.modified,
                     "url": url_for("registry.Resource", kid=r.kid, _external=True)} for r in page],
        "next": next_url,
    })
    return _json(payload, next_url)


@bp.route("/resources/<kid>", endpoint="Resource")
@bp.response(200, ResourceSchema)
@bp.alt_response(404, description="No such resource", **PROBLEM)
def get_resource(kid: str):
    """One KM3OpenResource."""
    with services().engine.connect() as conn:
        resource = registry.get_resource(conn, kid)
    if resource is None:
        abort(404, description=f"No resource {kid[:100]!r}.")
    return _json(_resource(resource))


@bp.route("/resources", endpoint="Resources")
@bp.arguments(FeedQuery, location="query", as_kwargs=True)
@bp.response(200, FeedSchema)
@bp.alt_response(400, description="Invalid parameter", **PROBLEM)
def resource_feed(limit: int, since: datetime | None = None, stream: list[str] | None = None, cursor: str | None = None):
    """The harvest feed: resources modified since a time, by (modified, kid), with an opaque cursor."""
    with services().engine.connect() as conn:
        page = registry.feed(conn, since=since, stream_kids=stream or None, after=_page_position(cursor), limit=limit)
    next_url = _next_url("registry.Resources", page, limit)
    return _json({"items": [_resource(r) for r in page], "next": next_url}, next_url)
