"""Event tables as HDF5 files (h5py): the events, a human-readable header, machine metadata as attributes.

Layout of a file written by :func:`encode`::

    /                 attributes: format = "km3net-event-table", format_version = 1,
                      table_id, n_rows, metadata (the canonical metadata as JSON text)
    /events           1-d compound dataset, one field per column in metadata order
                      (strings: fixed-length UTF-8; booleans: HDF5 enum as h5py writes them),
                      gzip-compressed; attributes column_names, column_types, column_units,
                      column_ucds, column_identifiers (arrays aligned with the fields)
    /header           1-d compound dataset (section, key, value), all UTF-8 strings: the
                      publication, data-taking, provenance and parameter metadata, one item
                      per row, for people to read (e.g. ``h5dump -d header``)

Files are reproducible: no object timestamps are stored.

:func:`decode` reads the rows of any HDF5 file holding a 1-d compound
dataset (``events`` by default) whose fields are the described columns;
values are converted to the column types only when that is exact.
"""

from __future__ import annotations

import io
import json

import h5py
import numpy as np

from . import xmltext
from .table_metadata import TableMetadata, metadata_to_dict
from .tables import EventTable, ProblemList, TableError, check_column_names

MEDIA_TYPE = "application/x-hdf5"
FORMAT = "km3net-event-table"
FORMAT_VERSION = 1
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_GZIP_LEVEL = 4


def _utf8_array(values: list[str] | np.ndarray) -> np.ndarray:
    """Strings as a fixed-length UTF-8 byte array typed for h5py (at least 1 byte wide)."""
    encoded = np.char.encode(np.asarray(values, dtype=np.str_), "utf-8")
    return encoded.astype(h5py.string_dtype("utf-8", max(1, encoded.dtype.itemsize)))


def _header_rows(document: dict) -> list[tuple[str, str, str]]:
    """The ``/header`` rows (section, key, value) of the canonical metadata ``document``."""
    rows = [("table", "id", document["id"]), ("table", "title", document["title"])]
    for section in ("publication", "data_taking"):
        rows += [(section, key, _text(value)) for key, value in document[section].items() if value is not None]
    for number, step in enumerate(document["provenance"], 1):
        section = f"provenance/{number}"
        rows += [(section, key, _text(value)) for key, value in step.items() if key != "parameters" and value is not None]
        rows += [(section, f"parameters.{key}", _text(value)) for key, value in step["parameters"].items()]
    for column in document["columns"]:
        rows += [(f"column/{column['name']}", key, _text(value)) for key, value in column.items() if key != "name"]
    return rows


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def encode(table: EventTable) -> bytes:
    """The table as HDF5 bytes (layout in the module docstring)."""
    metadata = table.metadata
    fields = []
    for column in metadata.columns:
        values = table.data[column.name]
        fields.append(_utf8_array(values) if column.type == "string" else values)
    events = np.empty(table.n_rows, dtype=[(c.name, f.dtype) for c, f in zip(metadata.columns, fields)])
    for column, values in zip(metadata.columns, fields):
        events[column.name] = values
    document = metadata_to_dict(metadata)
    header_rows = _header_rows(document)
    header_columns = [_utf8_array([row[i] for row in header_rows]) for i in range(3)]
    header = np.empty(len(header_rows), dtype=[(name, c.dtype) for name, c in zip(("section", "key", "value"), header_columns)])
    for name, values in zip(("section", "key", "value"), header_columns):
        header[name] = values
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=("earliest", "v110")) as file:
        file.attrs["format"] = FORMAT
        file.attrs["format_version"] = FORMAT_VERSION
        file.attrs["table_id"] = metadata.id
        file.attrs["n_rows"] = table.n_rows
        file.attrs["metadata"] = json.dumps(document, ensure_ascii=False)
        dataset = file.create_dataset("events", data=events, chunks=(min(table.n_rows, 65536),), compression="gzip",
                                      compression_opts=_GZIP_LEVEL, shuffle=True, track_times=False)
        for key, values in (("column_names", [c.name for c in metadata.columns]),
                            ("column_types", [c.type for c in metadata.columns]),
                            ("column_units", [c.unit for c in metadata.columns]),
                            ("column_ucds", [c.ucd for c in metadata.columns]),
                            ("column_identifiers", [c.identifier for c in metadata.columns])):
            dataset.attrs.create(key, values, dtype=h5py.string_dtype("utf-8"))
        file.create_dataset("header", data=header, track_times=False)
    return buffer.getvalue()


def _checked_texts(texts: list[str], where: str, problems: ProblemList) -> np.ndarray | None:
    """The strings of a field, if none holds a control character but tab (:func:`~hydroserve.codecs.xmltext.check_line`)."""
    valid = True
    for row, text in enumerate(texts, 1):
        try:
            xmltext.check_line(text, f"{where}, row {row}: the text")
        except ValueError as error:
            problems.add(str(error))
            valid = False
    return np.array(texts, dtype=np.str_) if valid else None


def _convert(values: np.ndarray, column, problems: ProblemList) -> np.ndarray | None:
    """``values`` as the column's dtype if that is exact; otherwise a problem and None."""
    where = f"HDF5 field {column.name!r}"
    if column.type == "string":
        if values.dtype.kind == "S" or values.dtype.kind == "O":
            try:
                texts = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values.tolist()]
            except UnicodeDecodeError:
                problems.add(f"{where}: strings are not UTF-8")
                return None
        elif values.dtype.kind == "U":
            texts = values.tolist()
        else:
            problems.add(f"{where}: {values.dtype} values for a string column")
            return None
        return _checked_texts(texts, where, problems)
    if column.type == "bool":
        if values.dtype.kind == "b":
            return values.astype(np.bool_)
        problems.add(f"{where}: {values.dtype} values for a bool column")
        return None
    if values.dtype.kind not in "iuf" or (column.type.startswith("int") and values.dtype.kind == "f"):
        problems.add(f"{where}: {values.dtype} values for a {column.type} column")
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        converted = values.astype(column.dtype)
        exact = np.array_equal(converted.astype(values.dtype), values, equal_nan=values.dtype.kind == "f")
    if not exact:
        problems.add(f"{where}: {values.dtype} values do not all convert exactly to {column.type}; declare the column as {values.dtype}")
        return None
    return converted


def decode(data: bytes, metadata: TableMetadata, *, dataset: str = "events") -> EventTable:
    """Read the rows of ``dataset`` (a 1-d compound dataset) from HDF5 bytes.

    Raises
    ------
    TableError
        Not an HDF5 file, no such compound dataset, fields not matching the
        described columns, values not exactly convertible to their column
        types, and the table invariants of
        :class:`~hydroserve.codecs.tables.EventTable`.
    """
    if not data.startswith(HDF5_SIGNATURE):
        raise TableError(["HDF5: not an HDF5 file (no HDF5 signature at byte 0)"])
    try:
        with h5py.File(io.BytesIO(data), "r") as file:
            node = file.get(dataset)
            if not isinstance(node, h5py.Dataset) or node.dtype.names is None or node.ndim != 1:
                raise TableError([f"HDF5: no 1-d compound dataset {dataset!r} (found: {', '.join(sorted(file)) or 'nothing'})"])
            records = node[()]
    except OSError as error:
        raise TableError([f"HDF5: unreadable file ({error})"]) from None
    check_column_names(list(records.dtype.names), metadata, f"HDF5 dataset {dataset!r}")
    problems = ProblemList()
    arrays = {c.name: _convert(records[c.name], c, problems) for c in metadata.columns}
    problems.raise_if_any()
    if len(records) == 0:
        raise TableError([f"HDF5 dataset {dataset!r}: no rows"])
    return EventTable(metadata, arrays)
