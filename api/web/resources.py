"""The open-data registry over HTTP: collections, streams, resources and the harvest feed.

The feed ``/resources?since=`` lists resources by (modified, kid) ascending
with an opaque cursor; a deleted resource is listed as its tombstone
(``"deleted": true``, see :func:`~hydroserve.odc_sync.schemas.tombstone_json`)
at the time of its deletion; registering transactions are serialised (see
:mod:`hydroserve.odc_sync.registry`), so a harvester that follows ``next``
never misses or repeats a record, even while new ones arrive.
"""

from __future__ import annotations

from datetime import datetime

import marshmallow as ma
from flask import abort, url_for
from marshmallow import fields, validate

from hydroserve.api.validation import TIME_FORMS, FilterTime, matching
from hydroserve.codecs.times import as_utc
from hydroserve.odc_sync import registry
from hydroserve.odc_sync.schemas import ResourceSchema, record_json

from . import errors, http
from .blueprint import Blueprint
from .cursor import Cursor, next_page, next_url_field
from .links import record_url
from .lookup import load_or_404
from .services import services

bp = Blueprint("registry", __name__, description="Open-data resources (KM3OpenResource), streams and collections")

KID = r"^[A-Za-z0-9_.-]{1,200}$"


class StreamSummarySchema(ma.Schema):
    kid = fields.String(metadata={"description": "the stream's kid <collection>_<kind>"})
    ktype = fields.String(metadata={"description": "KM3ResourceStream"})
    title = fields.String(metadata={"description": "the stream's title"})
    description = fields.String(metadata={"description": "what the stream holds"})
    media_type = fields.String(metadata={"description": "media type of its members' data"})
    member_count = fields.Integer(metadata={"description": "resources in the stream"})
    url = fields.String(metadata={"description": "the stream in this API"})


class CollectionSchema(ma.Schema):
    kid = fields.String(metadata={"description": "the collection's kid", "example": "acoustic20_01"})
    title = fields.String(metadata={"description": "the collection's title"})
    description = fields.String(metadata={"description": "what the collection holds"})
    publisher = fields.String(metadata={"description": "who publishes it"})
    created = fields.AwareDateTime(metadata={"description": "when it was registered, RFC 3339 UTC"})
    streams = fields.List(fields.Nested(StreamSummarySchema), metadata={"description": "its streams"})
    url = fields.String(metadata={"description": "the collection in this API"})


class CollectionListSchema(ma.Schema):
    items = fields.List(fields.Nested(CollectionSchema), metadata={"description": "every collection"})


class MemberSchema(ma.Schema):
    kid = fields.String(metadata={"description": "the resource's kid"})
    title = fields.String(metadata={"description": "the resource's title"})
    modified = fields.AwareDateTime(metadata={"description": "when the record last changed, RFC 3339 UTC"})
    deleted = fields.Boolean(metadata={"description": "a tombstone: the resource's bytes were deleted"})
    url = fields.String(metadata={"description": "the resource record in this API"})


class StreamSchema(StreamSummarySchema):
    collection = fields.String(metadata={"description": "kid of the collection the stream belongs to"})
    members = fields.List(fields.Nested(MemberSchema), metadata={"description": "resources of this page, oldest change first"})
    next = next_url_field()


class FeedSchema(ma.Schema):
    items = fields.List(fields.Nested(ResourceSchema), metadata={"description": "resource records (or tombstones) of this page, in (modified, kid) order"})
    next = next_url_field()


class PageQuery(ma.Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000), metadata={"description": "page size"})
    cursor = Cursor(str, str)


class FeedQuery(PageQuery):
    since = FilterTime(metadata={"description": f"resources modified at or after this time: {TIME_FORMS}"})
    stream = fields.List(fields.String(validate=matching(KID)), metadata={"description": "only these streams (repeatable)"})


def _page_position(cursor: list | None) -> tuple[datetime, str] | None:
    """(modified, kid) of the last record of the previous page."""
    if cursor is None:
        return None
    stamp, kid = cursor
    try:
        return datetime.fromisoformat(stamp), kid
    except ValueError:
        abort(400, description="Invalid query parameter 'cursor': not a cursor issued by this service.")


def _feed_page(conn, endpoint: str, limit: int, cursor: list | None, *, since: datetime | None = None,
               stream_kids: list[str] | None = None, **view_args) -> tuple[list[registry.Resource], str | None, dict]:
    """A page of the feed after ``cursor``, the next page's URL (None on the last page) and its Link header."""
    records = registry.feed(conn, since=since, stream_kids=stream_kids, after=_page_position(cursor), limit=limit + 1)
    page = records[:limit]
    if len(records) <= limit:
        return page, None, {}
    url, headers = next_page(endpoint, [page[-1].modified.isoformat(), page[-1].kid], **view_args)
    return page, url, headers


def _json(payload: dict, headers: dict | None = None):
    response = http.send_json(payload, max_age_s=0)
    response.headers.update(headers or {})
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
        "created": as_utc(row.created),
        "streams": [_stream_summary(s, counts) for s in registry.list_streams(conn, row.kid)],
        "url": url_for("registry.Collection", kid=row.kid, _external=True),
    })


def _resource(resource: registry.Resource) -> dict:
    document = record_json(resource)
    document["url"] = record_url("registry.Resource", "kid", resource.kid)
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
@bp.alt_response(404, description="No such collection", **errors.PROBLEM)
def get_collection(kid: str):
    """A KM3ResourceCollection: title, description, publisher and its streams."""
    with services().engine.connect() as conn:
        row = load_or_404("collection", kid, KID, lambda: registry.get_collection(conn, kid))
        return _json(_collection(conn, row, registry.member_counts(conn)))


@bp.route("/streams/<kid>", endpoint="Stream")
@bp.arguments(PageQuery, location="query", as_kwargs=True)
@bp.response(200, StreamSchema)
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
@bp.alt_response(404, description="No such stream", **errors.PROBLEM)
def get_stream(kid: str, limit: int, cursor: list | None = None):
    """A KM3ResourceStream and its members, oldest first, paginated."""
    with services().engine.connect() as conn:
        row = load_or_404("stream", kid, KID, lambda: registry.get_stream(conn, kid))
        page, next_url, headers = _feed_page(conn, "registry.Stream", limit, cursor, stream_kids=[kid], kid=kid)
        counts = registry.member_counts(conn)
    payload = StreamSchema().dump({
        **_stream_summary(row, counts),
        "collection": row.collection_kid,
        "members": [{"kid": r.kid, "title": r.title, "modified": r.modified, "deleted": r.deleted,
                     "url": record_url("registry.Resource", "kid", r.kid)} for r in page],
        "next": next_url,
    })
    return _json(payload, headers)


@bp.route("/resources/<kid>", endpoint="Resource")
@bp.response(200, ResourceSchema)
@bp.alt_response(404, description="No such resource", **errors.PROBLEM)
def get_resource(kid: str):
    """One KM3OpenResource (its tombstone, ``"deleted": true``, once its bytes were deleted)."""
    with services().engine.connect() as conn:
        resource = load_or_404("resource", kid, KID, lambda: registry.get_resource(conn, kid))
    return _json(_resource(resource))


@bp.route("/resources", endpoint="Resources")
@bp.arguments(FeedQuery, location="query", as_kwargs=True)
@bp.response(200, FeedSchema)
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
def resource_feed(limit: int, since: datetime | None = None, stream: list[str] | None = None, cursor: list | None = None):
    """The harvest feed: resources modified since a time, by (modified, kid), with an opaque cursor."""
    with services().engine.connect() as conn:
        page, next_url, headers = _feed_page(conn, "registry.Resources", limit, cursor, since=since, stream_kids=stream or None)
    return _json({"items": [_resource(r) for r in page], "next": next_url}, headers)
