"""The web pages: the overview, a package (listen and look) and a sensor (its packages, its noise over time).

Server-rendered Jinja templates (``templates/``) with one stylesheet and one
small script (``static/``); nothing is loaded from elsewhere. The values come
from the documents and lookups of the JSON API (:mod:`.acoustic_documents`,
:mod:`.acoustic_lookups`) and the registry, so a page and the API never disagree. Page URLs are permanent:
``/packages/<package id>``, ``/sensors/<sensor id>``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import marshmallow as ma
from flask import Blueprint, abort, render_template, request
from marshmallow import fields, validate
from werkzeug.exceptions import HTTPException

from hydroserve.acoustics import catalog, catalog_by_sensor, plots, psd_product, timeline, window
from hydroserve.acoustics.overview import QUANTITIES
from hydroserve.codecs import SOFTWARE_VERSION, raw
from hydroserve.codecs.raw import SensorId
from hydroserve.codecs.times import datetime_to_tick, readable_utc, tick_to_datetime
from hydroserve.odc_sync import registry

from .acoustic_documents import info_json, package_json
from .acoustic_lookups import latest_packages, load_package, load_sensor, package_page, with_live
from .acoustic_schemas import PsdPictureQuery, SpectrogramPictureQuery, band_levels_count_field
from .cursor import Cursor, next_page
from .detector import PeriodFields, SearchFields, load_overview, search
from .pictures import spectrogram_scale_db
from .services import services
from .soundscape_page import SoundscapeRangeQuery, soundscape_view

bp = Blueprint("pages", __name__)

# time overview: bin length in seconds and number of bins, ending with the bin of the latest data
OVERVIEWS = {"hours": (3600, 48), "days": (86400, 60)}
LATEST_PER_SENSOR = 3
SENSOR_PAGE_SIZE = 50
SENSOR_TABLE_PAGE_SIZE = 50
MAX_STRIP = 288  # packages in a day page's strip: a day of 300 s packages
NEARBY_COUNT = 8  # spectrograms side by side: this package's and its nearest sensors'
RECENT_OTHER_RESOURCES = 10
COVERAGE_LEVELS = 4


class IndexQuery(SearchFields, PeriodFields):
    overview = fields.String(load_default="hours", validate=validate.OneOf(list(OVERVIEWS)))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class PackagePageQuery(PsdPictureQuery, SpectrogramPictureQuery):
    pass


class SensorPageQuery(SoundscapeRangeQuery):
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    cursor = Cursor(int, str, str)
    n = band_levels_count_field()


def _query(schema: ma.Schema) -> dict:
    """The page's query parameters (those left empty in a form, as ``?floor=``, are not given), or a 400 page naming
    the invalid ones."""
    try:
        return schema.load({key: value for key, value in request.args.items() if value != ""})
    except ma.ValidationError as error:
        abort(400, description="Invalid query parameter " + ", ".join(
            f"{name!r}: {' '.join(messages)}" for name, messages in sorted(error.messages.items())) + ".")


@dataclass(frozen=True)
class CoverageRow:
    sensor: str
    counts: list[int]


@dataclass(frozen=True)
class Coverage:
    """Packages per sensor and time bin; a bin expects ``bin_s / snippet_interval_s`` packages."""

    name: str
    bin_s: int
    bins: list[tuple[datetime, datetime]]
    expected: int
    rows: list[CoverageRow]

    def level(self, count: int) -> int:
        return coverage_level(count, self.expected)


def coverage_level(count: int, expected: int) -> int:
    """0 (no data) to COVERAGE_LEVELS (every one of the ``expected`` packages)."""
    return min(COVERAGE_LEVELS, math.ceil(COVERAGE_LEVELS * count / expected))


def expected_packages(bin_s: int) -> int:
    """Packages a bin of ``bin_s`` seconds holds at full coverage (at least 1)."""
    return max(1, bin_s // services().settings.snippet_interval_s)


def coverage(conn, sensors: list[str], last_tick: int | None, name: str) -> Coverage | None:
    """The time overview of ``sensors`` ending with the latest data (``last_tick``), or None when there is none."""
    if last_tick is None or not sensors:
        return None
    bin_s, n_bins = OVERVIEWS[name]
    bin_ticks = bin_s * raw.TICKS_PER_SECOND
    start_tick = (last_tick // bin_ticks + 1 - n_bins) * bin_ticks
    counts = catalog_by_sensor.package_counts(conn, start_tick=start_tick, bin_ticks=bin_ticks, n_bins=n_bins)
    rows = [CoverageRow(sensor, [counts.get((sensor, i), 0) for i in range(n_bins)]) for sensor in sensors]
    bins = [(tick_to_datetime(start_tick + i * bin_ticks), tick_to_datetime(start_tick + (i + 1) * bin_ticks)) for i in range(n_bins)]
    return Coverage(name, bin_s, bins, expected_packages(bin_s), rows)


def other_resources(conn) -> tuple[list[registry.Resource], dict[str, str]]:
    """The latest resources of every stream outside the acoustic collection (alerts, event tables, ...)
    and the titles of those streams."""
    streams = [s for s in registry.list_streams(conn) if s.collection_kid != services().settings.collection]
    if not streams:
        return [], {}
    latest = registry.latest(conn, stream_kids=[s.kid for s in streams], limit=RECENT_OTHER_RESOURCES)
    return latest, {s.kid: s.title for s in streams}


@bp.get("/", endpoint="index")
def index():
    """The detector (drawn by static/detector.js from /api/v1/detector), the sensor table searched and paged, when
    there is data for the table's sensors, and the latest other open data."""
    query = _query(IndexQuery())
    items = load_overview()
    found = search(items, query)
    offset = query["offset"]
    page = found[offset:offset + SENSOR_TABLE_PAGE_SIZE]
    with_data = [item.sensor for item in page if item.latest.n_packages]
    last_ticks = [item.latest.boundary_tick for item in items if item.latest.boundary_tick is not None]
    with services().engine.connect() as conn:
        latest = {sensor: catalog.list_package_summaries(conn, sensor=sensor, limit=LATEST_PER_SENSOR) for sensor in with_data}
        grid = coverage(conn, with_data, max(last_ticks, default=None), query["overview"])
        others, stream_titles = other_resources(conn)
    searched = {key: query[key] for key in SearchFields().fields if key in query}
    period = {key: query[key].isoformat() for key in ("start", "end") if key in query}
    return render_template(
        "index.html", items=page, n_found=len(found), n_sensors=len(items), offset=offset, page_size=SENSOR_TABLE_PAGE_SIZE,
        latest={sensor: [package_json(r) for r in records] for sensor, records in latest.items()}, coverage=grid,
        others=others, stream_titles=stream_titles, overviews=list(OVERVIEWS), settings=services().settings,
        quantity=query["quantity"], quantities=QUANTITIES, period=period, searched=searched,
        search_json=json.dumps({"active": bool(searched), **searched}), page_args=dict(request.args),
    )


@bp.get("/packages/<package_id>", endpoint="package")
def package(package_id: str):
    """Listen to a package, look at its spectrogram and PSD, read its metadata, download its products."""
    options = _query(PackagePageQuery())  # the page takes the PSD and spectrogram pictures' options
    xscale, scale = options["xscale"], options["scale"]
    record = load_package(package_id)
    with services().engine.connect() as conn:
        previous, following = catalog.neighbours(conn, record)
    fs = float(raw.SAMPLE_RATE_HZ)
    # where each run sits in the window and in the MP3 (runs are joined back to back there), in seconds
    runs = [[(r.start_tick - record.boundary_tick) / raw.TICKS_PER_SECOND, r.first_sample / fs, r.n_samples / fs]
            for r in record.runs]
    return render_template(
        "package.html", package=package_json(record), info=info_json(record), previous=previous, following=following,
        xscale=xscale, scale=scale, fixed_scale=spectrogram_scale_db(record.sensor), runs=runs, window_s=record.duration_s, spectrogram_axes=plots.SPECTROGRAM_AXES,
        thumbnail_axes=plots.THUMBNAIL_AXES,
        unit=psd_product.display_unit(services().sensors.info(record.sensor).calibration),
    )


@bp.get("/sensors/<sensor>", endpoint="sensor")
def sensor(sensor: str):
    """A sensor: what it is, its noise in bands over its latest packages, its packages page by page."""
    query = _query(SensorPageQuery())
    meta = load_sensor(sensor, listed_without_data=True)  # a sensor of the sensors file without data: its page says so
    page, next_cursor = package_page(order="newest", limit=SENSOR_PAGE_SIZE, sensor=sensor, start=query.get("start"),
                                     end=query.get("end"), cursor=query.get("cursor"))
    next_url = None if next_cursor is None else next_page("pages.sensor", next_cursor, external=False, sensor=sensor)[0]
    with_psd = with_live(latest_packages(sensor, query["n"]), "psd") if meta["n_packages"] else []
    levels = services().products.band_levels(with_psd, "median") if with_psd else None
    return render_template(
        "sensor.html", sensor=meta, packages=[package_json(r) for r in page], next_url=next_url, levels=levels,
        n=query["n"], start=query.get("start"), end=query.get("end"),
        soundscape=soundscape_view(sensor, meta["last_package_end"], query["span_days"], query.get("until")),
    )


class DayQuery(ma.Schema):
    date = fields.Date(metadata={"description": "the UTC day, YYYY-MM-DD; default: the day of the latest package"})
    hour = fields.Integer(validate=validate.Range(min=0, max=23))


@dataclass(frozen=True)
class StripGap:
    start: datetime
    end: datetime
    n_windows: int


@bp.get("/sensors/<sensor>/day", endpoint="day")
def day(sensor: str):
    """A sensor's day: packages per hour, and the packages of the day (or of one hour) as a strip of spectrograms with
    the missing windows between them."""
    query = _query(DayQuery())
    meta = load_sensor(sensor)
    interval_ticks = services().settings.snippet_interval_s * raw.TICKS_PER_SECOND
    chosen = query.get("date") or tick_to_datetime(latest_packages(sensor, 1)[0].boundary_tick).date()
    day_start = datetime.combine(chosen, time(), UTC)
    day_tick = datetime_to_tick(day_start)
    with services().engine.connect() as conn:
        counts = catalog_by_sensor.package_counts(conn, start_tick=day_tick, bin_ticks=3600 * raw.TICKS_PER_SECOND, n_bins=24)
        per_hour = [counts.get((sensor, hour), 0) for hour in range(24)]
        hour = query.get("hour")
        if hour is None and 86400 // services().settings.snippet_interval_s > MAX_STRIP:
            hour = max((h for h in range(24) if per_hour[h]), default=0)  # too many windows for one strip: one hour
        start_tick = day_tick if hour is None else day_tick + hour * 3600 * raw.TICKS_PER_SECOND
        end_tick = start_tick + (86400 if hour is None else 3600) * raw.TICKS_PER_SECOND
        records = catalog.list_package_summaries(conn, sensor=sensor, start_tick=start_tick, end_tick=end_tick,
                                                 newest_first=False, limit=MAX_STRIP)
    truncated = len(records) == MAX_STRIP
    if truncated:
        end_tick = records[-1].boundary_tick + interval_ticks
    # the strip ends with the current window: what is later has not happened yet
    end_tick = max(start_tick + interval_ticks, min(end_tick, -(-datetime_to_tick(datetime.now(UTC)) // interval_ticks) * interval_ticks))
    items = [item if not isinstance(item, timeline.Gap) else
             StripGap(tick_to_datetime(item.start_tick), tick_to_datetime(item.start_tick + item.n_windows * interval_ticks), item.n_windows)
             for item in timeline.strip(records, start_tick=start_tick, end_tick=end_tick, interval_ticks=interval_ticks)]
    expected_per_hour = expected_packages(3600)
    return render_template(
        "day.html", sensor=meta, day=chosen, hour=hour, per_hour=per_hour, expected_per_hour=expected_per_hour,
        levels=[coverage_level(n, expected_per_hour) for n in per_hour],
        items=[package_json(i) | {"samples_deleted": "wav" in i.expired} if not isinstance(i, StripGap) else i for i in items],
        truncated=truncated, previous_day=chosen - timedelta(days=1), next_day=chosen + timedelta(days=1),
        scale=spectrogram_scale_db(SensorId.parse(sensor)),
    )


@bp.get("/packages/<package_id>/nearby", endpoint="nearby")
def nearby(package_id: str):
    """The same package window at the sensors nearest to this package's: spectrograms side by side on the fixed colour
    scale of their sensor type."""
    record = load_package(package_id)
    origin = services().sensors.info(record.sensor)
    with services().engine.connect() as conn:
        same_time = timeline.sensors_with_window(conn, record.boundary_tick)
        others = [services().sensors.info(SensorId.parse(sensor)) for sensor in same_time]
        chosen = [origin] + timeline.nearest(origin, others, NEARBY_COUNT - 1)
        records = [catalog.get_package(conn, window.package_id(info.sensor, record.boundary_tick)) for info in chosen]
        previous, following = catalog.neighbours(conn, record)
    panels = [{"info": info, "package": package_json(other), "samples_deleted": "wav" in other.expired,
               "distance_m": None if info is origin else timeline.distance_m(origin, info), "scale": spectrogram_scale_db(info.sensor)}
              for info, other in zip(chosen, records)]
    return render_template("nearby.html", package=package_json(record), panels=panels, n_same_time=len(same_time),
                           previous=previous, following=following)


@bp.errorhandler(HTTPException)
def error_page(error: HTTPException):
    """Errors of the pages as pages (the API answers problem+json)."""
    return render_template("error.html", error=error), error.code


@bp.app_template_filter("utc")
def utc_filter(value: str | datetime) -> str:
    """An RFC 3339 string or a datetime as ``YYYY-MM-DD hh:mm:ss UTC``."""
    return readable_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


@bp.app_template_filter("size")
def size_filter(size_bytes: int) -> str:
    """A size as people read it: ``2.6 MB``, ``812 kB``, ``560 B`` (powers of 1000)."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= factor:
            return f"{size_bytes / factor:.3g} {unit}"
    return f"{size_bytes} B"


_UNIT_SUFFIXES = {"hz": "Hz", "s": "s", "db": "dB", "ns": "ns", "bytes": "bytes", "kbps": "kbit/s", "m": "m",
                  "db_re_1v_per_upa": "dB re 1 V/µPa", "16ns": "16 ns"}


@bp.app_template_filter("label")
def label_filter(key: str) -> str:
    """A JSON key as a table label: ``sample_rate_hz`` -> ``sample rate (Hz)``."""
    words = key.split("_")
    for length in range(len(words) - 1, 0, -1):
        suffix = "_".join(words[length:])
        if suffix in _UNIT_SUFFIXES:
            return f"{' '.join(words[:length])} ({_UNIT_SUFFIXES[suffix]})"
    return " ".join(words)


@bp.app_context_processor
def page_globals() -> dict:
    return {"software_version": SOFTWARE_VERSION}
