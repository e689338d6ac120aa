"""Opaque pagination cursors: URL-safe base64 of a small JSON array."""

from __future__ import annotations

import base64
import binascii
import json

from marshmallow import ValidationError


def encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(text: str, types: tuple[type, ...]) -> list:
    """Decode a cursor holding values of ``types``; raise ValidationError (a 400) otherwise."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationError("Not a cursor issued by this service.") from None
    if not isinstance(values, list) or len(values) != len(types) or not all(
        isinstance(v, t) and not (t is int and isinstance(v, bool)) for v, t in zip(values, types)
    ):
        raise ValidationError("Not a cursor issued by this service.")
    return values
