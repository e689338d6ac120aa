"""IVOA Simple Cone Search 1.03 over an event table: query parameters, selection, verbosity.

Parameters (names case-insensitive, as DALI has them; others are ignored, as SCS requires):

``RA``, ``DEC``  cone centre, ICRS, decimal degrees: RA in [0, 360], DEC in [-90, 90] (required)
``SR``           cone radius in decimal degrees, 0 <= SR <= ``events_scs_max_sr_deg`` (required);
                 ``SR=0`` asks for the metadata only (no rows)
``VERB``         1: identifier, position and the columns of verbosity 1; 2 (default): also
                 verbosity 2; 3: every column. Values below 1 count as 1, above 3 as 3.
``MAXREC``       at most this many rows (capped at ``events_scs_max_records``); 0 asks for
                 the metadata only. When more events match than are returned the response
                 says ``QUERY_STATUS`` ``OVERFLOW``.

Selection is by true angular distance on the sphere, so cones around the
poles and across RA = 0/360 are exact: an event is returned when its
great-circle distance from the centre is at most SR. The distance is
computed with the Vincenty form of the spherical law (accurate at all
separations, from 0 to 180 deg)::

    d = atan2( sqrt((cos d2 sin da)^2 + (cos d1 sin d2 - sin d1 cos d2 cos da)^2),
               sin d1 sin d2 + cos d1 cos d2 cos da )

over the events in the declination band |dec - DEC| <= SR only (a
necessary condition, since d >= |dec - DEC|). Rows come nearest first, with
their distance in the extra column ``_r`` (deg), so a MAXREC-truncated
answer holds the nearest events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hydroserve.codecs import sky, votable
from hydroserve.codecs.table_metadata import Column
from hydroserve.codecs.tables import EventTable

DEFAULT_VERBOSITY = 2
DISTANCE_COLUMN = "_r"


class ConeSearchError(ValueError):
    """An invalid cone-search request; the message names the parameter."""


@dataclass(frozen=True)
class ConeQuery:
    ra_deg: float
    dec_deg: float
    radius_deg: float
    verbosity: int
    max_records: int  # already capped at the service limit


@dataclass(frozen=True)
class ConeResult:
    rows: np.ndarray         # row indices, nearest first
    distance_deg: np.ndarray  # aligned with rows
    overflow: bool           # more events matched than rows holds


def _single(args: Mapping[str, list[str]], name: str) -> str | None:
    values = args.get(name, [])
    if len(values) > 1:
        raise ConeSearchError(f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def _integer(args, name: str) -> int | None:
    text = _single(args, name)
    if text is None or text.strip() == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ConeSearchError(f"{name}={text[:40]!r} is not an integer") from None


def parse_query(args: Mapping[str, list[str]], *, max_sr_deg: float, max_records: int) -> ConeQuery:
    """Read a cone-search request.

    Parameters
    ----------
    args : mapping of str to list of str
        The query string, every name to all its values (e.g. ``request.args.to_dict(flat=False)``).
    max_sr_deg : float
        Largest radius accepted, degrees.
    max_records : int
        Most rows a response holds.

    Raises
    ------
    ConeSearchError
        Naming the missing, repeated, unparsable or out-of-range parameter.
    """
    upper: dict[str, list[str]] = {}
    for name, values in args.items():
        upper.setdefault(name.upper(), []).extend(values)
    try:
        cone = sky.parse_cone(_single(upper, "RA"), _single(upper, "DEC"), _single(upper, "SR"), names=("RA", "DEC", "SR"),
                              max_radius_deg=max_sr_deg, zero_radius=True)
    except ValueError as error:
        raise ConeSearchError(str(error)) from None
    verbosity = _integer(upper, "VERB")
    maxrec = _integer(upper, "MAXREC")
    if maxrec is not None and maxrec < 0:
        raise ConeSearchError(f"MAXREC={maxrec} must not be negative")
    return ConeQuery(
        ra_deg=cone.ra_deg,
        dec_deg=cone.dec_deg,
        radius_deg=cone.radius_deg,
        verbosity=DEFAULT_VERBOSITY if verbosity is None else min(max(verbosity, 1), 3),
        max_records=max_records if maxrec is None else min(maxrec, max_records),
    )


class ConeIndex:
    """An event table prepared for cone searches: its positions as float64 arrays, scanned vectorised."""

    def __init__(self, table: EventTable):
        positions = table.metadata.position_columns
        if positions is None:
            raise ValueError(f"table {table.metadata.id!r} has no sky positions (no RA/Dec columns)")
        self.table = table
        self.ra_deg = table.data[positions[0]].astype(np.float64)
        self.dec_deg = table.data[positions[1]].astype(np.float64)

    def search(self, query: ConeQuery) -> ConeResult:
        """The events within ``query.radius_deg`` of the centre, nearest first, at most ``query.max_records``."""
        empty = ConeResult(np.empty(0, dtype=np.intp), np.empty(0), overflow=False)
        if query.radius_deg == 0:
            return empty
        band = np.flatnonzero(np.abs(self.dec_deg - query.dec_deg) <= query.radius_deg)
        distance = sky.angular_distance_deg(query.ra_deg, query.dec_deg, self.ra_deg[band], self.dec_deg[band])
        inside = distance <= query.radius_deg
        rows, distance = band[inside], distance[inside]
        order = np.argsort(distance, kind="stable")[: query.max_records]
        return ConeResult(rows[order], distance[order], overflow=len(rows) > query.max_records)

    def columns(self, verbosity: int) -> list[Column]:
        """The table columns returned at a VERB level: the identifier and positions always."""
        metadata = self.table.metadata
        required = {metadata.id_column, *metadata.position_columns}
        return [c for c in metadata.columns if c.verbosity <= verbosity or c.name in required]

    def search_votable(self, query: ConeQuery) -> bytes:
        """The SCS 1.03 response to ``query``: the events in the cone as a VOTable, nearest first, with ``_r``."""
        result = self.search(query)
        return votable.encode_cone_result(self.table, result.rows, self.columns(query.verbosity),
                                          [distance_column(result.distance_deg)], overflow=result.overflow)


def distance_column(distance_deg: np.ndarray) -> votable.ComputedColumn:
    return votable.ComputedColumn(DISTANCE_COLUMN, "deg", "pos.angDistance",
                          "angular distance between the event position and the cone centre", distance_deg)
