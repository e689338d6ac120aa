"""A product of a package as the catalog records it (:mod:`.catalog` stores it, :mod:`.products` makes it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ProductSummary:
    """A product as a listing of packages shows it: its kind, media type, size and checksum."""

    kind: str
    media_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class ProductRecord(ProductSummary):
    """One product of a package as catalogued.

    ``version`` is 1 as made at ingest and grows by one with every rebuild
    that changed it (:mod:`.reprocess`); a rebuilt version also records the
    reprocessing ``job_id``, the ``settings`` and ``software_version`` that
    made it, when (``made_at``), and a summary of the version it ``replaces``
    (None for version 1, whose settings, software version and time are the
    package's).
    """

    blob_key: str | None
    details: dict
    version: int = 1
    job_id: int | None = None
    settings: dict | None = None
    software_version: str | None = None
    made_at: datetime | None = None
    replaces: dict | None = None
