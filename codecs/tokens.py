"""Opaque position tokens: a small JSON array as unpadded URL-safe base64.

The page cursors of the HTTP feeds and the OAI-PMH resumption tokens are
written in this form; each user decides what the values mean. A token
holds only what this service writes into one: integers that fit a signed
64-bit column and strings that are valid Unicode (no lone surrogates), so
whatever a client sends back can go to the catalog without overflowing or
failing to encode.
"""

from __future__ import annotations

import base64
import binascii
import json

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def encode(values: list) -> str:
    """The token of ``values`` (JSON-serialisable), e.g. ``["a", 1]`` -> ``WyJhIiwxXQ``."""
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(text: str, types: tuple[type, ...]) -> list:
    """The values of a token that holds exactly one value of each of ``types``, in order.

    Raises
    ------
    ValueError
        ``text`` is not base64 of a JSON array of values of ``types`` (a ``bool`` is not an ``int`` here),
        or holds an integer outside the signed 64-bit range or a string that is not valid Unicode.
    """
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError(f"{text[:40]!r} is not a token of this service") from None
    if not isinstance(values, list) or len(values) != len(types) or not all(
        isinstance(v, t) and not (t is int and isinstance(v, bool)) for v, t in zip(values, types)
    ):
        raise ValueError(f"{text[:40]!r} does not hold values of types {[t.__name__ for t in types]}")
    if not all(_storable(v) for v in values):
        raise ValueError(f"{text[:40]!r} holds a value no token of this service holds")
    return values


def _storable(value) -> bool:
    """Whether a decoded value is one this service could have written: an int64, or a string UTF-8 can encode."""
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True
