"""Event tables as IVOA VOTables (astropy): the whole table, cone-search results and errors.

Two profiles share one builder:

* the *table* profile (:func:`encode_table`): VOTable 1.4, every column with
  its UCD1+ and VOUnit, positions referring to an ICRS ``COOSYS``, MJD time
  columns (UCD ``time.epoch``, unit ``d``) to a UTC ``TIMESYS``;
* the *cone-search* profile (:func:`encode_cone_result`) of IVOA Simple Cone
  Search 1.03: VOTable 1.1 (the versions SCS 1.03 allows), one
  ``RESOURCE type="results"`` with one ``TABLE``, and the three fields SCS
  requires marked with the UCDs SCS 1.03 names: ``ID_MAIN`` (the event
  identifier, ``meta.id;meta.main`` in the table profile), ``POS_EQ_RA_MAIN``
  and ``POS_EQ_DEC_MAIN`` (``pos.eq.ra;meta.main`` and
  ``pos.eq.dec;meta.main``). Those are also the UCDs pyvo's
  ``SCSRecord.id`` and ``SCSRecord.pos`` look up. Units are written in the
  CDS syntax VOTable 1.1 uses. An ``INFO name="QUERY_STATUS"`` before the
  table says ``OK`` or ``OVERFLOW`` (more matches than returned).

Errors (:func:`encode_cone_error`) follow SCS 1.03: a VOTable whose only
content is ``<INFO name="Error" value="..."/>`` under the root element.

Strings are ``char`` when every value is ASCII, ``unicodeChar`` otherwise;
data are written as TABLEDATA.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy import units
from astropy.io.votable.tree import CooSys, Field, Info, Resource, TableElement, TimeSys, VOTableFile

from .table_metadata import DEC_UCD, ID_UCD, RA_UCD, Column, iso_utc
from .tables import EventTable

TABLE_VERSION = "1.4"
SCS_VERSION = "1.1"
SCS_UCDS = {ID_UCD: "ID_MAIN", RA_UCD: "POS_EQ_RA_MAIN", DEC_UCD: "POS_EQ_DEC_MAIN"}
# XML IDs start with "_" so that they never clash with column names (which start with a letter).
_COOSYS_ID = "_icrs"
_TIMESYS_ID = "_utc_mjd"
_DATATYPES = {"bool": "boolean", "int32": "int", "int64": "long", "float32": "float", "float64": "double"}


@dataclass(frozen=True, eq=False)
class ComputedColumn:
    """A float64 column computed for one response (e.g. the distance from the cone centre), not part of the table.

    Its name may start with ``_`` (table column names cannot), so it never
    clashes with a table column.
    """

    name: str
    unit: str
    ucd: str
    description: str
    values: np.ndarray
    type: str = "float64"


def _is_mjd(column: Column) -> bool:
    return column.ucd.split(";")[0] == "time.epoch" and column.unit == "d" and column.type in ("float32", "float64")


def _field(votable: VOTableFile, column: Column | ComputedColumn, values: np.ndarray, *, scs: bool) -> Field:
    if column.type == "string":
        ascii_only = all(value.isascii() for value in values.tolist())
        datatype, arraysize = ("char" if ascii_only else "unicodeChar"), "*"
    else:
        datatype, arraysize = _DATATYPES[column.type], None
    unit = column.unit or None
    if scs and unit is not None:
        unit = units.Unit(unit, format="vounit").to_string("cds")
    ref = None
    if column.ucd in (RA_UCD, DEC_UCD):
        ref = _COOSYS_ID
    elif _is_mjd(column) and not scs:
        ref = _TIMESYS_ID
    field = Field(votable, ID=column.name, name=column.name, datatype=datatype, arraysize=arraysize, unit=unit,
                  ucd=SCS_UCDS.get(column.ucd, column.ucd) if scs else column.ucd, ref=ref)
    field.description = column.description
    return field


def _info(name: str, value: str, content: str | None = None) -> Info:
    info = Info(name=name, value=value)
    info.ID = None  # astropy derives an XML ID from the name; repeated names (provenance) would repeat it
    if content:
        info.content = content
    return info


def _metadata_infos(table: EventTable) -> list[Info]:
    """The publication, data-taking and provenance metadata as INFO elements."""
    metadata = table.metadata
    publication, taking = metadata.publication, metadata.data_taking
    infos = [
        _info("table_id", metadata.id),
        _info("publisher", publication.publisher),
        _info("owner", publication.owner),
        _info("creation_date", publication.created.isoformat()),
        _info("version", publication.version),
        _info("license", publication.license),
        _info("detector", taking.detector),
        _info("data_taking_start", iso_utc(taking.start)),
        _info("data_taking_stop", iso_utc(taking.stop)),
        _info("event_selection", taking.event_selection),
    ]
    if publication.contact:
        infos.append(_info("contact", publication.contact))
    infos += [_info("provenance", step.id, step.description) for step in metadata.provenance]
    return infos


def _build(table: EventTable, rows: np.ndarray, columns: Sequence[Column], computed: Sequence[ComputedColumn], *,
           scs: bool, status: str | None) -> bytes:
    metadata = table.metadata
    votable = VOTableFile(version=SCS_VERSION if scs else TABLE_VERSION)
    resource = Resource(type="results")
    votable.resources.append(resource)
    resource.description = metadata.publication.description
    if status is not None:
        resource.infos.append(_info("QUERY_STATUS", status))
    resource.infos.extend(_metadata_infos(table))
    if metadata.position_columns is not None:
        resource.coordinate_systems.append(CooSys(ID=_COOSYS_ID, system="ICRS"))
    if not scs and any(_is_mjd(c) for c in columns):
        resource.time_systems.append(TimeSys(ID=_TIMESYS_ID, timeorigin="MJD-origin", timescale="UTC", refposition="TOPOCENTER",
                                             config={"version": TABLE_VERSION, "version_1_4_or_later": True}))
    element = TableElement(votable, name=metadata.id)
    element.ID = None  # not derived from the table id, which may equal a column name
    element.description = metadata.title
    resource.tables.append(element)
    selected = [(c, table.data[c.name][rows]) for c in columns] + [(c, c.values) for c in computed]
    element.fields.extend(_field(votable, column, values, scs=scs) for column, values in selected)
    element.create_arrays(len(rows))
    for column, values in selected:
        element.array[column.name] = values
    buffer = io.BytesIO()
    votable.to_xml(buffer, tabledata_format="tabledata")
    return buffer.getvalue()


def encode_table(table: EventTable) -> bytes:
    """The whole table as a VOTable 1.4 document (table profile)."""
    return _build(table, np.arange(table.n_rows), table.metadata.columns, (), scs=False, status=None)


def encode_cone_result(table: EventTable, rows: np.ndarray, columns: Sequence[Column],
                       computed: Sequence[ComputedColumn] = (), *, overflow: bool = False) -> bytes:
    """A Simple Cone Search 1.03 response.

    Parameters
    ----------
    table : EventTable
        A cone-searchable table (with position columns).
    rows : numpy.ndarray
        Indices of the rows to return, in response order (may be empty: a
        metadata-only response).
    columns : sequence of Column
        The table columns to return, in order; must include the identifier
        and the position columns.
    computed : sequence of ComputedColumn
        Extra per-response columns, aligned with ``rows``, appended last.
    overflow : bool
        More rows matched than are returned (``QUERY_STATUS`` ``OVERFLOW``).
    """
    positions = table.metadata.position_columns
    if positions is None:
        raise ValueError(f"table {table.metadata.id!r} has no position columns; it cannot answer a cone search")
    required = {table.metadata.id_column, *positions}
    missing = required - {c.name for c in columns}
    if missing:
        raise ValueError(f"columns must include {sorted(missing)}: SCS requires the identifier and both positions")
    for item in computed:
        if len(item.values) != len(rows):
            raise ValueError(f"computed column {item.name!r} has {len(item.values)} values for {len(rows)} rows")
    return _build(table, np.asarray(rows, dtype=np.intp), columns, computed, scs=True,
                  status="OVERFLOW" if overflow else "OK")


def encode_cone_error(message: str, *, description: str) -> bytes:
    """An SCS 1.03 error document: ``<INFO name="Error" value=message/>`` under the root."""
    votable = VOTableFile(version=SCS_VERSION)
    votable.description = description
    votable.infos.append(Info(ID="Error", name="Error", value=message))
    buffer = io.BytesIO()
    votable.to_xml(buffer)
    return buffer.getvalue()
