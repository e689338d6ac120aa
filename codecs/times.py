"""UTC instants: normalising stored datetimes and writing RFC 3339 text."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` as a timezone-aware UTC datetime; a naive one (as SQLite returns them) is taken to be UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime, timespec: str = "microseconds") -> str:
    """RFC 3339 in UTC with a ``Z``, e.g. ``2020-12-23T19:28:00.000002Z`` (``timespec`` as for ``isoformat``)."""
    return as_utc(value).isoformat(timespec=timespec).replace("+00:00", "Z")


def readable_utc(value: datetime) -> str:
    """For people: ``2020-12-23 19:28:00 UTC`` (whole seconds)."""
    return f"{as_utc(value):%Y-%m-%d %H:%M:%S} UTC"
