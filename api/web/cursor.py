"""Opaque pagination cursors (URL-safe base64 of a small JSON array), as query parameters and next-page links."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import request, url_for
from marshmallow import ValidationError, fields, validate

from hydroserve.codecs import tokens


def decode(text: str, types: tuple[type, ...]) -> list:
    """Decode a cursor holding values of ``types``; raise ValidationError (a 400) otherwise."""
    try:
        return tokens.decode(text, types)
    except ValueError:
        raise ValidationError("Not a cursor issued by this service.") from None


class Cursor(fields.String):
    """A query parameter holding a cursor of ``types``: the view receives the decoded list; anything
    this service did not issue is a 400 naming the parameter, like any other invalid parameter."""

    def __init__(self, *types: type, **kwargs):
        super().__init__(validate=validate.Length(max=1024), metadata={"description": "opaque position from a previous page's `next`"},
                         **kwargs)
        self.types = types

    def _deserialize(self, value, attr, data, **kwargs):
        return decode(super()._deserialize(value, attr, data, **kwargs), self.types)


def next_url_field() -> fields.String:
    """The ``next`` member of a paged document: the next page's URL (also in the Link header), null on the last page."""
    return fields.String(allow_none=True, metadata={"description": "URL of the next page, also in the Link header; null on the last page"})


NEXT_LINK = {"Link": {"description": 'the next page: <url>; rel="next"', "schema": {"type": "string"}}}
"""The documented response header of a paged endpoint."""


def next_page(endpoint: str, values: list, *, external: bool = True, **view_args) -> tuple[str, dict[str, str]]:
    """The URL of the next page (this request's query, every value kept, with a new ``cursor``) and its Link header."""
    kept = [(key, value) for key, value in request.args.items(multi=True) if key != "cursor"]
    url = url_for(endpoint, _external=external, **view_args) + "?" + urlencode([*kept, ("cursor", tokens.encode(values))])
    return url, {"Link": f'<{url}>; rel="next"'}
