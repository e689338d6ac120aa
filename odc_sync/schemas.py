"""JSON of the open-data records (marshmallow): what the ODC receives and the feeds return."""

from __future__ import annotations

from functools import cache

import marshmallow as ma
from marshmallow import fields


class CoverageSchema(ma.Schema):
    start = fields.AwareDateTime(allow_none=True, metadata={"description": "first instant covered, RFC 3339 UTC"})
    end = fields.AwareDateTime(allow_none=True)


class ProvenanceStepSchema(ma.Schema):
    id = fields.String(required=True, metadata={"description": "identifier of the processing step"})
    description = fields.String()
    parameters = fields.Dict()
    sources = fields.List(fields.String())


class ResourceSchema(ma.Schema):
    """A KM3OpenResource (Dublin-Core based)."""

    kid = fields.String(required=True, metadata={"example": "acoustic20_01_psd_DOM_808974724_CH1_1601366233"})
    ktype = fields.String(required=True, metadata={"description": "content type, e.g. acoustics.psd"})
    title = fields.String(required=True)
    description = fields.String()
    creator = fields.String()
    publisher = fields.String()
    created = fields.AwareDateTime()
    modified = fields.AwareDateTime()
    license = fields.String()
    media_type = fields.String(metadata={"description": "format of the data at access_url"})
    access_url = fields.String(metadata={"description": "where the data is served"})
    size_bytes = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    temporal_coverage = fields.Nested(CoverageSchema)
    subject_id = fields.String(allow_none=True, metadata={"description": "what this is a product of: package, table or alert id"})
    info_url = fields.String(allow_none=True, metadata={"description": "instrument and data-taking settings"})
    stream = fields.String(metadata={"description": "kid of the KM3ResourceStream"})
    provenance = fields.List(fields.Nested(ProvenanceStepSchema))
    software_version = fields.String()
    extra = fields.Dict(metadata={"description": "type-specific metadata (e.g. sensor)"})
    url = fields.String(metadata={"description": "this record in the registry API (not in the ODC push body)"})


@cache
def _resource_schema() -> ResourceSchema:
    """The one schema every record is dumped with: making one costs more than dumping a record (marshmallow
    copies its fields), and dumping leaves it unchanged."""
    return ResourceSchema()


def resource_json(resource) -> dict:
    """The JSON form of a :class:`~hydroserve.odc_sync.registry.Resource`."""
    return _resource_schema().dump({
        "kid": resource.kid, "ktype": resource.ktype, "title": resource.title, "description": resource.description,
        "creator": resource.creator, "publisher": resource.publisher, "created": resource.created,
        "modified": resource.modified, "license": resource.license, "media_type": resource.media_type,
        "access_url": resource.access_url, "size_bytes": resource.size_bytes, "sha256": resource.sha256,
        "temporal_coverage": {"start": resource.coverage_start, "end": resource.coverage_end},
        "subject_id": resource.subject_id, "info_url": resource.info_url, "stream": resource.stream_kid,
        "provenance": list(resource.provenance), "software_version": resource.software_version, "extra": resource.extra,
    })
