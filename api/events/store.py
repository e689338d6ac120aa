"""The ``event_tables`` table of the catalog: one row per published table, and reading a published table back.

Each row holds the table's canonical metadata document and the blob of each
stored format (``csv``, ``meta`` = the CSV's metadata file, ``hdf5``,
``votable``); :mod:`.publishing` writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, insert, select
from sqlalchemy.engine import Connection

from hydroserve.acoustics.integrity import Integrity
from hydroserve.codecs import table_metadata
from hydroserve.codecs.tables import EventTable
from hydroserve.codecs.times import as_utc

from .metadata import load_metadata

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
    document: dict  # the canonical metadata document (table_metadata.metadata_to_dict)
    products: dict[str, dict]
    cone_search: dict | None  # the test query of its cone search (see registration); None without sky positions
    resources: tuple[str, ...]
    software_version: str
    created: datetime

    def load_metadata(self) -> table_metadata.TableMetadata:
        return load_metadata(self.document)


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


def insert_table(conn: Connection, record: TableRecord) -> None:
    """Add the row of a published table, in the caller's transaction.

    Raises
    ------
    sqlalchemy.exc.IntegrityError
        A table with this id is already published.
    """
    conn.execute(insert(event_tables).values(
        table_id=record.table_id, title=record.title, n_rows=record.n_rows, digest=record.digest, document=record.document,
        products=record.products, cone_search=record.cone_search, resources=list(record.resources),
        software_version=record.software_version, created=record.created,
    ))


def load_table(integrity: Integrity, record: TableRecord) -> EventTable:
    """The rows of a published table, read from its stored HDF5 file checked against its checksums.

    Raises
    ------
    hydroserve.acoustics.blobstore.BlobNotFound
        The file is missing from the blob store.
    hydroserve.acoustics.blobstore.BlobDamaged
        The file does not match its checksums (recorded).
    """
    from hydroserve.codecs import hdf5table  # h5py: imported by the readers of tables, not by all that open the catalog

    hdf5 = record.products["hdf5"]
    with integrity.open(hdf5["key"], record.table_id, expected_sha256=hdf5["sha256"]) as stored:
        return hdf5table.decode(stored.read(), record.load_metadata())
