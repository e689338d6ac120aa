"""Finding what a URL names: the id checked against its pattern first, then loaded, else 404 problem+json."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from flask import abort

T = TypeVar("T")


def check_id(value: str, pattern: str, what: str, *, example: str | None = None) -> None:
    """404 for an id that cannot exist (wrong form, over-long), before anything is looked up."""
    if not re.fullmatch(pattern, value):
        shape = example or pattern.strip("^$")
        abort(404, description=f"No {what} {value[:80]!r}: {what} ids look like {shape}.")


def load_or_404(what: str, value: str, pattern: str, load: Callable[[], T | None], *, example: str | None = None) -> T:
    """The object ``load()`` finds for the id ``value`` of a ``what``; 404 naming it when the id is malformed or unknown."""
    check_id(value, pattern, what, example=example)
    found = load()
    if found is None:
        abort(404, description=f"No {what} {value!r}.")
    return found
