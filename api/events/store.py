"""Published event tables: the catalog table, reading publish input, and publishing atomically.

This module owns the ``event_tables`` table of the catalog: one row per
published table with its canonical metadata and the blob of each stored
format (``csv``, ``meta`` = the CSV's metadata file, ``hdf5``, ``votable``).

Publishing a table

1. encodes every format in memory;
2. writes the blobs under content-addressed keys
   ``events/<table id>/<digest>/<table id>.<ext>`` (atomic and durable,
   invisible until step 3 commits; a failed or losing publish leaves only
   blobs nobody points to);
3. in one write transaction inserts the row and registers the table's
   resources with their outbox rows.

Tables are immutable: the digest (SHA-256 of the canonical metadata file
and CSV) identifies the content. Publishing the same content again changes
nothing; different content under a published id is refused (publish it
under a new id, e.g. with a version suffix).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from hydroserve.acoustics.blobstore import BlobStore
from hydroserve.api.config import Settings
from hydroserve.codecs import SOFTWARE_VERSION, csvtable, hdf5table, tables
from hydroserve.codecs.tables import EventTable, MetadataError, TableError
from hydroserve.codecs.times import as_utc

from . import registration as event_registration
from .metadata import InvalidMetadata, flatten, load_metadata
from .registration import PRODUCTS

log = logging.getLogger(__name__)

metadata = MetaData()

event_tables = Table(
    "event_tables",
    metadata,
    Column("table_id", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("digest", String(64), nullable=False, comment="SHA-256 of the canonical metadata file, a NUL byte and the CSV"),
    Column("document", JSON, nullable=False, comment="canonical metadata document"),
    Column("products", JSON, nullable=False, comment="format -> {key, size_bytes, sha256}"),
    Column("cone_search", JSON, nullable=True, comment="the cone search's test query; null without sky positions"),
    Column("resources", JSON, nullable=False, comment="kids of the registered resources"),
    Column("software_version", String(32), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class TableRecord:
    """A published table as the catalog knows it."""

    table_id: str
    title: str
    n_rows: int
    digest: str
    document: dict
    products: dict[str, dict]
    cone_search: dict | None  # the test query of its cone search (see event_registration); None without sky positions
    resources: tuple[str, ...]
    software_version: str
    created: datetime

    def load_metadata(self) -> tables.TableMetadata:
        return load_metadata(self.document)


class InvalidInput(ValueError):
    """Publish input that cannot be accepted; ``errors`` maps "metadata"/"table" to the problems."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(self.lines()))

    def lines(self) -> list[str]:
        """Every problem on its own line, prefixed with where it is, e.g. "metadata.columns.energy_gev.unit: ..."."""
        return flatten(self.errors)


class TableConflict(ValueError):
    """A different table is already published under this id."""


@dataclass(frozen=True)
class Published:
    record: TableRecord
    created: bool  # False: the same content was already published


def read_input(table_data: bytes, metadata_data: bytes, *, max_rows: int, hdf5_dataset: str = "events") -> EventTable:
    """Build an event table from publish input: rows as CSV or HDF5 (told apart by the HDF5 signature), metadata as JSON or TOML.

    Raises
    ------
    InvalidInput
        ``{"metadata": {field: messages}}`` when the metadata does not
        validate (columns named), else ``{"table": [problems]}`` naming
        rows, lines and columns.
    """
    try:
        metadata_document = tables.read_metadata_document(metadata_data)
        table_metadata = load_metadata(metadata_document)
    except MetadataError as error:
        raise InvalidInput({"metadata": [error.message]}) from None
    except InvalidMetadata as error:
        raise InvalidInput({"metadata": error.messages}) from None
    try:
        if table_data.startswith(hdf5table.HDF5_SIGNATURE):
            table = hdf5table.decode(table_data, table_metadata, dataset=hdf5_dataset)
        else:
            table = csvtable.decode(table_data, table_metadata)
    except TableError as error:
        raise InvalidInput({"table": error.problems + ([f"and {error.n_more} more problems"] if error.n_more else [])}) from None
    if table.n_rows > max_rows:
        raise InvalidInput({"table": [f"{table.n_rows} events exceed the limit of {max_rows} (events_max_rows)"]})
    return table


def _record(row) -> TableRecord:
    return TableRecord(
        table_id=row.table_id, title=row.title, n_rows=row.n_rows, digest=row.digest, document=row.document,
        products=row.products, cone_search=row.cone_search, resources=tuple(row.resources),
        software_version=row.software_version, created=as_utc(row.created),
    )


def get_table(conn: Connection, table_id: str) -> TableRecord | None:
    row = conn.execute(select(event_tables).where(event_tables.c.table_id == table_id)).first()
    return None if row is None else _record(row)


def list_tables(conn: Connection, *, after: str | None = None, limit: int = 100) -> list[TableRecord]:
    """Tables by id ascending, after the id ``after``."""
    query = select(event_tables).order_by(event_tables.c.table_id).limit(limit)
    if after is not None:
        query = query.where(event_tables.c.table_id > after)
    return [_record(row) for row in conn.execute(query)]


def _digest(metadata_bytes: bytes, csv_bytes: bytes) -> str:
    return hashlib.sha256(metadata_bytes + b"\0" + csv_bytes).hexdigest()


def _existing(conn: Connection, table_id: str, digest: str) -> TableRecord | None:
    """The published table with this id if its content is the same; raise TableConflict if it differs."""
    record = get_table(conn, table_id)
    if record is not None and record.digest != digest:
        raise TableConflict(f"table {table_id!r} is already published with different content (digest {record.digest[:12]}); "
                            "published tables do not change: publish this one under a new id")
    return record


def publish(engine: Engine, blobs: BlobStore, settings: Settings, table: EventTable) -> Published:
    """Store a table in every format and register it, atomically (see the module docstring).

    ``engine`` must be a writer engine (:func:`~hydroserve.api.db.writer`).

    Raises
    ------
    TableConflict
        A table with the same id but different content is published.
    """
    table_id = table.metadata.id
    encoded = {"csv": csvtable.encode(table), "meta": tables.encode_metadata(table.metadata)}
    digest = _digest(encoded["meta"], encoded["csv"])
    with engine.connect() as conn:
        existing = _existing(conn, table_id, digest)
    if existing is not None:
        return Published(existing, created=False)
    encoded["hdf5"] = hdf5table.encode(table)
    from hydroserve.codecs import votable  # astropy: imported by publishing, not by every command that opens the catalog

    encoded["votable"] = votable.encode_table(table)
    products = {}
    for kind, data in encoded.items():
        info = blobs.put(f"events/{table_id}/{digest[:16]}/{table_id}.{PRODUCTS[kind].extension}", [data])
        products[kind] = {"key": info.key, "size_bytes": info.size_bytes, "sha256": info.sha256}
    test_query = event_registration.cone_search_test_query(table)
    try:
        with engine.begin() as conn:
            existing = _existing(conn, table_id, digest)
            if existing is not None:
                return Published(existing, created=False)
            kids = event_registration.register_table(conn, settings, table, products, test_query)
            conn.execute(insert(event_tables).values(
                table_id=table_id, title=table.metadata.title, n_rows=table.n_rows, digest=digest,
                document=tables.metadata_to_dict(table.metadata), products=products, cone_search=test_query,
                resources=kids, software_version=SOFTWARE_VERSION, created=datetime.now(UTC),
            ))
    except IntegrityError:
        # another writer committed the same id between our check and our insert (databases without BEGIN IMMEDIATE)
        with engine.connect() as conn:
            existing = _existing(conn, table_id, digest)
        if existing is None:
            raise
        return Published(existing, created=False)
    with engine.connect() as conn:
        record = get_table(conn, table_id)
    log.info("published event table %s: %d events, digest %s", table_id, table.n_rows, digest[:12])
    return Published(record, created=True)
