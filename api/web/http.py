"""Serving stored products: streaming, Range (206), ETag/304, Last-Modified, caching."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from flask import Response, request
from marshmallow import Schema, fields
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.http import http_date, parse_accept_header, parse_etags, parse_range_header, quote_etag
from werkzeug.wsgi import wrap_file

from hydroserve.acoustics.integrity import VerifiedBlob
from hydroserve.acoustics.package_products import Served

from . import errors
from .services import services

IMMUTABLE_MAX_AGE_S = 365 * 86400
STREAM_CHUNK_BYTES = 1 << 20  # werkzeug's 8 KiB reads cap a 234 MB WAV at a third of what loopback carries
REVALIDATE_MAX_AGE_S = 3600
GZIP_LEVEL = 6  # levels 7-9 take 4x the time here for 0.02 % fewer bytes of a /psd document


class FileLinkSchema(Schema):
    """A file this service serves, as listed in a document: where, what, how big, and its SHA-256 (also its ETag)."""

    url = fields.String(metadata={"description": "where the file is served"})
    media_type = fields.String(metadata={"description": "its media type"})
    size_bytes = fields.Integer(metadata={"description": "its size in bytes"})
    sha256 = fields.String(metadata={"description": "its SHA-256 (hex), also its ETag"})


def send_stream(
    file: BinaryIO,
    size: int,
    *,
    media_type: str,
    etag: str,
    last_modified: datetime | None,
    download_name: str | None = None,
    immutable: bool = True,
) -> Response:
    """Stream a seekable file of ``size`` bytes with conditional and Range support.

    The file is read in chunks by the WSGI server (``wsgi.file_wrapper``;
    gunicorn uses sendfile for real files), so memory does not grow with
    the size. ``If-Match`` naming another tag gives 412 (empty),
    ``If-None-Match``/``If-Modified-Since`` 304, ``Range`` 206 (a single
    byte range; any other Range is ignored: 200), a single range beyond the
    end 416.

    The first chunk of the body is read before the answer is returned, so a
    file that fails at once (a damaged blob: :class:`BlobDamaged`) becomes an
    error answer; a failure later stops the body short of its Content-Length,
    and the client sees a broken transfer, never a complete one.

    With ``s3_serve = "redirect"``, a stored blob (a :class:`VerifiedBlob`)
    that would be sent (200 or 206) is checked whole and answered with 307 to
    a presigned URL of its object instead (the client's Range goes along).
    """
    failed = precondition_failed(etag)
    if failed is not None:
        file.close()
        return failed
    response = Response(wrap_file(request.environ, file, STREAM_CHUNK_BYTES), mimetype=media_type, direct_passthrough=True)
    response.content_length = size
    response.set_etag(etag)
    if last_modified is not None:
        response.last_modified = last_modified
    if download_name is not None:
        response.headers.set("Content-Disposition", "inline", filename=download_name)
    response.cache_control.public = True
    response.cache_control.max_age = IMMUTABLE_MAX_AGE_S if immutable else REVALIDATE_MAX_AGE_S
    if immutable:
        response.cache_control.immutable = True
    if not served_range():
        response = response.make_conditional(_without_if_match(), accept_ranges=False)
        response.accept_ranges = "bytes"
    else:
        response = response.make_conditional(_without_if_match(), accept_ranges=True, complete_length=size)
    if response.status_code in (200, 206) and services().blob_redirect is not None and isinstance(file, VerifiedBlob):
        return _redirect_to_object(response, file, etag, media_type=media_type, download_name=download_name)
    if request.method != "HEAD" and response.status_code in (200, 206):
        if isinstance(file, io.FileIO):  # a plain file, checked when it was opened (the view cache): sent by the kernel
            start, stop = (0, size) if response.status_code == 200 else (response.content_range.start,
                                                                        response.content_range.stop)
            response.response = wrap_file(request.environ, FileRange(file, start, stop), STREAM_CHUNK_BYTES)
        else:
            response.response = _Started(response.response)
    return response


class FileRange(io.RawIOBase):
    """Bytes ``[start, stop)`` of an open plain file, positioned at ``start``, for ``wsgi.file_wrapper``: gunicorn sends
    Content-Length bytes from the file descriptor's position with ``sendfile``; a server that reads instead gets
    nothing beyond ``stop``. Positions are the file's own (``seek``/``tell``), as ``socket.sendfile`` expects."""

    def __init__(self, file: io.FileIO, start: int, stop: int):
        self.file, self.stop = file, stop
        file.seek(start)

    def fileno(self) -> int:
        return self.file.fileno()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self.stop - self.file.tell()))
        return self.file.readinto(memoryview(buffer).cast("B")[:n]) if n else 0

    def close(self) -> None:
        self.file.close()
        super().close()


def _redirect_to_object(response: Response, blob: VerifiedBlob, etag: str, **headers) -> Response:
    """307 to a presigned URL of ``blob``'s object, after every chunk of it has been checked (a damaged one raises
    :class:`BlobDamaged`, recorded); never cached, since the URL expires."""
    try:
        blob.verify_all()
        location = services().blob_redirect(blob.key, **headers)
    finally:
        response.close()
    redirect = Response(status=307, headers={"Location": location, "Cache-Control": "no-store"})
    del redirect.headers["Content-Type"]  # no body
    redirect.set_etag(etag)
    return redirect


def precondition_failed(etag: str, *, weak: bool = False) -> Response | None:
    """412 with an empty body when the request's ``If-Match`` names neither ``*`` nor ``etag`` (RFC 9110 13.1.1,
    strong comparison: a ``weak`` ETag matches no tag), evaluated before anything else; None when the request may go
    on."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tags = parse_etags(header)
    if tags.star_tag or (not weak and tags.contains(etag)):
        return None
    response = Response(status=412)
    response.set_etag(etag, weak=weak)
    return response


def _without_if_match() -> dict:
    """The request's environ for werkzeug's conditional handling, without ``If-Match`` (decided by
    :func:`precondition_failed` already; werkzeug would answer 412, with the body, even to ``If-Match: *``)."""
    if "HTTP_IF_MATCH" not in request.environ:
        return request.environ
    return {key: value for key, value in request.environ.items() if key != "HTTP_IF_MATCH"}


def served_range() -> bool:
    """Whether the request's ``Range`` is one this server answers: absent, or one well-formed byte range. Any other
    (several ranges, another unit, a syntax error) is ignored, as RFC 9110 14.2 says: the answer is the whole body."""
    header = request.headers.get("Range")
    if header is None:
        return True
    ranges = parse_range_header(header)
    return ranges is not None and ranges.units == "bytes" and len(ranges.ranges) == 1


class _Started:
    """A response body whose first chunk has been read already (its errors are raised here, before any header
    is sent); ``close`` is passed on to the body."""

    def __init__(self, body):
        self.body = body
        self.rest = iter(body)
        try:
            self.first = next(self.rest, b"")
        except BaseException:
            self.close()
            raise

    def __iter__(self):
        yield self.first
        yield from self.rest

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


RANGE_HEADER = {
    "in": "header", "name": "Range", "required": False, "schema": {"type": "string", "example": "bytes=0-1023"},
    "description": "one byte range, e.g. bytes=0-1023: 206 with those bytes, 416 when it starts beyond the end; several "
                   "ranges, another unit or a malformed range are ignored (200, the whole file)"}
IF_NONE_MATCH_HEADER = {
    "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
    "description": "ETags the client holds (quoted, comma-separated, or *): 304 without a body when the current one is "
                   "among them"}


def file_doc(description: str, media_type: str, schema: dict | None = None) -> dict:
    """The documentation of a streamed file (``@bp.doc(**file_doc(...))``): the Range and If-None-Match headers, 200 with
    its media type, 206, 304 and 416."""
    schema = schema or {"type": "string", "format": "binary"}
    return {"parameters": [RANGE_HEADER, IF_NONE_MATCH_HEADER],
            "responses": {"200": {"description": description, "content": {media_type: {"schema": schema}}},
                          "206": {"description": "partial content: the one range asked for"},
                          "304": {"description": "not modified"},
                          "416": {"description": "the range starts beyond the end of the file",
                                  "content": {errors.MEDIA_TYPE: {"schema": errors.ProblemSchema}}}}}


def send_served(served: Served, *, last_modified: datetime | None, download_name: str | None = None) -> Response:
    """A product as :class:`~hydroserve.acoustics.package_products.Served` says: streamed with Range support,
    or, for a small document made for this request, as JSON bytes with ETag/304."""
    if served.in_memory:
        return send_json_bytes(served.file.read(), etag=served.etag, last_modified=last_modified)
    return send_stream(served.file, served.size_bytes, media_type=served.media_type, etag=served.etag,
                       last_modified=last_modified, download_name=download_name, immutable=served.immutable)


CONDITIONAL_ENVIRON = ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE",
                       "HTTP_IF_RANGE", "HTTP_RANGE")
"""The request headers (as WSGI environ keys) that can make an answer other than 200 with the whole body."""


def send_json_bytes(data: bytes, *, etag: str, last_modified: datetime | None = None, max_age_s: int = REVALIDATE_MAX_AGE_S,
                    weak: bool = False, encoding: str | None = None, vary: str | None = None) -> Response:
    """Small JSON bytes with ETag/304 (412 for an ``If-Match`` naming another tag; a ``weak`` ETag never matches one)
    and caching; ``encoding``: the bytes' ``Content-Encoding`` (sent with the whole body only), ``vary``: a request
    header the answer depends on.

    A GET or HEAD without conditional or Range headers (a poll that holds nothing yet, a client that keeps nothing)
    gets the headers werkzeug's conditional handling would give, written at once."""
    environ = request.environ
    if environ["REQUEST_METHOD"] in ("GET", "HEAD") and not any(name in environ for name in CONDITIONAL_ENVIRON):
        headers = [("Content-Type", "application/json"), ("ETag", quote_etag(etag, weak=weak))]  # Content-Length: the body's
        if last_modified is not None:
            headers.append(("Last-Modified", http_date(last_modified)))
        headers += [("Cache-Control", f"public, max-age={max_age_s}"), ("Date", http_date())]
        if encoding is not None:
            headers.append(("Content-Encoding", encoding))
        if vary is not None:
            headers.append(("Vary", vary))
        return Response(data, headers=headers)
    failed = precondition_failed(etag, weak=weak)
    if failed is not None:
        return failed
    response = Response(data, mimetype="application/json")
    response.set_etag(etag, weak=weak)
    if last_modified is not None:
        response.last_modified = last_modified
    response.cache_control.public = True
    response.cache_control.max_age = max_age_s
    response = response.make_conditional(_without_if_match())
    if encoding is not None and response.status_code == 200:
        response.content_encoding = encoding
    if vary is not None:
        response.vary.add(vary)
    return response


def send_made(etag: str, media_type: str, make: Callable[[], bytes], *, max_age_s: int) -> Response:
    """Bytes made on demand (a picture drawn for the current state of what it shows) under an ``etag`` known before
    they are made: a client that has them gets 304 and ``make`` is not called."""
    response = Response(mimetype=media_type)
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = max_age_s
    response.make_conditional(request)
    if response.status_code == 304:
        return response
    response.set_data(make())
    return response


@dataclass(frozen=True)
class EncodedDocument:
    """A JSON document's bytes as sent, prepared once: as they are, and gzipped when that is smaller (level
    :data:`GZIP_LEVEL`, no time stamp: the same bytes from every node running the same zlib); ``etag`` names the bytes.

    Kept per process keyed by ``etag`` (:class:`~.services.Services`): a content hash, so never stale."""

    data: bytes
    gzipped: bytes | None
    etag: str

    @classmethod
    def of(cls, data: bytes, etag: str) -> EncodedDocument:
        gzipped = gzip.compress(data, GZIP_LEVEL, mtime=0)
        return cls(data, gzipped if len(gzipped) < len(data) else None, etag)


def send_document(document: EncodedDocument, *, last_modified: datetime) -> Response:
    """A prepared JSON document as :func:`send_json_bytes` sends it, gzipped for a client whose ``Accept-Encoding``
    takes gzip (``Content-Encoding: gzip``, the weak ETag ``W/"<etag>-gzip"``: a representation of its own), and
    ``Vary: Accept-Encoding`` on every answer."""
    if document.gzipped is not None and accepts_gzip(request.environ.get("HTTP_ACCEPT_ENCODING")):
        return send_json_bytes(document.gzipped, etag=document.etag + "-gzip", weak=True, last_modified=last_modified,
                               encoding="gzip", vary="Accept-Encoding")
    return send_json_bytes(document.data, etag=document.etag, last_modified=last_modified, vary="Accept-Encoding")


@functools.lru_cache(maxsize=64)
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether a request with this ``Accept-Encoding`` takes gzip (a quality above 0, by name or ``*``); kept per
    header value, since clients send few different ones."""
    return parse_accept_header(accept_encoding)["gzip"] > 0


def send_json(document, *, max_age_s: int = REVALIDATE_MAX_AGE_S) -> Response:
    """A JSON document whose ETag is a hash of its bytes, and no Last-Modified: right for documents that
    change when other records arrive (a feed page, an alert's synopsis), where a time would answer 304 wrongly."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return send_json_bytes(body, etag=hashlib.sha256(body).hexdigest()[:40], max_age_s=max_age_s)


def accepts(*media_types: str):
    """Decorator: the request body must have one of ``media_types`` (415 naming them otherwise)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if request.mimetype not in media_types:
                given = request.mimetype or "none"
                raise UnsupportedMediaType(f"Content-Type {given!r} is not accepted here; send {' or '.join(media_types)}.")
            return view(*args, **kwargs)

        return wrapper

    return decorate
