"""JSON of the open-data records (marshmallow): what the ODC receives and the feeds return."""

from __future__ import annotations

from functools import cache

import marshmallow as ma
from marshmallow import fields


class CoverageSchema(ma.Schema):
    start = fields.AwareDateTime(allow_none=True, metadata={"description": "first instant covered, RFC 3339 UTC"})
    end = fields.AwareDateTime(allow_none=True, metadata={"description": "end of the covered time, RFC 3339 UTC"})


class ProvenanceStepSchema(ma.Schema):
    id = fields.String(required=True, metadata={"description": "identifier of the processing step"})
    description = fields.String(metadata={"description": "what the step did"})
    parameters = fields.Dict(metadata={"description": "the step's parameters by name"})
    sources = fields.List(fields.String(), metadata={"description": "inputs of the step (file names or ids)"})


class ResourceSchema(ma.Schema):
    """A KM3OpenResource (Dublin-Core based)."""

    kid = fields.String(required=True, metadata={"description": "the resource's identifier <stream kid>_<subject id>", "example": "acoustic20_01_psd_DOM_808974724_CH1_1601366233"})
    ktype = fields.String(required=True, metadata={"description": "content type, e.g. acoustics.psd"})
    title = fields.String(required=True, metadata={"description": "human-readable title"})
    description = fields.String(metadata={"description": "what the data is"})
    creator = fields.String(metadata={"description": "who made the data"})
    publisher = fields.String(metadata={"description": "who publishes it"})
    created = fields.AwareDateTime(metadata={"description": "when the resource was registered, RFC 3339 UTC"})
    modified = fields.AwareDateTime(metadata={"description": "when the record last changed (a new version, a deletion), RFC 3339 UTC"})
    license = fields.String(metadata={"description": "licence of the data (SPDX id)"})
    media_type = fields.String(metadata={"description": "format of the data at access_url"})
    access_url = fields.String(metadata={"description": "where the data is served"})
    size_bytes = fields.Integer(allow_none=True, metadata={"description": "size of the data at access_url"})
    sha256 = fields.String(allow_none=True, metadata={"description": "SHA-256 (hex) of the data at access_url"})
    temporal_coverage = fields.Nested(CoverageSchema, metadata={"description": "the time the data covers"})
    subject_id = fields.String(allow_none=True, metadata={"description": "what this is a product of: package, table or alert id"})
    info_url = fields.String(allow_none=True, metadata={"description": "instrument and data-taking settings"})
    stream = fields.String(metadata={"description": "kid of the KM3ResourceStream"})
    provenance = fields.List(fields.Nested(ProvenanceStepSchema), metadata={"description": "processing steps that made the data"})
    software_version = fields.String(metadata={"description": "version of the software that made it"})
    extra = fields.Dict(metadata={"description": "type-specific metadata (e.g. sensor)"})
    url = fields.String(metadata={"description": "this record in the registry API (not in the ODC push body)"})
    deleted = fields.Boolean(metadata={"description": "only in tombstones (always true there): the resource's bytes were "
                                                      "deleted; the record keeps kid, stream, ktype, subject_id, created"})
    deleted_at = fields.AwareDateTime(metadata={"description": "tombstones: when the bytes were deleted"})
    deletion_reason = fields.String(metadata={"description": "tombstones: why (e.g. the retention rule)"})


class TombstoneSchema(ma.Schema):
    """What is left of a deleted KM3OpenResource: which record it was, and when and why it was deleted."""

    kid = fields.String(required=True)
    ktype = fields.String(required=True)
    title = fields.String()
    stream = fields.String()
    subject_id = fields.String(allow_none=True)
    created = fields.AwareDateTime()
    modified = fields.AwareDateTime()
    deleted = fields.Boolean()
    deleted_at = fields.AwareDateTime()
    deletion_reason = fields.String()


def record_json(resource) -> dict:
    """What harvesters and the ODC receive for a resource: :func:`resource_json`, or :func:`tombstone_json` once its
    bytes were deleted."""
    return tombstone_json(resource) if resource.deleted else resource_json(resource)


def tombstone_json(resource) -> dict:
    """The tombstone of a deleted :class:`~hydroserve.odc_sync.registry.Resource` (see :class:`TombstoneSchema`)."""
    return TombstoneSchema().dump({
        "kid": resource.kid, "ktype": resource.ktype, "title": resource.title, "stream": resource.stream_kid,
        "subject_id": resource.subject_id, "created": resource.created, "modified": resource.modified, "deleted": True,
        "deleted_at": resource.deleted_at, "deletion_reason": resource.deletion_reason,
    })


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
