"""Bearer-token authentication for write endpoints.

Accepted tokens come from the configuration (``api_tokens``, env
``HYDROSERVE_API_TOKENS``, comma-separated). The presented token is compared
with every accepted token in constant time (``hmac.compare_digest``) and is
never logged. No ``Authorization`` header: 401 with ``WWW-Authenticate:
Bearer``; a wrong token: 403. Read endpoints need no token.
"""

from __future__ import annotations

import functools
import hmac

from flask import request
from werkzeug.exceptions import Forbidden, Unauthorized

from .services import services


def token_accepted(presented: str, accepted: tuple[str, ...]) -> bool:
    """Whether ``presented`` equals one of ``accepted``; every comparison runs, in constant time."""
    matched = False
    for token in accepted:
        matched |= hmac.compare_digest(presented.encode(), token.encode())
    return matched


def require_token(view):
    """Decorator: the request must carry ``Authorization: Bearer <accepted token>``."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            error = Unauthorized("This endpoint needs a bearer token: Authorization: Bearer <token>.")
            error.data = {"headers": {"WWW-Authenticate": 'Bearer realm="hydroserve"'}}
            raise error
        if not token_accepted(presented.strip(), services().settings.api_tokens):
            raise Forbidden("The bearer token is not accepted.")
        return view(*args, **kwargs)

    return wrapper
