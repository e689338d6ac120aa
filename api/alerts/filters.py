"""Query filters of ``GET /api/v1/alerts``: small registered classes.

Each filter has a query key, example values and a docstring (shown in the
OpenAPI documentation); it parses its value with a marshmallow field (an
invalid value is a 400 naming the key) and turns it into a SQL condition on
the ``alerts`` table. The endpoint's query schema is built from the
registered filters plus ``limit`` and ``cursor``, and the strict parser
refuses any other key (400).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC
from typing import ClassVar

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy import and_, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from hydroserve.api.web.cursor import Cursor
from hydroserve.codecs import sky

from .input import ALERT_TYPES, EVENT_ID_PATTERN, INSTRUMENT_PATTERN
from .store import alerts

FILTERS: dict[str, type[AlertFilter]] = {}

# cosine slack of the cone test: covers rounding of the dot product (a few 1e-16)
# and moves the boundary by < 1e-7 deg for radii down to 1e-3 deg
CONE_COSINE_SLACK = 1e-14


def register(cls: type[AlertFilter]) -> type[AlertFilter]:
    """Class decorator: make the filter available under its key."""
    if cls.key in FILTERS:
        raise ValueError(f"two alert filters use the key {cls.key!r}")
    FILTERS[cls.key] = cls
    return cls


class AlertFilter:
    """A query parameter of the alert list: ``key``, ``example_values``, a value field and a condition."""

    key: ClassVar[str]
    example_values: ClassVar[tuple[str, ...]]

    @classmethod
    def value_field(cls, **metadata) -> fields.Field:
        raise NotImplementedError

    @classmethod
    def field(cls) -> fields.Field:
        """The value's field, documented with the docstring and the first example."""
        return cls.value_field(metadata={"description": " ".join(cls.__doc__.split()), "example": cls.example_values[0]})

    @staticmethod
    def condition(value) -> ColumnElement:
        raise NotImplementedError


@register
class Since(AlertFilter):
    """Events at or after this time (RFC 3339 with zone; compared with the event's trigger time)."""

    key = "since"
    example_values = ("2025-01-01T00:00:00Z", "2025-01-14T03:00:00+01:00")

    @classmethod
    def value_field(cls, **metadata):
        return fields.AwareDateTime(**metadata)

    @staticmethod
    def condition(value):
        return alerts.c.trigger_time >= value.astimezone(UTC)


@register
class Until(AlertFilter):
    """Events before this time (RFC 3339 with zone; compared with the event's trigger time)."""

    key = "until"
    example_values = ("2025-02-01T00:00:00Z",)

    @classmethod
    def value_field(cls, **metadata):
        return fields.AwareDateTime(**metadata)

    @staticmethod
    def condition(value):
        return alerts.c.trigger_time < value.astimezone(UTC)


@register
class Role(AlertFilter):
    """Only real alerts (``observation``) or only tests (``test``)."""

    key = "role"
    example_values = ("observation", "test")

    @classmethod
    def value_field(cls, **metadata):
        return fields.String(validate=validate.OneOf(["observation", "test"]), **metadata)

    @staticmethod
    def condition(value):
        return alerts.c.role == value


@register
class Detector(AlertFilter):
    """Only alerts of this detector (the posted ``instrument``; case-insensitive)."""

    key = "detector"
    example_values = ("ORCA24", "ARCA21")

    @classmethod
    def value_field(cls, **metadata):
        return fields.String(validate=validate.Regexp(INSTRUMENT_PATTERN), **metadata)

    @staticmethod
    def condition(value):
        return func.upper(alerts.c.instrument) == value.upper()


@register
class Event(AlertFilter):
    """Only the revisions of this event (the posted ``id``); with ``limit=1``, the latest one."""

    key = "event"
    example_values = ("ORCA24-0114-00873",)

    @classmethod
    def value_field(cls, **metadata):
        return fields.String(validate=validate.Regexp(EVENT_ID_PATTERN), **metadata)

    @staticmethod
    def condition(value):
        return alerts.c.event_id == value


@register
class AlertType(AlertFilter):
    """Only initial alerts, updates or retractions."""

    key = "alert_type"
    example_values = ALERT_TYPES

    @classmethod
    def value_field(cls, **metadata):
        return fields.String(validate=validate.OneOf(ALERT_TYPES), **metadata)

    @staticmethod
    def condition(value):
        return alerts.c.alert_type == value


@register
class Latest(AlertFilter):
    """``true``: only the latest revision of each event (its current state); ``false``: only superseded revisions."""

    key = "latest"
    example_values = ("true", "false")

    @classmethod
    def value_field(cls, **metadata):
        return fields.Boolean(truthy={"true", "1"}, falsy={"false", "0"}, **metadata)

    @staticmethod
    def condition(value):
        later = alerts.alias("later")
        superseded = exists(select(later.c.seq).where(later.c.event_id == alerts.c.event_id,
                                                      later.c.revision > alerts.c.revision))
        return ~superseded if value else superseded


@dataclass(frozen=True)
class Cone:
    """A circle on the sky: centre (J2000, deg) and radius (deg)."""

    ra_deg: float
    dec_deg: float
    radius_deg: float


class _ConeField(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        parts = super()._deserialize(value, attr, data, **kwargs).split(",")
        try:
            ra_deg, dec_deg, radius_deg = (float(part) for part in parts)
        except ValueError:
            raise ma.ValidationError("Must be ra,dec,radius in deg, e.g. 83.6,22.0,2.5.") from None
        if not all(math.isfinite(v) for v in (ra_deg, dec_deg, radius_deg)):
            raise ma.ValidationError("ra, dec and radius must be finite numbers.")
        if not 0 <= ra_deg <= 360:
            raise ma.ValidationError(f"ra={ra_deg:g} must be in [0, 360] deg.")
        if not -90 <= dec_deg <= 90:
            raise ma.ValidationError(f"dec={dec_deg:g} must be in [-90, 90] deg.")
        if not 0 < radius_deg <= 180:
            raise ma.ValidationError(f"radius={radius_deg:g} must be in (0, 180] deg.")
        return Cone(ra_deg % 360.0, dec_deg, radius_deg)


@register
class ConeFilter(AlertFilter):
    """Alerts whose best position lies within ``radius`` of (``ra``, ``dec``), by true angular distance:
    ``ra,dec,radius`` in deg (J2000)."""

    key = "cone"
    example_values = ("83.63,22.01,3", "359.5,-10,2", "0,90,5")

    @classmethod
    def value_field(cls, **metadata):
        return _ConeField(**metadata)

    @staticmethod
    def condition(value: Cone):
        # angular distance <= r  <=>  u . v >= cos(r), on stored unit vectors; the Dec band only narrows the scan
        x0, y0, z0 = sky.unit_vector(value.ra_deg, value.dec_deg)
        cosine = math.cos(math.radians(value.radius_deg)) - CONE_COSINE_SLACK
        return and_(
            alerts.c.dec_deg >= value.dec_deg - value.radius_deg,
            alerts.c.dec_deg <= value.dec_deg + value.radius_deg,
            alerts.c.x * x0 + alerts.c.y * y0 + alerts.c.z * z0 >= cosine,
        )


class _QueryBase(ma.Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000), metadata={"description": "page size"})
    cursor = Cursor(int)

    @ma.validates_schema
    def _window(self, data, **kwargs):
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise ma.ValidationError("Must be later than since.", "until")


AlertQuery = _QueryBase.from_dict({key: cls.field() for key, cls in FILTERS.items()}, name="AlertQuery")


def conditions(arguments: dict) -> list[ColumnElement]:
    """The SQL conditions of the filter arguments among the parsed query arguments."""
    return [FILTERS[key].condition(value) for key, value in arguments.items() if key in FILTERS]
