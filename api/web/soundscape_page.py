"""The sensor page's soundscape part: a time range chooser and the long-term pictures (LTSA, SPD, band levels).

The range is chosen with plain links and a GET form (no script, so the strict
Content-Security-Policy holds): ``span_days`` (1, 7, 30 or 365) ending at the
start of the UTC day ``until`` (by default the day after the sensor's last
package). The template is ``sensor_soundscape.html``, included by the sensor page.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import marshmallow as ma
from flask import url_for
from marshmallow import fields, validate

from .services import services

SPANS_DAYS = (1, 7, 30, 365)
DEFAULT_SPAN_DAYS = 7


class SoundscapeRangeQuery(ma.Schema):
    """The page's range parameters (a page schema derives from it)."""

    span_days = fields.Integer(load_default=DEFAULT_SPAN_DAYS, validate=validate.OneOf(SPANS_DAYS))
    until = fields.Date()


def soundscape_view(sensor: str, last_package_end: str | None, span_days: int, until: date | None) -> dict | None:
    """What the template shows: the range, the links to other spans and, when the range holds HMD, the picture and
    data URLs (``days`` with data, the newest ``last_day``); None for a sensor without packages."""
    if last_package_end is None:
        return None
    until = until or (datetime.fromisoformat(last_package_end).date() + timedelta(days=1))
    start = until - timedelta(days=span_days)
    window = {"start": f"{start:%Y-%m-%d}T00:00:00Z", "end": f"{until:%Y-%m-%d}T00:00:00Z"}
    days = sorted(day for _, day in services().soundscape.revisions(start, until - timedelta(days=1), [sensor]))
    chooser = {
        "span_days": span_days, "until": f"{until:%Y-%m-%d}", "spans": SPANS_DAYS, **window, "days": days,
        "span_urls": {days: url_for("pages.sensor", sensor=sensor, span_days=days, until=f"{until:%Y-%m-%d}",
                                    _anchor="soundscape-heading") for days in SPANS_DAYS},
    }
    if not days:
        return chooser
    return {
        **chooser,
        "ltsa_url": url_for("soundscape_pictures.LtsaPng", sensor=sensor, **window),
        "spd_url": url_for("soundscape_pictures.SpdPng", sensor=sensor, **window),
        "levels_url": url_for("soundscape_pictures.LevelsPng", sensor=sensor, **window),
        "ltsa_small_url": url_for("soundscape_pictures.LtsaPng", sensor=sensor, size="small", **window),
        "spd_small_url": url_for("soundscape_pictures.SpdPng", sensor=sensor, size="small", **window),
        "levels_small_url": url_for("soundscape_pictures.LevelsPng", sensor=sensor, size="small", **window),
        "spd_json_url": url_for("soundscape.Spd", sensor=sensor, **window),
        "levels_json_url": url_for("soundscape.SensorLevels", sensor=sensor, **window),
        "last_day": f"{days[-1]:%Y-%m-%d}",
        "day_file_url": url_for("soundscape.HmdDay", sensor=sensor, day=f"{days[-1]:%Y-%m-%d}"),
    }
