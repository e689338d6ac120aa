"""Absolute URLs of many records of one endpoint, e.g. the ten links of each of a page's 100 packages.

``url_for`` matches the endpoint's rule and builds the URL anew on every call
(about 60 µs here); a page of packages made a thousand of them. :func:`record_url`
asks ``url_for`` once per request and endpoint, for a marker value, and then
only puts each record's value, quoted as the routing quotes it, in the marker's
place: the same string ``url_for`` gives.
"""

from __future__ import annotations

from flask import current_app, g, url_for

MARKER = "__hydroserve_record__"
"""A value no record has, of characters the routing does not quote (so it appears in the URL as is)."""


def record_url(endpoint: str, name: str, value: str) -> str:
    """``url_for(endpoint, **{name: value}, _external=True)`` for an endpoint whose rule has the one variable ``name``."""
    templates = g.setdefault("record_url_templates", {})
    template = templates.get((endpoint, name))
    if template is None:
        parts = url_for(endpoint, **{name: MARKER}, _external=True).split(MARKER)
        if len(parts) != 2:
            raise ValueError(f"{endpoint}: the marker for {name!r} appears {len(parts) - 1} times in its URL")
        quote = current_app.url_map.converters["default"](current_app.url_map).to_url
        template = templates[(endpoint, name)] = (parts[0], quote, parts[1])
    prefix, quote, suffix = template
    return prefix + quote(value) + suffix
