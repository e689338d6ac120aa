"""Which catalog this is: an id written once by ``hydroserve db init``, kept in the catalog and beside the blobs.

A catalog that vanished (its SQLite file deleted) or was replaced (a new,
empty one made where the old one was) must be noticed, not silently used:

* ``db init`` writes a random ``catalog_id`` into the one-row table
  ``catalog_identity``, and, when the blob store has no marker yet, the same
  id into its marker note (:data:`BLOB_MARKER`, a file in a local store, an
  object in S3): the blobs belong to that catalog.
* ``serve``, ``ingest`` and ``sync`` start only on a catalog that has its id
  (:func:`check_existing`), and not on one that holds no package while the
  blob store holds packages written for another catalog
  (:class:`CatalogNotReady`, with what to do).
* A running server remembers the id and, for SQLite, the file's identity
  (device and inode) of the catalog it opened (:class:`CatalogWatch`;
  if there was none yet, the first one it finds); ``/readyz`` and every
  write check them, so a deleted or swapped file answers 503.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url

from hydroserve.acoustics.blobstore import BlobStore, BlobStoreUnavailable

metadata = MetaData()

catalog_identity = Table(
    "catalog_identity",
    metadata,
    Column("row", Integer, primary_key=True),  # always 1: one row
    Column("catalog_id", String(36), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
)

BLOB_MARKER = ".catalog-id"
"""The blob store's note naming the catalog its blobs belong to."""
INIT_HINT = "create it with `hydroserve db init`"


class CatalogNotReady(RuntimeError):
    """The catalog is missing, not initialised, or not the one the blobs belong to; the message says what to do."""


def read_id(conn: Connection) -> str | None:
    """The catalog's id, or None when it has none (not made by ``db init``)."""
    if not inspect(conn).has_table(catalog_identity.name):
        return None
    return conn.execute(select(catalog_identity.c.catalog_id)).scalar_one_or_none()


def write_id(conn: Connection) -> str:
    """Give the catalog an id unless it has one (idempotent); return it."""
    existing = read_id(conn)
    if existing is not None:
        return existing
    catalog_id = str(uuid.uuid4())
    conn.execute(catalog_identity.insert().values(row=1, catalog_id=catalog_id))
    return catalog_id


def claim_blobs(blobs: BlobStore, catalog_id: str) -> str:
    """Mark the blob store as the blobs of ``catalog_id`` unless it is marked already; return the id it names.

    Raises
    ------
    CatalogNotReady
        The blob store cannot be used (saying why).
    """
    try:
        return blobs.create_note(BLOB_MARKER, catalog_id + "\n").strip()
    except BlobStoreUnavailable as error:
        raise CatalogNotReady(str(error)) from None


def mark_blobs(blobs: BlobStore, catalog_id: str) -> None:
    """Mark the blob store as the blobs of ``catalog_id``, replacing any marker (a restore: ``import-archive``)."""
    blobs.replace_note(BLOB_MARKER, catalog_id + "\n")


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite catalog; None for other databases (and in-memory SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def check_existing(database_url: str, engine: Engine, open_blobs: Callable[[], BlobStore], *, holds_packages) -> str:
    """The id of an existing, initialised catalog the blobs belong to; CatalogNotReady saying what to do otherwise.

    ``open_blobs()`` gives the blob store (opened only once the catalog is found: a local one makes its folder);
    ``holds_packages(conn) -> bool`` tells whether the catalog holds any package.
    """
    path = sqlite_path(database_url)
    if path is not None and not path.is_file():
        raise CatalogNotReady(f"there is no catalog at {path}: {INIT_HINT} (only `db init` and `demo` make one)")
    with engine.connect() as conn:
        catalog_id = read_id(conn)
        empty = catalog_id is not None and not holds_packages(conn)
    if catalog_id is None:
        raise CatalogNotReady(f"the catalog at {make_url(database_url).render_as_string()} was not made by `hydroserve db init` "
                              f"(it has no catalog id): {INIT_HINT}")
    blobs = open_blobs()
    try:
        marker = blobs.read_note(BLOB_MARKER)
    except BlobStoreUnavailable as error:
        raise CatalogNotReady(str(error)) from None
    owner = None if marker is None else marker.strip()
    if empty and owner is not None and owner != catalog_id and blobs.holds("DOM_"):
        raise CatalogNotReady(
            f"the catalog {catalog_id} holds no package, but the blob store {blobs} holds packages of catalog {owner}: "
            "the catalog was lost or replaced. Restore it from a backup (or point database_url at it); to start a new "
            f"archive on purpose, move {blobs} away first")
    return catalog_id


@dataclass(frozen=True)
class OpenedCatalog:
    """A catalog as found: its id (None: none there, or not initialised) and, for SQLite, the file and its (device, inode)."""

    catalog_id: str | None
    path: Path | None
    file_identity: tuple[int, int] | None

    @classmethod
    def of(cls, database_url: str, engine: Engine) -> OpenedCatalog:
        """The catalog at ``database_url`` now; a missing SQLite file is looked for without connecting (which would make one)."""
        path = sqlite_path(database_url)
        identity = _file_identity(path) if path is not None else None
        if path is not None and identity is None:
            return cls(None, path, None)
        with engine.connect() as conn:
            return cls(read_id(conn), path, identity)


class CatalogWatch:
    """The catalog a server uses: the one it found at start or, if there was none, the first it finds later; tells
    when the catalog in use is no longer that one."""

    def __init__(self, database_url: str, engine: Engine):
        self.database_url = database_url
        self.engine = engine
        self._opened = OpenedCatalog.of(database_url, engine)
        self._lock = threading.Lock()

    def problem(self) -> str | None:
        """Why the catalog in use is not the one opened (none yet, file deleted or replaced, another id), or None."""
        with self._lock:
            if self._opened.catalog_id is None:
                self._opened = OpenedCatalog.of(self.database_url, self.engine)
            opened = self._opened
        if opened.catalog_id is None:
            return f"there is no catalog made by `hydroserve db init` yet ({INIT_HINT})"
        now = OpenedCatalog.of(self.database_url, self.engine)
        if opened.path is not None and now.file_identity is None:
            return f"the catalog file {opened.path} has been deleted"
        if now.file_identity != opened.file_identity:
            return f"the catalog file {opened.path} has been replaced by another file"
        if now.catalog_id != opened.catalog_id:
            return f"the catalog is now {now.catalog_id}, not the catalog {opened.catalog_id} this server opened"
        return None


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino
