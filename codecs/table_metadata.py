"""The metadata of a particle-event table: what every column means, where the events come from, who publishes them.

A :class:`TableMetadata` describes an event table except its rows.
Constructing it (or any of its parts) checks the invariants and raises
:class:`MetadataError` naming the metadata field, so metadata that exists
is consistent:

* column names are unique identifiers ``[A-Za-z][A-Za-z0-9_]*``;
* exactly one column is the event identifier: UCD ``meta.id;meta.main``,
  type ``string``;
* a table is *cone-searchable* when it has one column with UCD
  ``pos.eq.ra;meta.main`` and one with ``pos.eq.dec;meta.main`` (ICRS, unit
  ``deg``, float). A table has both position columns or neither.

The canonical JSON form of the metadata (:func:`metadata_to_dict`) is what
the ``.meta.json`` file holds (:func:`encode_metadata`), what the HDF5 file
stores as its machine-oriented attribute, and what publishing accepts back
(:func:`read_metadata_document` reads JSON or TOML into plain data).
"""

from __future__ import annotations

import json
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from .times import as_utc, rfc3339

ID_UCD = "meta.id;meta.main"
RA_UCD = "pos.eq.ra;meta.main"
DEC_UCD = "pos.eq.dec;meta.main"

#: Column types and the numpy dtype holding their values (strings as numpy unicode).
COLUMN_TYPES: dict[str, np.dtype] = {
    "bool": np.dtype(np.bool_),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "string": np.dtype(np.str_),
}
FLOAT_TYPES = ("float32", "float64")
COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
TABLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
VERBOSITY_LEVELS = (1, 2, 3)
METADATA_MEDIA_TYPE = "application/json"


class MetadataError(ValueError):
    """Inconsistent metadata; ``field`` is the dotted metadata field it concerns."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Column:
    """Description of one parameter (column) of an event table.

    Attributes
    ----------
    name : str
        Column name, ``[A-Za-z][A-Za-z0-9_]*`` (at most 64 characters).
    type : str
        One of :data:`COLUMN_TYPES`.
    unit : str
        VOUnit string (SI units, SI prefixes and the units accepted with SI
        such as ``deg``, ``d``, ``eV``); ``""`` for dimensionless values.
    description : str
        What the values are, in words.
    identifier : str
        Stable identifier of the parameter's definition (e.g. a km3pipe
        parameter name or a URI).
    ucd : str
        IVOA Unified Content Descriptor (UCD1+), e.g. ``phys.energy``.
    verbosity : int
        Cone-search verbosity level (VERB) from which the column is returned:
        1 (always), 2 (default) or 3 (only with VERB=3). The identifier and
        position columns are always returned.
    """

    name: str
    type: str
    unit: str
    description: str
    identifier: str
    ucd: str
    verbosity: int = 2

    def __post_init__(self):
        if not COLUMN_NAME.fullmatch(self.name):
            raise MetadataError("name", f"{self.name!r} must match {COLUMN_NAME.pattern}")
        if self.type not in COLUMN_TYPES:
            raise MetadataError("type", f"{self.type!r} must be one of {', '.join(COLUMN_TYPES)}")
        if self.verbosity not in VERBOSITY_LEVELS:
            raise MetadataError("verbosity", f"{self.verbosity!r} must be 1, 2 or 3")
        check_unit(self.unit)
        try:
            from astropy.io.votable.ucd import parse_ucd  # astropy takes most of a second to import: only when validating

            parse_ucd(self.ucd, check_controlled_vocabulary=True)
        except ValueError as error:
            raise MetadataError("ucd", f"{self.ucd!r} is not a UCD1+ of the IVOA vocabulary: {error}") from None

    @property
    def dtype(self) -> np.dtype:
        return COLUMN_TYPES[self.type]


@dataclass(frozen=True)
class ProvenanceStep:
    """One processing step that made the table, referenced by its identifier."""

    id: str
    description: str
    software: str | None = None
    version: str | None = None
    parameters: Mapping[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class DataTaking:
    """When and with what the events were recorded, and how they were selected.

    ``start``/``stop`` are timezone-aware (UTC); ``livetime_s`` is the
    detector live time in seconds, if known.
    """

    start: datetime
    stop: datetime
    detector: str
    event_selection: str
    livetime_s: float | None = None

    def __post_init__(self):
        if self.start.tzinfo is None or self.stop.tzinfo is None:
            raise MetadataError("data_taking.start", "start and stop must carry a time zone (UTC)")
        if self.stop <= self.start:
            raise MetadataError("data_taking.stop", f"stop {iso_utc(self.stop)} must be after start {iso_utc(self.start)}")
        if self.livetime_s is not None and not (0 <= self.livetime_s <= (self.stop - self.start).total_seconds()):
            raise MetadataError("data_taking.livetime_s", f"{self.livetime_s} s must be between 0 and stop - start")


@dataclass(frozen=True)
class Publication:
    """Who publishes the table, who owns it, when it was made, which version it is."""

    publisher: str
    owner: str
    created: date
    version: str
    description: str
    license: str = "CC-BY-4.0"
    contact: str | None = None


@dataclass(frozen=True)
class TableMetadata:
    """Everything known about an event table except its rows."""

    id: str
    title: str
    columns: tuple[Column, ...]
    provenance: tuple[ProvenanceStep, ...]
    data_taking: DataTaking
    publication: Publication

    def __post_init__(self):
        if not TABLE_ID.fullmatch(self.id):
            raise MetadataError("id", f"{self.id!r} must match {TABLE_ID.pattern}")
        if not self.columns:
            raise MetadataError("columns", "a table needs at least one column")
        _unique("columns", "name", [c.name for c in self.columns])
        _unique("columns", "identifier", [c.identifier for c in self.columns])
        if not self.provenance:
            raise MetadataError("provenance", "list at least one processing step")
        _unique("provenance", "id", [s.id for s in self.provenance])
        ids = self._by_ucd(ID_UCD)
        if len(ids) != 1:
            raise MetadataError("columns", f"exactly one column must be the event identifier (ucd {ID_UCD!r}); found {len(ids)}")
        if ids[0].type != "string":
            raise MetadataError("columns", f"the event identifier column {ids[0].name!r} must have type 'string'")
        ras, decs = self._by_ucd(RA_UCD), self._by_ucd(DEC_UCD)
        if len(ras) > 1 or len(decs) > 1 or len(ras) != len(decs):
            raise MetadataError("columns", f"give one column with ucd {RA_UCD!r} and one with {DEC_UCD!r}, or neither")
        for column in ras + decs:
            if column.type not in FLOAT_TYPES or column.unit != "deg":
                raise MetadataError("columns", f"position column {column.name!r} must be float32/float64 with unit 'deg'")

    def _by_ucd(self, ucd: str) -> list[Column]:
        return [c for c in self.columns if c.ucd == ucd]

    @property
    def id_column(self) -> str:
        return self._by_ucd(ID_UCD)[0].name

    @property
    def position_columns(self) -> tuple[str, str] | None:
        """(RA column, Dec column) names, or None if the table has no sky positions."""
        ras = self._by_ucd(RA_UCD)
        return (ras[0].name, self._by_ucd(DEC_UCD)[0].name) if ras else None


def check_unit(unit: str) -> None:
    """Raise MetadataError unless ``unit`` is a current VOUnit string (deprecated units such as erg refused)."""
    from astropy import units  # imported here, like parse_ucd: only publishing needs it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", units.UnitsWarning)
            units.Unit(unit, format="vounit", parse_strict="raise")
    except (ValueError, units.UnitsWarning) as error:
        raise MetadataError("unit", f"{unit!r} is not a VOUnit string: {error}") from None


def _unique(list_name: str, key: str, values: list[str]) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise MetadataError(list_name, f"{key} {value!r} appears more than once")
        seen.add(value)


def iso_utc(value: datetime) -> str:
    """RFC 3339 UTC with a ``Z``: seconds, or microseconds when there are any."""
    return rfc3339(value, "microseconds" if as_utc(value).microsecond else "seconds")


def metadata_to_dict(metadata: TableMetadata) -> dict:
    """The canonical JSON-ready form of the metadata (the ``.meta.json`` document)."""
    taking, publication = metadata.data_taking, metadata.publication
    return {
        "id": metadata.id,
        "title": metadata.title,
        "publication": {
            "publisher": publication.publisher,
            "owner": publication.owner,
            "created": publication.created.isoformat(),
            "version": publication.version,
            "description": publication.description,
            "license": publication.license,
            "contact": publication.contact,
        },
        "data_taking": {
            "start": iso_utc(taking.start),
            "stop": iso_utc(taking.stop),
            "detector": taking.detector,
            "event_selection": taking.event_selection,
            "livetime_s": None if taking.livetime_s is None else float(taking.livetime_s),
        },
        "provenance": [
            {"id": s.id, "description": s.description, "software": s.software, "version": s.version, "parameters": dict(s.parameters)}
            for s in metadata.provenance
        ],
        "columns": [
            {"name": c.name, "type": c.type, "unit": c.unit, "description": c.description, "identifier": c.identifier,
             "ucd": c.ucd, "verbosity": c.verbosity}
            for c in metadata.columns
        ],
    }


def encode_metadata(metadata: TableMetadata) -> bytes:
    """The ``.meta.json`` file: the canonical metadata as indented UTF-8 JSON."""
    return (json.dumps(metadata_to_dict(metadata), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def read_metadata_document(data: bytes) -> dict:
    """Parse a metadata file, JSON (first non-blank character ``{``) or TOML, into plain data.

    TOML dates and date-times become ISO 8601 strings, as they are in JSON,
    so both read the same. Validation is the caller's (the metadata schema).

    Raises
    ------
    MetadataError
        Not UTF-8, or not valid JSON/TOML, naming the line.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MetadataError("metadata", f"not UTF-8 text (byte {error.start})") from None
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise MetadataError("metadata", f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    else:
        try:
            document = _iso_dates(tomllib.loads(text))
        except tomllib.TOMLDecodeError as error:
            raise MetadataError("metadata", f"neither JSON nor valid TOML: {error}") from None
    if not isinstance(document, dict):
        raise MetadataError("metadata", "the document must be a JSON object or a TOML table")
    return document


def _iso_dates(value):
    if isinstance(value, dict):
        return {key: _iso_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_iso_dates(item) for item in value]
    if isinstance(value, datetime):
        return iso_utc(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
