"""The web pages: the overview, a package (listen and look) and a sensor (its packages, its noise over time).

Server-rendered Jinja templates (``templates/``) with one stylesheet and one
small script (``static/``); nothing is loaded from elsewhere. The values come
from the documents and lookups of the JSON API (:mod:`.acoustic_documents`,
:mod:`.acoustic_lookups`) and the registry, so a page and the API never disagree. Page URLs are permanent:
``/packages/<package id>``, ``/sensors/<sensor id>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import marshmallow as ma
from flask import Blueprint, abort, render_template, request
from marshmallow import fields, validate
from werkzeug.exceptions import HTTPException

from hydroserve.acoustics import catalog, plots, psd_product
from hydroserve.acoustics.catalog import SensorSummary
from hydroserve.codecs import SOFTWARE_VERSION, raw
from hydroserve.codecs.times import readable_utc, tick_to_datetime
from hydroserve.odc_sync import registry

from .acoustic_documents import info_json, package_json, sensor_json
from .acoustic_lookups import latest_packages, load_package, load_sensor, package_page, with_live
from .acoustic_schemas import PsdPictureQuery, band_levels_count_field
from .cursor import Cursor, next_page
from .services import services
from .soundscape_page import SoundscapeRangeQuery, soundscape_view

bp = Blueprint("pages", __name__)

# time overview: bin length in seconds and number of bins, ending with the bin of the latest data
OVERVIEWS = {"hours": (3600, 48), "days": (86400, 60)}
LATEST_PER_SENSOR = 3
SENSOR_PAGE_SIZE = 50
RECENT_OTHER_RESOURCES = 10
COVERAGE_LEVELS = 4


class IndexQuery(ma.Schema):
    overview = fields.String(load_default="hours", validate=validate.OneOf(list(OVERVIEWS)))


class SensorPageQuery(SoundscapeRangeQuery):
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    cursor = Cursor(int, str, str)
    n = band_levels_count_field()


def _query(schema: ma.Schema) -> dict:
    """The page's query parameters, or a 400 page naming the invalid ones."""
    try:
        return schema.load(request.args)
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
        """0 (no data) to COVERAGE_LEVELS (every expected package)."""
        return min(COVERAGE_LEVELS, math.ceil(COVERAGE_LEVELS * count / self.expected))


def coverage(conn, summaries: list[SensorSummary], name: str) -> Coverage | None:
    """The time overview ending with the latest data, or None when there is none."""
    last_ticks = [s.last_tick for s in summaries if s.last_tick is not None]
    if not last_ticks:
        return None
    bin_s, n_bins = OVERVIEWS[name]
    bin_ticks = bin_s * raw.TICKS_PER_SECOND
    start_tick = (max(last_ticks) // bin_ticks + 1 - n_bins) * bin_ticks
    counts = catalog.package_counts(conn, start_tick=start_tick, bin_ticks=bin_ticks, n_bins=n_bins)
    rows = [CoverageRow(str(s.sensor), [counts.get((str(s.sensor), i), 0) for i in range(n_bins)]) for s in summaries]
    bins = [(tick_to_datetime(start_tick + i * bin_ticks), tick_to_datetime(start_tick + (i + 1) * bin_ticks)) for i in range(n_bins)]
    return Coverage(name, bin_s, bins, max(1, bin_s // services().settings.snippet_interval_s), rows)


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
    """Sensors with their latest packages, when there is data, and the latest other open data."""
    overview = _query(IndexQuery())["overview"]
    with services().engine.connect() as conn:
        summaries = catalog.sensor_summaries(conn)
        latest = {str(s.sensor): catalog.list_packages(conn, sensor=str(s.sensor), limit=LATEST_PER_SENSOR) for s in summaries}
        grid = coverage(conn, summaries, overview)
        others, stream_titles = other_resources(conn)
    sensors = [sensor_json(services().sensors.info(s.sensor), s) for s in summaries]
    return render_template(
        "index.html", sensors=sensors, latest={sensor: [package_json(r) for r in records] for sensor, records in latest.items()}, coverage=grid, others=others, stream_titles=stream_titles,
        overviews=list(OVERVIEWS), settings=services().settings,
    )


@bp.get("/packages/<package_id>", endpoint="package")
def package(package_id: str):
    """Listen to a package, look at its spectrogram and PSD, read its metadata, download its products."""
    xscale = _query(PsdPictureQuery())["xscale"]  # the page takes the PSD picture's option
    record = load_package(package_id)
    with services().engine.connect() as conn:
        previous, following = catalog.neighbours(conn, record)
    fs = float(raw.SAMPLE_RATE_HZ)
    # where each run sits in the window and in the MP3 (runs are joined back to back there), in seconds
    runs = [[(r.start_tick - record.boundary_tick) / raw.TICKS_PER_SECOND, r.first_sample / fs, r.n_samples / fs]
            for r in record.runs]
    return render_template(
        "package.html", package=package_json(record), info=info_json(record), previous=previous, following=following,
        xscale=xscale, runs=runs, window_s=record.duration_s, spectrogram_axes=plots.SPECTROGRAM_AXES,
        unit=psd_product.display_unit(services().sensors.info(record.sensor).calibration),
    )


@bp.get("/sensors/<sensor>", endpoint="sensor")
def sensor(sensor: str):
    """A sensor: what it is, its noise in bands over its latest packages, its packages page by page."""
    query = _query(SensorPageQuery())
    meta = load_sensor(sensor)
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
