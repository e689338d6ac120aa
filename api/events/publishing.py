"""Publishing an event table: publish input read and validated, every format stored, the table registered, atomically.

:func:`publish` is the one way in (the HTTP endpoint, ``hydroserve events
publish`` and the demo call it). It

1. reads the rows (CSV or HDF5) and the metadata (JSON or TOML) and
   validates them together (:func:`read_input`);
2. builds the canonical metadata document once and encodes every format in
   memory;
3. writes the blobs under content-addressed keys
   ``events/<table id>/<digest>/<table id>.<ext>`` (atomic and durable,
   invisible until step 4 commits; a failed or losing publish leaves only
   blobs nobody points to);
4. in one write transaction inserts the table's row and registers its
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

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from hydroserve.acoustics.blobstore import BlobStore
from hydroserve.codecs import SOFTWARE_VERSION, csvtable, hdf5table
from hydroserve.codecs.table_metadata import MetadataError, encode_metadata, metadata_to_dict, read_metadata_document
from hydroserve.codecs.tables import EventTable, TableError

from . import registration, store
from .metadata import InvalidMetadata, flatten, load_metadata
from .registration import PRODUCTS
from .settings import EventSettings
from .store import TableRecord

log = logging.getLogger(__name__)


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
        metadata_document = read_metadata_document(metadata_data)
        table_metadata = load_metadata(metadata_document)
    except MetadataError as error:
        raise InvalidInput({"metadata": [error.message]}) from None
    except InvalidMetadata as error:
        raise InvalidInput({"metadata": error.messages}) from None
    except RecursionError:
        raise InvalidInput({"metadata": ["the document is nested too deeply"]}) from None
    except ValueError as error:  # JSON Python cannot hold: an integer of more than 4300 digits
        raise InvalidInput({"metadata": [f"unreadable document: {str(error).split(';')[0]}"]}) from None
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


def _digest(metadata_bytes: bytes, csv_bytes: bytes) -> str:
    return hashlib.sha256(metadata_bytes + b"\0" + csv_bytes).hexdigest()


def _existing(conn: Connection, table_id: str, digest: str) -> TableRecord | None:
    """The published table with this id if its content is the same; raise TableConflict if it differs."""
    record = store.get_table(conn, table_id)
    if record is not None and record.digest != digest:
        raise TableConflict(f"table {table_id!r} is already published with different content (digest {record.digest[:12]}); "
                            "published tables do not change: publish this one under a new id")
    return record


def _already_published(engine: Engine, table_id: str, digest: str) -> TableRecord | None:
    with engine.connect() as conn:
        return _existing(conn, table_id, digest)


def _store_blobs(blobs: BlobStore, table_id: str, digest: str, encoded: dict[str, bytes]) -> dict[str, dict]:
    """Write every format under its content-addressed key; return kind -> ``{key, size_bytes, sha256}``."""
    products = {}
    for kind, data in encoded.items():
        info = blobs.put(f"events/{table_id}/{digest[:16]}/{table_id}.{PRODUCTS[kind].extension}", [data])
        products[kind] = {"key": info.key, "size_bytes": info.size_bytes, "sha256": info.sha256}
    return products


def publish(engine: Engine, blobs: BlobStore, settings: EventSettings, table_data: bytes, metadata_data: bytes, *,
            hdf5_dataset: str = "events") -> Published:
    """Validate publish input, store the table in every format and register it, atomically (see the module docstring).

    Parameters
    ----------
    engine : Engine
        A writer engine (:func:`~hydroserve.api.db.writer`).
    blobs : BlobStore
    settings : EventSettings
    table_data : bytes
        The rows: CSV (a header line of column names) or HDF5.
    metadata_data : bytes
        The metadata document, JSON or TOML.
    hdf5_dataset : str
        The dataset holding the rows when ``table_data`` is HDF5.

    Raises
    ------
    InvalidInput
        The input does not validate (see :func:`read_input`).
    TableConflict
        A table with the same id but different content is published.
    """
    table = read_input(table_data, metadata_data, max_rows=settings.max_rows, hdf5_dataset=hdf5_dataset)
    table_id = table.metadata.id
    document = metadata_to_dict(table.metadata)
    encoded = {"csv": csvtable.encode(table), "meta": encode_metadata(table.metadata)}
    digest = _digest(encoded["meta"], encoded["csv"])
    existing = _already_published(engine, table_id, digest)
    if existing is not None:
        return Published(existing, created=False)
    encoded["hdf5"] = hdf5table.encode(table)
    from hydroserve.codecs import votable  # astropy: imported by publishing, not by every command that opens the catalog

    encoded["votable"] = votable.encode_table(table)
    products = _store_blobs(blobs, table_id, digest, encoded)
    return _commit(engine, settings, table, document, digest, products)


def _commit(engine: Engine, settings: EventSettings, table: EventTable, document: dict, digest: str,
            products: dict[str, dict]) -> Published:
    """The one write transaction: the table's row, its resources and their outbox rows (unless it is already there)."""
    table_id = table.metadata.id
    test_query = registration.cone_search_test_query(table)
    try:
        with engine.begin() as conn:
            existing = _existing(conn, table_id, digest)
            if existing is not None:
                return Published(existing, created=False)
            kids = registration.register_table(conn, settings, table, document, products, test_query)
            record = TableRecord(
                table_id=table_id, title=table.metadata.title, n_rows=table.n_rows, digest=digest, document=document,
                products=products, cone_search=test_query, resources=tuple(kids), software_version=SOFTWARE_VERSION,
                created=datetime.now(UTC),
            )
            store.insert_table(conn, record)
    except IntegrityError:
        # another writer committed the same id between our check and our insert (databases without BEGIN IMMEDIATE)
        existing = _already_published(engine, table_id, digest)
        if existing is None:
            raise
        return Published(existing, created=False)
    log.info("published event table %s: %d events, digest %s", table_id, table.n_rows, digest[:12])
    return Published(record, created=True)
