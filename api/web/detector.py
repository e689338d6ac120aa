"""The detector at a glance (JSON): every sensor's place and one number each, and the sensor table, filtered and paged.

``/api/v1/detector`` is what the overview page draws: the whole detector in
one compact document of parallel arrays (6,555 sensors in one request).
``/api/v1/detector/sensors`` is the sensor table: searched by DOM id, string,
floor and type, paged by offset. The values are :mod:`hydroserve.acoustics.overview`'s.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import marshmallow as ma
from flask import Response, request, url_for
from marshmallow import fields, validate

from hydroserve.acoustics import catalog_by_sensor, overview
from hydroserve.codecs.times import datetime_to_tick, tick_rfc3339, tick_to_datetime

from . import errors, http
from .blueprint import Blueprint
from .cursor import NEXT_LINK, next_url_field
from .services import services

bp = Blueprint("detector", __name__, description="The detector at a glance: every sensor's position and latest level or "
                                                 "data availability; the sensor table, searchable and paged")

MAX_PERIOD = timedelta(days=366)
DEFAULT_PERIOD = timedelta(days=1)
POSITION_DECIMALS = 1
LEVEL_DECIMALS = 1
GZIP_LEVEL = 6


class SearchFields(ma.Schema):
    """The sensor search, shared by the API and the overview page."""

    dom = fields.String(validate=validate.Regexp(r"^\d{1,12}$"), metadata={"description": "part of the DOM id (digits)", "example": "8089"})
    string = fields.Integer(validate=validate.Range(min=0, max=100_000), metadata={"description": "detection unit"})
    floor = fields.Integer(validate=validate.Range(min=0, max=1000), metadata={"description": "floor (0: the base)"})
    type = fields.String(validate=validate.OneOf(["piezo", "hydrophone", "unknown"]), metadata={"description": "sensor type"})


class UtcDateTime(fields.DateTime):
    """An ISO 8601 / RFC 3339 time; without an offset (as a browser's date-time input sends it) it is UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class PeriodFields(ma.Schema):
    """The period of the availability; default: the day up to the latest package window."""

    quantity = fields.String(load_default="broadband", validate=validate.OneOf(list(overview.QUANTITIES)), metadata={
        "description": "what each sensor is coloured by: " + "; ".join(f"{k}: {v}" for k, v in overview.QUANTITIES.items())})
    start = UtcDateTime(metadata={"description": "availability from this time (RFC 3339; without an offset: UTC)", "example": "2020-12-23T00:00:00Z"})
    end = UtcDateTime(metadata={"description": "availability before this time (RFC 3339; without an offset: UTC)", "example": "2020-12-24T00:00:00Z"})

    @ma.validates_schema
    def _period(self, data, **kwargs):
        if "start" in data and "end" in data and not data["start"] < data["end"] <= data["start"] + MAX_PERIOD:
            raise ma.ValidationError(f"end must be after start, by at most {MAX_PERIOD.days} days.", "end")


class SensorTableQuery(SearchFields):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500), metadata={"description": "page size"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000), metadata={"description": "rows to skip"})


class DetectorSchema(ma.Schema):
    quantity = fields.String(metadata={"description": "the quantity in `value`"})
    description = fields.String(metadata={"description": "what `value` is"})
    unit = fields.String(metadata={"description": "unit of `value` (levels: per sensor, calibrated or not, see `calibrated`)"})
    units = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "unit of `value` for the calibrated and for the uncalibrated sensors"})
    start = fields.String(allow_none=True, metadata={"description": "availability: start of the period (RFC 3339); null for levels"})
    end = fields.String(allow_none=True, metadata={"description": "availability: end of the period (RFC 3339); null for levels"})
    n_sensors = fields.Integer(metadata={"description": "length of every array below"})
    sensor = fields.List(fields.String(), metadata={"description": "sensor ids"})
    type = fields.List(fields.String(allow_none=True), metadata={"description": "piezo, hydrophone or null (unknown)"})
    detector = fields.List(fields.String(allow_none=True), metadata={"description": "detector (sensors file); null if unknown"})
    string = fields.List(fields.Integer(allow_none=True), metadata={"description": "detection unit; null: not placed"})
    floor = fields.List(fields.Integer(allow_none=True), metadata={"description": "0: base (hydrophone); null: not placed"})
    x_m = fields.List(fields.Float(allow_none=True), metadata={"description": "position (metres, 0.1 m), null if unknown"})
    y_m = fields.List(fields.Float(allow_none=True), metadata={"description": "position (metres, 0.1 m), null if unknown"})
    z_m = fields.List(fields.Float(allow_none=True), metadata={"description": "height (metres, 0.1 m), null if unknown"})
    calibrated = fields.List(fields.Boolean(), metadata={"description": "levels in dB re 1 µPa² (/Hz) if true, else re 1 (sample unit)²"})
    n_packages = fields.List(fields.Integer(), metadata={"description": "packages archived"})
    value = fields.List(fields.Float(allow_none=True), metadata={"description": "the quantity per sensor; null: no data"})


class SensorRowSchema(ma.Schema):
    sensor = fields.String(metadata={"description": "sensor id DOM_<dom id>_CH<channel>"})
    type = fields.String(allow_none=True, metadata={"description": "piezo or hydrophone; null if unknown"})
    detector = fields.String(allow_none=True, metadata={"description": "detector; null if unknown"})
    string = fields.Integer(allow_none=True, metadata={"description": "detection unit; null if unknown"})
    floor = fields.Integer(allow_none=True, metadata={"description": "floor (0: the base); null if unknown"})
    calibrated = fields.Boolean(metadata={"description": "whether levels are in dB re 1 µPa² (/Hz)"})
    n_packages = fields.Integer(metadata={"description": "packages archived"})
    latest_package = fields.String(allow_none=True, metadata={"description": "id of the latest package; null: no data"})
    latest_window_start = fields.String(allow_none=True, metadata={"description": "RFC 3339 UTC"})
    broadband_db = fields.Float(allow_none=True, metadata={"description": "broadband level of the latest package"})
    page = fields.String(metadata={"description": "the sensor's web page"})


class SensorTableSchema(ma.Schema):
    total = fields.Integer(metadata={"description": "sensors matching the search"})
    offset = fields.Integer(metadata={"description": "rows skipped before this page"})
    items = fields.List(fields.Nested(SensorRowSchema), metadata={"description": "this page's sensors"})
    next = next_url_field()


@dataclass(frozen=True)
class Values:
    """One quantity for every sensor of the overview, and what it is."""

    quantity: str
    unit: str
    units: dict[str, str]
    values: list[float | None]
    start: datetime | None
    end: datetime | None


def load_overview() -> list[overview.OverviewSensor]:
    with services().engine.connect() as conn:
        latest = overview.latest_packages(conn)
    return overview.overview_sensors(services().sensors, latest)


def default_period(items: list[overview.OverviewSensor]) -> tuple[datetime, datetime]:
    """The day ending with the latest package window of the detector (or now, without data)."""
    ticks = [item.latest.boundary_tick for item in items if item.latest.boundary_tick is not None]
    interval = timedelta(seconds=services().settings.snippet_interval_s)
    end = tick_to_datetime(max(ticks)) + interval if ticks else datetime.now(UTC)
    return end - DEFAULT_PERIOD, end


def quantity_values(items: list[overview.OverviewSensor], quantity: str, start: datetime | None = None,
                    end: datetime | None = None) -> Values:
    """The values of ``quantity`` for ``items``; availability over [start, end) (default: :func:`default_period`)."""
    if quantity != "availability":
        values = [overview.level_db(item, quantity) for item in items]
        per = "" if quantity == "broadband" else "/Hz"
        units = {"calibrated": f"dB re 1 µPa²{per}", "uncalibrated": f"dB re 1 (sample unit)²{per}"}
        unit = f"{units['calibrated']} (calibrated) or {units['uncalibrated']} (uncalibrated)"
        return Values(quantity, unit, units, [None if v is None else round(v, LEVEL_DECIMALS) for v in values], None, None)
    if start is None or end is None:
        start, end = default_period(items)
    start_tick, end_tick = datetime_to_tick(start), datetime_to_tick(end)
    with services().engine.connect() as conn:
        counts = {sensor: n for (sensor, _), n in
                  catalog_by_sensor.package_counts(conn, start_tick=start_tick, bin_ticks=end_tick - start_tick, n_bins=1).items()}
    expected = max(1, int((end - start).total_seconds()) // services().settings.snippet_interval_s)
    fraction = "fraction of package windows archived"
    return Values(quantity, fraction, {"calibrated": fraction, "uncalibrated": fraction},
                  [round(overview.availability(item, counts, expected), 3) for item in items], start, end)


def _rounded(position, index: int) -> float | None:
    return None if position is None else round(position[index], POSITION_DECIMALS)


@bp.route("/detector", endpoint="Detector")
@bp.arguments(PeriodFields, location="query", as_kwargs=True)
@bp.response(200, DetectorSchema, headers={"ETag": {"description": "of the bytes sent", "schema": {"type": "string"}}})
@bp.alt_response(304, description="not modified (If-None-Match)")
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
def detector(quantity: str, start: datetime | None = None, end: datetime | None = None):
    """Every sensor of the geometry (sensors file) and the catalog: where it is and one value of ``quantity``, as
    parallel arrays ordered by detector, string, floor (unplaced sensors last); gzip-compressed when the client
    accepts it."""
    items = load_overview()
    values = quantity_values(items, quantity, start, end)
    infos = [item.info for item in items]
    return compact_json({
        "quantity": quantity, "description": overview.QUANTITIES[quantity], "unit": values.unit, "units": values.units,
        "start": None if values.start is None else values.start.isoformat(),
        "end": None if values.end is None else values.end.isoformat(),
        "n_sensors": len(items), "sensor": [item.sensor for item in items], "type": [i.type for i in infos],
        "detector": [i.detector for i in infos], "string": [i.string for i in infos], "floor": [i.floor for i in infos],
        "x_m": [_rounded(i.position_m, 0) for i in infos], "y_m": [_rounded(i.position_m, 1) for i in infos],
        "z_m": [_rounded(i.position_m, 2) for i in infos], "calibrated": [i.calibrated for i in infos],
        "n_packages": [item.latest.n_packages for item in items], "value": values.values,
    })


def compact_json(document: dict) -> Response:
    """The document as JSON without spaces, gzip-compressed for clients that accept it (a whole detector's 6,555
    sensors: 480 kB, a few tens of kB compressed), with an ETag of the JSON and its encoding (so 304 while nothing changed)."""
    body = json.dumps(document, separators=(",", ":")).encode()
    compress = "gzip" in request.accept_encodings
    response = http.send_json_bytes(body, etag=hashlib.sha256(body).hexdigest()[:40] + ("-gzip" if compress else ""))
    if compress and response.status_code == 200:  # compressed only when sent: a revalidation (304) needs none
        response.set_data(gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0))
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response


def search(items: list[overview.OverviewSensor], query: dict) -> list[overview.OverviewSensor]:
    """The sensors matching the search fields of ``query``: those with data first, each group in the order of
    ``items``."""
    found = [item for item in items if overview.matches(item, dom=query.get("dom"), string=query.get("string"),
                                                        floor=query.get("floor"), sensor_type=query.get("type"))]
    return sorted(found, key=lambda item: item.latest.n_packages == 0)


def sensor_row(item: overview.OverviewSensor) -> dict:
    info, latest = item.info, item.latest
    return {
        "sensor": item.sensor, "type": info.type, "detector": info.detector, "string": info.string, "floor": info.floor,
        "calibrated": info.calibrated, "n_packages": latest.n_packages, "latest_package": latest.package_id,
        "latest_window_start": None if latest.boundary_tick is None else tick_rfc3339(latest.boundary_tick),
        "broadband_db": overview.level_db(item, "broadband"),
        "page": url_for("pages.sensor", sensor=item.sensor, _external=True),
    }


@bp.route("/detector/sensors", endpoint="DetectorSensors")
@bp.arguments(SensorTableQuery, location="query", as_kwargs=True)
@bp.response(200, SensorTableSchema, headers=NEXT_LINK)
@bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
def detector_sensors(limit: int, offset: int, **query):
    """The sensor table: sensors matching the search (every field optional), those with data first, each group
    ordered as in ``/detector``; paged by offset."""
    found = search(load_overview(), query)
    page = found[offset:offset + limit]
    headers, next_url = {}, None
    if offset + limit < len(found):
        next_url = url_for("detector.DetectorSensors", _external=True, **{**request.args.to_dict(), "offset": offset + limit})
        headers = {"Link": f'<{next_url}>; rel="next"'}
    return {"total": len(found), "offset": offset, "items": [sensor_row(item) for item in page], "next": next_url}, 200, headers
