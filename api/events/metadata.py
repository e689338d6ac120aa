"""Marshmallow schemas of the event-table endpoints: the metadata document (validated on publish), queries, responses.

The metadata schema loads a metadata document (JSON or TOML, see
:func:`hydroserve.codecs.table_metadata.read_metadata_document`) into
:class:`~hydroserve.codecs.table_metadata.TableMetadata` and dumps the canonical
form (:func:`~hydroserve.codecs.table_metadata.metadata_to_dict`) unchanged, so one
schema documents and checks both directions. Errors about a column are
reported under the column's name, e.g.
``{"columns": {"energy_gev": {"unit": ["'GeVV' is not a VOUnit string ..."]}}}``.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, fields, post_load, validate

from hydroserve.api.validation import described, matching
from hydroserve.codecs import table_metadata, xmltext
from hydroserve.codecs.times import in_utc


def _build(cls, data: dict):
    """``cls(**data)``, with the model's own consistency errors as marshmallow field errors."""
    try:
        return cls(**data)
    except table_metadata.MetadataError as error:
        raise ValidationError(error.message, error.field.rsplit(".", 1)[-1]) from None


class _UtcDateTime(fields.AwareDateTime):
    """An RFC 3339 date-time with a time zone, loaded as UTC; dumped from a datetime or the canonical string."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return in_utc(super()._deserialize(value, attr, data, **kwargs))
        except ValueError as error:
            raise ValidationError(str(error)) from None

    def _serialize(self, value, attr, obj, **kwargs):
        return value if value is None or isinstance(value, str) else table_metadata.iso_utc(value)


class _IsoDate(fields.Date):
    """A calendar date ``YYYY-MM-DD``; dumped from a date or the canonical string."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value if value is None or isinstance(value, str) else value.isoformat()


class _Line(fields.String):
    """One line of text: no control character but tab (:func:`~hydroserve.codecs.xmltext.check_line`), so the
    VOTable, HDF5, CSV and metadata files all carry it unchanged."""

    check = staticmethod(xmltext.check_line)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            self.check(text, "The text")
        except ValueError as error:
            raise ValidationError(f"{error}.") from None
        return text


class _Paragraphs(_Line):
    """Longer text: line breaks allowed, nothing XML cannot carry (:func:`~hydroserve.codecs.xmltext.check_text`)."""

    check = staticmethod(xmltext.check_text)


_TEXT = validate.Length(min=1, max=10_000)
_NAME = validate.Length(min=1, max=200)


class ColumnSchema(ma.Schema):
    """One parameter (column) of the table."""

    name = _Line(required=True, validate=matching(f"^{table_metadata.COLUMN_NAME.pattern}$"),
                         **described("column name", example="energy_gev"))
    type = _Line(required=True, validate=validate.OneOf(list(table_metadata.COLUMN_TYPES)), **described("value type"))
    unit = _Line(required=True, validate=validate.Length(max=64),
                         **described("VOUnit string (SI units and prefixes, deg, d, eV ...); empty for dimensionless", example="GeV"))
    description = _Paragraphs(required=True, validate=_TEXT, **described("what the values are"))
    identifier = _Line(required=True, validate=_NAME, **described("identifier of the parameter's definition",
                                                                             example="km3net:events:energy"))
    ucd = _Line(required=True, validate=validate.Length(min=1, max=200),
                        **described("IVOA UCD1+; one column must be meta.id;meta.main (the event identifier)", example="phys.energy"))
    verbosity = fields.Integer(load_default=2, validate=validate.OneOf(table_metadata.VERBOSITY_LEVELS),
                               **described("cone-search VERB level from which the column is returned (1, 2, 3)"))

    @post_load
    def _make(self, data, **kwargs):
        return _build(table_metadata.Column, data)


def _scalar(value) -> None:
    if not isinstance(value, str | int | float | bool):
        raise ValidationError("Parameter values must be strings, numbers or booleans.")
    if isinstance(value, str):
        try:
            xmltext.check_line(value, "The text")
        except ValueError as error:
            raise ValidationError(f"{error}.") from None


class TableProvenanceStepSchema(ma.Schema):
    """One processing step, referenced by its identifier."""

    id = _Line(required=True, validate=_NAME, **described("identifier of the step", example="km3pipe:reco:jmuon"))
    description = _Paragraphs(required=True, validate=_TEXT, metadata={"description": "what the step did"})
    software = _Line(load_default=None, allow_none=True, validate=_NAME, metadata={"description": "software of the step; null if not given"})
    version = _Line(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64), metadata={"description": "version of that software; null if not given"})
    parameters = fields.Dict(keys=_Line(validate=_NAME), values=fields.Raw(validate=_scalar), load_default=dict, metadata={"description": "the step's parameters (name: number, string or boolean)"})

    @post_load
    def _make(self, data, **kwargs):
        return _build(table_metadata.ProvenanceStep, data)


class DataTakingSchema(ma.Schema):
    """Data-taking metadata."""

    start = _UtcDateTime(required=True, **described("start of data taking, RFC 3339", example="2023-01-01T00:00:00Z"))
    stop = _UtcDateTime(required=True, **described("end of data taking, RFC 3339", example="2023-03-01T00:00:00Z"))
    detector = _Line(required=True, validate=_NAME, **described("detector (configuration)", example="ARCA21"))
    event_selection = _Paragraphs(required=True, validate=_TEXT, **described("how the events were selected"))
    livetime_s = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0), **described("live time in seconds"))

    @post_load
    def _make(self, data, **kwargs):
        return _build(table_metadata.DataTaking, data)


class PublicationSchema(ma.Schema):
    """Publication metadata."""

    publisher = _Line(required=True, validate=_NAME, metadata={"description": "who publishes the table"})
    owner = _Line(required=True, validate=_NAME, metadata={"description": "who owns the data"})
    created = _IsoDate(required=True, **described("creation date", example="2024-01-15"))
    version = _Line(required=True, validate=validate.Length(min=1, max=64), metadata={"description": "version of the table"})
    description = _Paragraphs(required=True, validate=_TEXT, metadata={"description": "what the table holds"})
    license = _Line(load_default="CC-BY-4.0", validate=validate.Length(min=1, max=100), metadata={"description": "licence (SPDX id)"})
    contact = _Line(load_default=None, allow_none=True, validate=_NAME, metadata={"description": "who to ask (e-mail or URL); null if none"})

    @post_load
    def _make(self, data, **kwargs):
        return _build(table_metadata.Publication, data)


class MetadataSchema(ma.Schema):
    """The metadata document of an event table (the ``.meta.json`` file; also accepted as TOML)."""

    id = _Line(required=True, validate=matching(f"^{table_metadata.TABLE_ID.pattern}$"),
                       **described("table identifier, used in URLs", example="synthetic_arca_2023"))
    title = _Line(required=True, validate=validate.Length(min=1, max=200), metadata={"description": "the table's title"})
    publication = fields.Nested(PublicationSchema, required=True, metadata={"description": "who publishes it, when, under which licence"})
    data_taking = fields.Nested(DataTakingSchema, required=True, metadata={"description": "when and how the data was taken"})
    provenance = fields.List(fields.Nested(TableProvenanceStepSchema), required=True, validate=validate.Length(min=1), metadata={"description": "processing steps that made the table, in order"})
    columns = fields.List(fields.Nested(ColumnSchema), required=True, validate=validate.Length(min=1, max=1000), metadata={"description": "every column of the table, described"})

    @post_load
    def _make(self, data, **kwargs):
        data["provenance"] = tuple(data["provenance"])
        data["columns"] = tuple(data["columns"])
        return _build(table_metadata.TableMetadata, data)


class InvalidMetadata(ValueError):
    """The metadata document does not validate; ``messages`` are marshmallow's, columns keyed by name."""

    def __init__(self, messages: dict):
        self.messages = messages
        super().__init__("; ".join(flatten(messages)))


def flatten(messages, prefix: str = "") -> list[str]:
    """Nested marshmallow messages as ``"columns.energy_gev.unit: message"`` lines."""
    if isinstance(messages, dict):
        return [line for key, value in messages.items() for line in flatten(value, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix}: {message}" if prefix else message for message in messages]
    return [f"{prefix}: {messages}"]


def _columns_by_name(messages: dict, document: dict) -> dict:
    """Replace list indices under ``columns`` by the column names given in the document."""
    column_messages = messages.get("columns")
    given = document.get("columns")
    if not isinstance(column_messages, dict) or not isinstance(given, list):
        return messages
    renamed = {}
    for index, value in column_messages.items():
        item = given[index] if isinstance(index, int) and index < len(given) else None
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or name in renamed:
            name = f"#{index + 1}"  # unnamed (or twice named) columns by their position, counted from 1
        renamed[name] = value
    return {**messages, "columns": renamed}


def load_metadata(document: dict) -> table_metadata.TableMetadata:
    """Validate a metadata document and build the metadata.

    Raises
    ------
    InvalidMetadata
        With every field error; errors about a column are keyed by its name.
    """
    try:
        return MetadataSchema().load(document)
    except ValidationError as error:
        raise InvalidMetadata(_columns_by_name(error.messages, document)) from None
