"""The filters of the alert list: one table, each filter a key, a value type, a clause, a docstring and example values.

A filter's value type is a marshmallow field that parses the query-string
text (an invalid value is a 400 naming the key); its clause turns the
parsed value into a SQL condition on the ``alerts`` table. The web layer
builds the endpoint's query schema from :data:`FILTERS` (documented with
each docstring and first example) and refuses any other key (400); a test
runs every example value against a real catalogue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from functools import partial
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy import and_, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from hydroserve.api.validation import FilterTime, matching
from hydroserve.codecs import sky

from .input import ALERT_TYPES, EVENT_ID_PATTERN, INSTRUMENT_PATTERN
from .store import alerts

# cosine slack of the cone test: covers rounding of the dot product (a few 1e-16)
# and moves the boundary by < 1e-7 deg for radii down to 1e-3 deg
CONE_COSINE_SLACK = 1e-14


@dataclass(frozen=True)
class AlertFilter:
    """A query parameter of the alert list.

    Parameters
    ----------
    key : str
        The query key.
    value_type : callable
        Makes the marshmallow field that parses the value (keyword arguments go to the field, e.g. ``metadata``).
    clause : callable
        The SQL condition on the ``alerts`` table of a parsed value.
    doc : str
        What the filter selects (the parameter's documentation).
    example_values : tuple of str
        Values as written in a query string; the first is the documented example.
    """

    key: str
    value_type: Callable[..., fields.Field]
    clause: Callable[[Any], ColumnElement]
    doc: str
    example_values: tuple[str, ...]

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z_]*", self.key):
            raise ValueError(f"{self.key=} must be lower-case letters and underscores")
        if not self.example_values:
            raise ValueError(f"filter {self.key!r}: example_values must not be empty")

    def parse(self, text: str):
        """The value of a query-string text; marshmallow.ValidationError if it is not one."""
        return self.value_type().deserialize(text)


class ConeField(fields.String):
    """``ra,dec,radius`` in deg, parsed to a :class:`~hydroserve.codecs.sky.Cone`."""

    def _deserialize(self, value, attr, data, **kwargs):
        parts = super()._deserialize(value, attr, data, **kwargs).split(",")
        if len(parts) != 3:
            raise ma.ValidationError("Must be ra,dec,radius in deg, e.g. 83.6,22.0,2.5.")
        try:
            return sky.parse_cone(*parts)
        except ValueError as error:
            raise ma.ValidationError(f"{error}.") from None


def _latest(value: bool) -> ColumnElement:
    later = alerts.alias("later")
    superseded = exists(select(later.c.seq).where(later.c.event_id == alerts.c.event_id, later.c.revision > alerts.c.revision))
    return ~superseded if value else superseded


def _within(cone: sky.Cone) -> ColumnElement:
    # angular distance <= r  <=>  u . v >= cos(r), on stored unit vectors; the Dec band only narrows the scan
    x0, y0, z0 = sky.unit_vector(cone.ra_deg, cone.dec_deg)
    cosine = math.cos(math.radians(cone.radius_deg)) - CONE_COSINE_SLACK
    return and_(
        alerts.c.dec_deg >= cone.dec_deg - cone.radius_deg,
        alerts.c.dec_deg <= cone.dec_deg + cone.radius_deg,
        alerts.c.x * x0 + alerts.c.y * y0 + alerts.c.z * z0 >= cosine,
    )


def _one_of(*choices: str) -> Callable[..., fields.Field]:
    return partial(fields.String, validate=validate.OneOf(choices))


def _matching(pattern: str) -> Callable[..., fields.Field]:
    return partial(fields.String, validate=matching(pattern))


_TABLE = (
    AlertFilter("since", FilterTime, lambda time: alerts.c.trigger_time >= time.astimezone(UTC),
                "Events at or after this time (RFC 3339 with zone, or a date: its midnight UTC; compared with the event's "
                "trigger time).", ("2025-01-01T00:00:00Z", "2025-01-14T03:00:00+01:00", "2025-01-01")),
    AlertFilter("until", FilterTime, lambda time: alerts.c.trigger_time < time.astimezone(UTC),
                "Events before this time (RFC 3339 with zone, or a date: its midnight UTC; compared with the event's "
                "trigger time).", ("2025-02-01T00:00:00Z",)),
    AlertFilter("role", _one_of("observation", "test"), lambda role: alerts.c.role == role,
                "Only real alerts (``observation``) or only tests (``test``).",
                ("observation", "test")),
    AlertFilter("detector", _matching(INSTRUMENT_PATTERN), lambda name: func.upper(alerts.c.instrument) == name.upper(),
                "Only alerts of this detector (the posted ``instrument``; case-insensitive).",
                ("ORCA24", "ARCA21")),
    AlertFilter("event", _matching(EVENT_ID_PATTERN), lambda event_id: alerts.c.event_id == event_id,
                "Only the revisions of this event (the posted ``id``); with ``limit=1``, the latest one.",
                ("ORCA24-0114-00873",)),
    AlertFilter("alert_type", _one_of(*ALERT_TYPES), lambda kind: alerts.c.alert_type == kind,
                "Only initial alerts, updates or retractions.",
                ALERT_TYPES),
    AlertFilter("latest", partial(fields.Boolean, truthy={"true", "1"}, falsy={"false", "0"}), _latest,
                "``true``: only the latest revision of each event (its current state); ``false``: only superseded revisions.",
                ("true", "false")),
    AlertFilter("cone", ConeField, _within,
                "Alerts whose best position lies within ``radius`` of (``ra``, ``dec``), by true angular distance: "
                "``ra,dec,radius`` in deg (J2000).",
                ("83.63,22.01,3", "359.5,-10,2", "0,90,5")),
)

FILTERS: dict[str, AlertFilter] = {alert_filter.key: alert_filter for alert_filter in _TABLE}
if len(FILTERS) != len(_TABLE):
    raise ValueError("two alert filters use the same key")


def conditions(arguments: dict[str, Any]) -> list[ColumnElement]:
    """The SQL conditions of parsed filter values, by key; ValueError naming a key that is no filter."""
    unknown = sorted(set(arguments) - set(FILTERS))
    if unknown:
        raise ValueError(f"no alert filter is called {', '.join(unknown)} (filters: {', '.join(FILTERS)})")
    return [FILTERS[key].clause(value) for key, value in arguments.items()]
