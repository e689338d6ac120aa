"""Marshmallow schemas of the alert endpoints: the list's query (the alert filters, a page size, a cursor) and the
responses (the JSON synopsis of a packet, pages and revisions)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from hydroserve.api.alerts.filters import FILTERS

from .cursor import Cursor, next_url_field


class _AlertQueryBase(ma.Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000), metadata={"description": "page size"})
    cursor = Cursor(int)

    @ma.validates_schema
    def _window(self, data, **kwargs):
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise ma.ValidationError("Must be later than since.", "until")


AlertQuery = _AlertQueryBase.from_dict(
    {key: alert_filter.value_type(metadata={"description": alert_filter.doc, "example": alert_filter.example_values[0]})
     for key, alert_filter in FILTERS.items()},
    name="AlertQuery",
)
"""The query of ``GET /alerts``: every alert filter, ``limit`` and ``cursor``; any other key is a 400."""


class CitationSchema(ma.Schema):
    ivorn = fields.String(metadata={"description": "IVORN of the cited packet"})
    relation = fields.String(metadata={"description": "supersedes (an update) or retraction"})
    id = fields.String(metadata={"description": "the cited alert's id"})
    url = fields.String(metadata={"description": "the cited alert in this API"})


class AlertSchema(ma.Schema):
    """The JSON synopsis of one alert packet (one revision of an event)."""

    id = fields.String(metadata={"description": "alert id: <event id>_r<revision>", "example": "ORCA24-0114-00873_r1"})
    ivorn = fields.String(metadata={"description": "IVORN of the packet", "example": "ivo://km3net.org/alerts#ORCA24-0114-00873_r1"})
    event_id = fields.String(metadata={"description": "the event's id (the posted id), common to all its revisions"})
    revision = fields.Integer(metadata={"description": "record_number: 1 for the initial alert, then 2, 3 ..."})
    alert_type = fields.String(metadata={"description": "initial, update or retraction"})
    role = fields.String(metadata={"description": "VOEvent role: observation (real alert) or test"})
    instrument = fields.String(metadata={"description": "detector"})
    trigger_time = fields.String(metadata={"description": "event time, RFC 3339 UTC (microseconds)"})
    issued = fields.String(metadata={"description": "Who/Date of the packet, RFC 3339 UTC"})
    received = fields.String(metadata={"description": "when hydroserve stored the packet, RFC 3339 UTC"})
    ra_deg = fields.Float(metadata={"description": "right ascension, deg (ICRS)"})
    dec_deg = fields.Float(metadata={"description": "declination, deg (ICRS)"})
    error_radius_50_deg = fields.Float(metadata={"description": "50 % containment radius, deg"})
    error_radius_90_deg = fields.Float(metadata={"description": "the packet's Error2Radius"})
    galactic_longitude_deg = fields.Float(metadata={"description": "galactic longitude, deg"})
    galactic_latitude_deg = fields.Float(metadata={"description": "galactic latitude, deg"})
    cites = fields.Nested(CitationSchema, allow_none=True, metadata={"description": "the earlier revision this one supersedes or retracts"})
    superseded_by = fields.String(allow_none=True, metadata={"description": "id of the next revision, if any"})
    latest = fields.String(metadata={"description": "id of the event's latest revision"})
    retracted = fields.Boolean(metadata={"description": "whether the event has been retracted"})
    packet_sha256 = fields.String(metadata={"description": "SHA-256 of the VOEvent bytes (also the ETag)"})
    packet_size_bytes = fields.Integer(metadata={"description": "size of the VOEvent XML"})
    alert = fields.Dict(metadata={"description": "the alert's fields as accepted (GCN names), with defaults filled in"})
    links = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "URLs of the packet (self, xml, json), its revisions and the latest revision"})


class AlertPageSchema(ma.Schema):
    items = fields.List(fields.Nested(AlertSchema), metadata={"description": "alerts of this page, newest first"})
    next = next_url_field()


class RevisionsSchema(ma.Schema):
    event_id = fields.String(metadata={"description": "the event's id"})
    latest = fields.String(metadata={"description": "id of the latest revision"})
    retracted = fields.Boolean(metadata={"description": "whether the event has been retracted"})
    items = fields.List(fields.Nested(AlertSchema), metadata={"description": "every revision, oldest first"})
