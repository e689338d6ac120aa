"""Absolute URLs of many records of one endpoint, e.g. the fourteen links of each of a page's 100 packages.

``url_for`` matches the endpoint's rule and builds the URL anew on every call
(about 60 µs here); a page of packages made a thousand of them. Per request,
:func:`url_templates` asks ``url_for`` once per endpoint, for a marker value,
and keeps its answer as a ``str.format`` template with ``{}`` in the marker's
place; a record's URL is its template filled with the record's value quoted as
the routing quotes it (:func:`quoted`): the same string ``url_for`` gives.
"""

from __future__ import annotations

from flask import current_app, g, url_for

MARKER = "__hydroserve_record__"
"""A value no record has, of characters the routing does not quote (so it appears in the URL as is)."""


class _Templates(dict):
    """Endpoint -> template of its absolute URL with the rule's one variable ``name`` as ``{}``, made on first use."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def __missing__(self, endpoint: str) -> str:
        parts = url_for(endpoint, **{self.name: MARKER}, _external=True).split(MARKER)
        if len(parts) != 2:
            raise ValueError(f"{endpoint}: the marker for {self.name!r} appears {len(parts) - 1} times in its URL")
        prefix, suffix = (part.replace("{", "{{").replace("}", "}}") for part in parts)
        template = self[endpoint] = prefix + "{}" + suffix
        return template


def url_templates(name: str) -> dict[str, str]:
    """This request's URL templates (endpoint -> template) of the endpoints whose rule has the one variable ``name``:
    ``url_templates(name)[endpoint].format(quoted(value))`` is ``url_for(endpoint, **{name: value}, _external=True)``."""
    templates = g.setdefault("url_templates", {})
    by_name = templates.get(name)
    if by_name is None:
        by_name = templates[name] = _Templates(name)
    return by_name


def quoted(value: str) -> str:
    """``value`` as the routing puts it in a URL (the quoting of the app's default converter)."""
    quote = g.get("url_quote")
    if quote is None:
        quote = g.url_quote = current_app.url_map.converters["default"](current_app.url_map).to_url
    return quote(value)


def record_url(endpoint: str, name: str, value: str) -> str:
    """``url_for(endpoint, **{name: value}, _external=True)`` for an endpoint whose rule has the one variable ``name``."""
    return url_templates(name)[endpoint].format(quoted(value))
