"""Every 4xx/5xx response is ``application/problem+json`` (RFC 9457).

Fields: ``type`` (a URI naming the problem kind; ``about:blank`` for plain
HTTP statuses), ``title``, ``status``, ``detail`` and, for invalid input,
``errors``: the marshmallow field messages by location and field, e.g.
``{"query": {"limit": ["Must be between 1 and 1000."]}}``.

Invalid query or path parameters are 400 Bad Request; an invalid JSON body
is 422 Unprocessable Content, as webargs reports it.
"""

from __future__ import annotations

import errno
import json
import logging

import marshmallow as ma
from flask import Response
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://hydroserve.km3net.org/problems/"


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem details object."""

    type = ma.fields.String(metadata={"description": "URI naming the kind of problem"})
    title = ma.fields.String(metadata={"description": "short summary of the kind of problem"})
    status = ma.fields.Integer(metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "what went wrong in this request"})
    errors = ma.fields.Dict(metadata={"description": "field errors by location (query, path, json, ...) and field"})


PROBLEM = {"schema": ProblemSchema, "content_type": MEDIA_TYPE}
"""``@bp.alt_response(status, description=..., **PROBLEM)``: an error documented as problem+json."""


def problem(status: int, detail: str, *, title: str | None = None, kind: str | None = None, errors: dict | None = None,
            headers: dict | None = None, extensions: dict | None = None) -> Response:
    """A problem+json response (``extensions``: members of this problem type beyond the standard ones)."""
    body = {
        "type": PROBLEM_BASE + kind if kind else "about:blank",
        "title": title or _status_title(status),
        "status": status,
        "detail": detail,
        **(extensions or {}),
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _status_title(status: int) -> str:
    return HTTP_STATUS_CODES.get(status, "Error")


def from_http_exception(error: HTTPException) -> Response:
    """Turn any HTTPException (including webargs validation errors) into problem+json."""
    if isinstance(error, InternalServerError):
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("unhandled error", exc_info=original)
        return problem(500, "The server failed to answer this request; it has been logged.")
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    status = error.code or 500
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    if status == 422 and errors and set(errors) <= {"query", "path", "headers", "cookies"}:
        status = 400
    if errors:
        detail = "Invalid input: " + "; ".join(_describe(errors)[:8]) + "."
    else:
        detail = data.get("message") or error.description or _status_title(status)
    return problem(status, detail, errors=errors, headers=headers)


def _describe(messages, path: tuple[str, ...] = ()) -> list[str]:
    """Flatten marshmallow messages into ``"query parameter 'limit': Not a valid integer"`` lines."""
    if isinstance(messages, dict):
        return [line for key, value in messages.items() for line in _describe(value, path + (str(key),))]
    texts = [m for m in messages if isinstance(m, str)] if isinstance(messages, list) else [str(messages)]
    nested = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    lines = [f"{_where(path)}: {' '.join(texts).rstrip('.')}"] if texts else []
    return lines + [line for m in nested for line in _describe(m, path)]


def _where(path: tuple[str, ...]) -> str:
    location, *names = path or ("request",)
    kind = {"query": "query parameter", "path": "path parameter", "json": "field", "form": "form field",
            "files": "file", "headers": "header"}.get(location, location)
    if not names or names == ["_schema"]:
        return "request body" if location in ("json", "form", "files") else kind
    return f"{kind} {'.'.join(n for n in names if n != '_schema')!r}"


def catalog_unavailable(error: Exception) -> Response:
    """The catalog cannot be used right now (locked, down): 503 with Retry-After, never 500."""
    log.warning("catalog unavailable: %s", error)
    return problem(503, "The catalog is unavailable right now; retry shortly.", kind="catalog-unavailable",
                   headers={"Retry-After": "5"})


def blob_missing(error: Exception) -> Response:
    """A catalogued file is missing from the blob store: 503 (the bytes may come back from a replica), logged with the key."""
    log.error("blob missing from the store: %s", error)
    return problem(503, "A stored file of this resource is missing from the blob store.", kind="blob-missing",
                   headers={"Retry-After": "60"})


def blob_damaged(error) -> Response:
    """A stored file of this resource does not match its checksums: 503 until it is repaired (the damage was logged
    with the blob key and recorded in the catalog when found)."""
    return problem(503, f"A stored file of this resource is damaged ({error.detail}); it is served again once repaired.",
                   kind="blob-damaged", headers={"Retry-After": "3600"})


class ProductExpired(Exception):
    """A product of a package that the retention rules deleted (see :func:`product_expired`)."""

    def __init__(self, record, kind: str, expiry):
        super().__init__(f"{kind} of {record.package_id} expired at {expiry.expired_at}")
        self.record, self.kind, self.expiry = record, kind, expiry


def product_expired(error: ProductExpired) -> Response:
    """410 Gone: the product was deleted by retention, for good; the problem says when and why, and which of the
    package's products are still served."""
    record, kind = error.record, error.kind
    kept = sorted(k for k in record.products if k not in record.expired)
    detail = (f"The {kind} product of package {record.package_id} was deleted on {error.expiry.as_json()['expired_at']} "
              f"({error.expiry.reason}). " + (f"Still served: {', '.join(kept)}." if kept else "None of its products is kept."))
    return problem(410, detail, kind="product-expired", extensions={
        "package_id": record.package_id, "product": kind, **error.expiry.as_json(), "products_kept": kept})


NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def storage_error(error: OSError) -> Response:
    """A write that found the disk full (a product rendered on demand, a blob): 503 with Retry-After, like a catalog
    that cannot write; any other OSError is the server's fault (500)."""
    if error.errno in NO_SPACE_ERRNOS:
        log.error("no space left to store: %s", error)
        return problem(503, "The server has no space left to store this answer; retry later.", kind="storage-full",
                       headers={"Retry-After": "60"})
    return from_http_exception(InternalServerError(original_exception=error))
