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


DEFAULTS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"))
"""Security headers every answer gets, unless its view gave its own."""
READ_GRANT = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSED),
              ("Cross-Origin-Resource-Policy", "cross-origin"))
PREFLIGHT_GRANT = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
                   ("Access-Control-Allow-Headers", "Range, If-None-Match, If-Modified-Since, Accept"),
                   ("Access-Control-Max-Age", "86400"))


def add(response: Response) -> Response:
    """``after_request``: the security headers (a view's own kept) and the CORS grant (replacing a view's), added in one
    pass over the answer's headers."""
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    added = [(name, value) for name, value in DEFAULTS if name.lower() not in present]
    if response.mimetype == "text/html" and "content-security-policy" not in present:
        added.append(("Content-Security-Policy", DOCS_POLICY if request.path.startswith(API_PREFIX + DOCS) else PAGE_POLICY))
    grant = ()
    if request.method in READ_METHODS:
        grant = READ_GRANT
    elif request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method") in READ_METHODS:
        grant = PREFLIGHT_GRANT
    for name, value in grant:
        if name.lower() in present:
            del headers[name]
        added.append((name, value))
    headers.extend(added)
    return response
