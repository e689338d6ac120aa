"""Event tables as CSV text (RFC 4180) with a separate metadata file.

Encoding: UTF-8, a header line of the column names in metadata order, CRLF
line ends, fields quoted only when needed. Numbers are written so that they
read back bit for bit: integers in decimal, float64 as the shortest string
that round-trips (``repr``), float32 as numpy's shortest float32 string,
``nan``/``inf``/``-inf`` for non-finite values; booleans as ``true`` /
``false``; strings as they are.

Decoding accepts exactly that, plus an optional UTF-8 byte-order mark, LF
line ends, blank lines (skipped), any column order and booleans written as
``1``/``0`` or in any letter case. Every cell is checked against its
column's type (text cells may hold no control character but tab, see
:func:`hydroserve.codecs.xmltext.check_line`: nothing is dropped or changed,
e.g. a trailing NUL is refused, not stripped; numbers must fit the column
exactly, never becoming infinite); problems name the line (1 = header) and the column. The
table-wide checks that follow (unique event identifiers, positions in
range) name the event *row*, counted from 1 (line = row + 1 when the file
has no blank lines).
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from . import xmltext
from .table_metadata import TableMetadata
from .tables import EventTable, ProblemList, TableError, check_column_names

MEDIA_TYPE = "text/csv"

_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE)
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_MAX_INTEGER_DIGITS = 20


def _format(values: np.ndarray, column_type: str) -> list[str]:
    if column_type == "bool":
        return ["true" if v else "false" for v in values.tolist()]
    if column_type == "float64":
        return [repr(v) for v in values.tolist()]
    if column_type == "float32":
        return [str(v) for v in values]
    return [str(v) for v in values.tolist()]


def encode(table: EventTable) -> bytes:
    """The table as CSV bytes (header line, then one line per event)."""
    columns = table.metadata.columns
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([c.name for c in columns])
    writer.writerows(zip(*(_format(table.data[c.name], c.type) for c in columns)))
    return text.getvalue().encode("utf-8")


def _parse(cells: list[str], lines: list[int], column, problems: ProblemList) -> np.ndarray:
    """The cells of one column as an array of its dtype; bad cells are added to ``problems``."""
    kind = column.type

    def bad(i: int, what: str) -> None:
        problems.add(f"line {lines[i]}, column {column.name!r}: {cells[i][:40]!r} is not {what}")

    if kind == "string":
        for i, cell in enumerate(cells):
            try:
                xmltext.check_line(cell, f"line {lines[i]} (row {i + 1}), column {column.name!r}: the text")
            except ValueError as error:
                problems.add(str(error))
        return np.array(cells, dtype=np.str_)
    if kind == "bool":
        values = [_BOOLEANS.get(cell.lower()) for cell in cells]
        for i in (i for i, v in enumerate(values) if v is None):
            bad(i, "a boolean (true/false/1/0)")
        return np.array([bool(v) for v in values], dtype=np.bool_)
    pattern, what = (_INTEGER, f"an integer ({kind})") if kind.startswith("int") else (_FLOAT, f"a number ({kind})")
    wrong = {i for i, cell in enumerate(cells) if not pattern.fullmatch(cell)}
    for i in sorted(wrong):
        bad(i, what)
    cleaned = ["0" if i in wrong else cell for i, cell in enumerate(cells)]
    if kind.startswith("int"):
        return _integers(cleaned, column, bad)
    return _floats(cleaned, column, bad)


def _integers(cells: list[str], column, bad) -> np.ndarray:
    """Integer cells (already matching the pattern) as the column's dtype; out-of-range cells are ``bad``."""
    limits = np.iinfo(column.dtype)
    in_range = f"within the {column.type} range [{limits.min}, {limits.max}]"
    numbers = []
    for i, cell in enumerate(cells):
        # no int64 has more than 19 digits: longer cells are out of range without converting them
        # (Python refuses to convert more than 4300 digits)
        number = int(cell) if len(cell.lstrip("+-").lstrip("0")) <= _MAX_INTEGER_DIGITS else None
        if number is None or not limits.min <= number <= limits.max:
            bad(i, in_range)
            number = 0
        numbers.append(number)
    return np.array(numbers, dtype=column.dtype)


def _floats(cells: list[str], column, bad) -> np.ndarray:
    """Number cells (already matching the pattern) as the column's dtype; finite numbers beyond its range are ``bad``
    (never silently infinite)."""
    with np.errstate(over="ignore"):
        values = np.array(cells, dtype=np.str_).astype(column.dtype)
    for i in np.flatnonzero(np.isinf(values)):
        if "inf" not in cells[i].lower():
            bad(i, f"within the {column.type} range (it would be infinite)")
    return values


def decode(data: bytes, metadata: TableMetadata) -> EventTable:
    """Read CSV bytes whose columns are described by ``metadata``.

    Raises
    ------
    TableError
        Naming the line and column of every problem (up to 20, then a count):
        not UTF-8, unknown or missing columns, a wrong number of fields, a
        cell that is not of its column's type, and the table invariants of
        :class:`~hydroserve.codecs.tables.EventTable` (unique identifiers,
        positions in range).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TableError([f"CSV: not UTF-8 text (byte {error.start})"]) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise TableError(["CSV: the file is empty; the first line must name the columns"])
        check_column_names(header, metadata, "CSV header (line 1)")
        problems = ProblemList()
        rows, lines = [], []
        for row in reader:
            if not row or row == [""]:
                continue
            if len(row) != len(header):
                problems.add(f"line {reader.line_num}: {len(row)} fields, the header has {len(header)}")
                continue
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as error:
        raise TableError([f"line {reader.line_num}: malformed CSV ({error})"]) from None
    problems.raise_if_any()
    if not rows:
        raise TableError(["CSV: no rows after the header"])
    cells_by_name = dict(zip(header, zip(*rows)))
    arrays = {c.name: _parse(list(cells_by_name[c.name]), lines, c, problems) for c in metadata.columns}
    problems.raise_if_any()
    return EventTable(metadata, arrays)
