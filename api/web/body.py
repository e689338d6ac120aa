"""Request bodies sent without a Content-Length (``Transfer-Encoding: chunked``): read whole before any view runs.

A chunked body's size is known only once it has been read, and the WSGI
server's chunk parser raises its own errors from inside whatever reads the
stream first (JSON, a form, a file). So such a body is read here, up to the
app's ``MAX_CONTENT_LENGTH``, and handed on as an ordinary sized body: one
byte over the limit is 413, a body the server cannot de-chunk is 400, both
problem+json, before authentication or parsing see anything.
"""

from __future__ import annotations

import io

from flask import current_app, request
from gunicorn.http.errors import ParseException

from . import errors

READ_BYTES = 64 * 1024


def read_chunked() -> None:
    """``before_request``: replace a chunked body by the same bytes with a Content-Length (or answer 413/400)."""
    environ = request.environ
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    body = io.BytesIO()
    try:
        while body.tell() <= limit:
            piece = environ["wsgi.input"].read(READ_BYTES)
            if not piece:
                break
            body.write(piece)
    except (ParseException, OSError, ValueError) as error:
        return errors.problem(400, f"The chunked request body is malformed: {type(error).__name__}.", kind="malformed-body")
    if body.tell() > limit:
        return errors.problem(413, f"The request body exceeds the limit of {limit} bytes.")
    environ["wsgi.input"] = io.BytesIO(body.getvalue())
    environ["CONTENT_LENGTH"] = str(body.tell())
    environ.pop("HTTP_TRANSFER_ENCODING")
    environ["wsgi.input_terminated"] = False
    return None
