"""Marshmallow schemas of the event-table endpoints: publish form, queries, responses."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from hydroserve.api.events.metadata import MetadataSchema
from hydroserve.api.validation import described

from .cursor import Cursor, next_url_field
from .http import FileLinkSchema


class PublishFiles(ma.Schema):
    """``multipart/form-data`` parts of a publish request."""

    table = Upload(required=True, metadata={"description": "the rows: CSV (header line of column names) or HDF5 "
                                                          "(1-d compound dataset 'events')"})
    metadata = Upload(required=True, metadata={"description": "the metadata document, JSON or TOML (MetadataSchema)"})


class TableListQuery(ma.Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000), **described("page size"))
    cursor = Cursor(str)


class ConeSearchSchema(ma.Schema):
    url = fields.String(metadata={"description": "SCS base URL (ends with '?'): append RA=&DEC=&SR="})
    standard_id = fields.String(metadata={"description": "IVOA standard the service follows (ivo://ivoa.net/std/ConeSearch#query-1.03)"})
    max_sr_deg = fields.Float(metadata={"description": "largest search radius SR, deg"})
    max_records = fields.Integer(metadata={"description": "most rows one search returns (MAXREC limit)"})
    verbosity = fields.Boolean(metadata={"description": "VERB is supported"})
    test_query = fields.Dict(metadata={"description": "a query that returns at least one event"})


class TableSchema(ma.Schema):
    """An event table: summary, formats, cone search and (in the single-table view) the full metadata."""

    id = fields.String(metadata={"description": "the table's identifier"})
    title = fields.String(metadata={"description": "the table's title"})
    n_rows = fields.Integer(metadata={"description": "number of events"})
    version = fields.String(metadata={"description": "the table's version"})
    detector = fields.String(metadata={"description": "detector that took the data"})
    created = fields.String(metadata={"description": "when it was published here, RFC 3339 UTC"})
    formats = fields.Dict(keys=fields.String(), values=fields.Nested(FileLinkSchema),
                          metadata={"description": "csv, meta (the CSV's metadata file), hdf5, votable"})
    cone_search = fields.Nested(ConeSearchSchema, allow_none=True,
                                metadata={"description": "null if the table has no sky positions"})
    metadata = fields.Nested(MetadataSchema, metadata={"description": "the full metadata (single-table view only)"})
    resources = fields.List(fields.String(), metadata={"description": "kids of the KM3OpenResources of this table"})
    links = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "URLs of the table (self) and of each format"})


class TablePageSchema(ma.Schema):
    items = fields.List(fields.Nested(TableSchema), metadata={"description": "tables of this page"})
    next = next_url_field()
