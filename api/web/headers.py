"""Response headers every answer gets: security headers and CORS for the public read endpoints.

CORS: the data are public, so GET and HEAD answers carry
``Access-Control-Allow-Origin: *`` (with the headers a player or harvester
needs exposed), and a preflight is granted for GET and HEAD only. Write
endpoints get no CORS grant: a browser on another origin cannot call them.
"""

from __future__ import annotations

from flask import Response, request

from hydroserve.api.urls import API_PREFIX, DOCS

READ_METHODS = {"GET", "HEAD"}
EXPOSED = "ETag, Last-Modified, Link, Content-Range, Content-Disposition, Accept-Ranges, Content-Length"
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
DOCS_POLICY = PAGE_POLICY + "; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"


def add(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", DOCS_POLICY if request.path.startswith(API_PREFIX + DOCS) else PAGE_POLICY)
    preflight_method = request.headers.get("Access-Control-Request-Method")
    if request.method in READ_METHODS:
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Access-Control-Expose-Headers"] = EXPOSED
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    elif request.method == "OPTIONS" and preflight_method in READ_METHODS:
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        headers["Access-Control-Allow-Headers"] = "Range, If-None-Match, If-Modified-Since, Accept"
        headers["Access-Control-Max-Age"] = "86400"
    return response
