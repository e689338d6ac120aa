"""Particle-event tables in memory: one row per event, one numpy array per column.

An :class:`EventTable` is a :class:`~hydroserve.codecs.table_metadata.TableMetadata`
plus one array per column. Constructing it checks that the arrays fit the
metadata and that the rows are consistent, and raises :class:`TableError`
naming rows and columns, so a table that exists is consistent:

* every described column has one 1-d array of its type, all of the same
  length, and there is at least one row;
* event identifiers are unique and non-empty;
* in a cone-searchable table every row has RA in [0, 360) deg and Dec in
  [-90, 90] deg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .table_metadata import TableMetadata

# the VOTable media types are defined here, not in .votable, so that naming them does not import astropy
VOTABLE_MEDIA_TYPE = "application/x-votable+xml"
"""A whole table as a VOTable document."""
SCS_MEDIA_TYPE = "text/xml;content=x-votable"
"""A Simple Cone Search answer, as the SCS 1.03 standard names it."""
MAX_PROBLEMS = 20


class TableError(ValueError):
    """Rows that do not fit their metadata; ``problems`` lists each as "where: what"."""

    def __init__(self, problems: list[str], *, n_more: int = 0):
        text = "; ".join(problems) + (f"; and {n_more} more problems" if n_more else "")
        super().__init__(text)
        self.problems = list(problems)
        self.n_more = n_more


class ProblemList:
    """Collects problems, keeping the first :data:`MAX_PROBLEMS` and counting the rest."""

    def __init__(self):
        self.kept: list[str] = []
        self.n_more = 0

    def add(self, problem: str) -> None:
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(problem)
        else:
            self.n_more += 1

    def raise_if_any(self) -> None:
        if self.kept:
            raise TableError(self.kept, n_more=self.n_more)


@dataclass(frozen=True, eq=False)
class EventTable:
    """An event table: metadata plus one array per column, in the metadata's column order.

    Parameters
    ----------
    metadata : TableMetadata
    data : mapping of str to numpy.ndarray
        One 1-d array per column, all of the same length (at least one row),
        of the column's dtype (:data:`~hydroserve.codecs.table_metadata.COLUMN_TYPES`).
    """

    metadata: TableMetadata
    data: Mapping[str, np.ndarray]

    def __post_init__(self):
        names = [c.name for c in self.metadata.columns]
        missing = [n for n in names if n not in self.data]
        extra = [n for n in self.data if n not in names]
        if missing or extra:
            raise TableError([f"columns: data for {missing} missing" if missing else f"columns: {extra} not described by the metadata"])
        lengths = {len(self.data[n]) for n in names}
        if len(lengths) != 1:
            raise TableError([f"columns: lengths differ ({sorted(lengths)})"])
        if lengths == {0}:
            raise TableError(["rows: the table has no rows"])
        for column in self.metadata.columns:
            values = self.data[column.name]
            if values.ndim != 1 or values.dtype.kind != column.dtype.kind or (column.type != "string" and values.dtype != column.dtype):
                raise TableError([f"column {column.name!r}: array of {values.dtype} for type {column.type}"])
        object.__setattr__(self, "data", {n: self.data[n] for n in names})
        self._check_rows()

    @property
    def n_rows(self) -> int:
        return len(self.data[self.metadata.columns[0].name])

    def _check_rows(self) -> None:
        problems = ProblemList()
        id_name = self.metadata.id_column
        ids = self.data[id_name]
        for row in np.flatnonzero(np.char.str_len(ids) == 0):
            problems.add(f"row {row + 1}, column {id_name!r}: the event identifier is empty")
        unique, counts = np.unique(ids, return_counts=True)
        for value in unique[counts > 1][:MAX_PROBLEMS]:
            rows = np.flatnonzero(ids == value) + 1
            problems.add(f"rows {', '.join(map(str, rows[:5]))}{' ...' if len(rows) > 5 else ''}, column {id_name!r}: "
                         f"event identifier {str(value)!r} is not unique")
        positions = self.metadata.position_columns
        if positions is not None:
            ra_name, dec_name = positions
            ra, dec = self.data[ra_name], self.data[dec_name]
            with np.errstate(invalid="ignore"):
                for row in np.flatnonzero(~((ra >= 0) & (ra < 360))):
                    problems.add(f"row {row + 1}, column {ra_name!r}: RA {ra[row]} deg must be in [0, 360)")
                for row in np.flatnonzero(~((dec >= -90) & (dec <= 90))):
                    problems.add(f"row {row + 1}, column {dec_name!r}: Dec {dec[row]} deg must be in [-90, 90]")
        problems.raise_if_any()


def check_column_names(found: list[str], metadata: TableMetadata, source: str) -> None:
    """Raise TableError unless ``found`` names each described column exactly once and nothing else.

    ``source`` says where the names come from (e.g. "CSV header").
    """
    problems = ProblemList()
    described = {c.name for c in metadata.columns}
    seen = set()
    for name in found:
        if name in seen:
            problems.add(f"{source}: column {name!r} appears more than once")
        elif name not in described:
            problems.add(f"{source}: column {name!r} is not described by the metadata (every column needs a description)")
        seen.add(name)
    for column in metadata.columns:
        if column.name not in seen:
            problems.add(f"{source}: column {column.name!r} is described by the metadata but missing")
    problems.raise_if_any()
