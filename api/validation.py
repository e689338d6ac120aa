"""Fields and validators shared by the web schemas, the domains and the configuration, whose messages say what is
expected: times as users type them, values that must match a pattern."""

from __future__ import annotations

import re
from datetime import UTC

from marshmallow import ValidationError, fields, validate

DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_FORMS = "RFC 3339 with a zone, such as 2024-05-01T00:00:00Z, or a date, such as 2024-05-01 (its midnight UTC)"


class FilterTime(fields.AwareDateTime):
    """A time to select by: RFC 3339 with a zone, or a date alone, read as its midnight UTC."""

    default_error_messages = {"invalid": f"Not a valid time: give {TIME_FORMS}.",
                              "invalid_awareness": f"Not a valid time (no zone): give {TIME_FORMS}."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and DATE_ONLY.fullmatch(value):
            value += "T00:00:00Z"
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError(f"{value} has no UTC equivalent (years 1 to 9999).") from None
        return moment


def described(text: str, example=None, **field_options) -> dict:
    """A marshmallow field's keyword arguments with its documentation: ``text`` (and an ``example``) in its metadata
    (the OpenAPI document and ``hydroserve config`` show them), with ``field_options`` such as ``allow_none``."""
    metadata = {"description": text} if example is None else {"description": text, "example": example}
    return {"metadata": metadata, **field_options}


def matching(pattern: str, *, error: str | None = None) -> validate.Regexp:
    """A pattern check whose message shows the pattern (marshmallow's own only says it did not match)."""
    return validate.Regexp(pattern, error=error or "Must match the pattern {regex}.")
