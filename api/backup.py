"""Backup and restore of a whole archive: ``hydroserve export DIR`` and ``hydroserve import-archive DIR``.

An export is a folder, portable between SQLite and PostgreSQL catalogs and between blob stores:

``manifest.json``
    ``format`` (:data:`FORMAT`), ``catalog_id``, ``exported_at``, ``software_version``, rows per table, and every blob
    with its ``size_bytes`` and ``sha256``;
``catalog/<table>.jsonl``
    every row of every catalog table, one JSON object per line (times as RFC 3339, binary as base64), read in one
    snapshot of the catalog;
``blobs/<key>``
    every blob the catalog points to (samples, products, files derived from them, event tables), each checked against
    its recorded checksums while it is copied (a damaged blob stops the export: repair it first).

The export is written as ``DIR.partial`` and renamed to ``DIR`` when complete, so a folder named ``DIR`` is always a
whole backup. Import goes the other way, into a data folder whose catalog holds no package and no resource: every
blob is stored (checksums recomputed) and compared with the manifest's SHA-256 first, then every row is written in
one transaction (a column newer than the export gets its default, and the sensors' rows are set from their packages
and skipped windows: :func:`~hydroserve.acoustics.catalog_by_sensor.recount`), then the blob store is marked as the
blobs of the restored catalog id. An interrupted import leaves only blobs nobody points to and can be run again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Date, DateTime, LargeBinary, MetaData, Table, delete, func, insert, select, text
from sqlalchemy.engine import Connection, Engine

from hydroserve.acoustics import catalog_by_sensor
from hydroserve.acoustics.blobstore import CHECKSUM_CHUNK_BYTES, BlobStore, ChecksumsMissing
from hydroserve.acoustics.integrity import Integrity
from hydroserve.codecs import SOFTWARE_VERSION
from hydroserve.codecs.times import as_utc, rfc3339

from . import catalog_identity, verify

FORMAT = "hydroserve-export/1"


class BackupError(RuntimeError):
    """The export or import cannot be made as asked; the message says why and what to do."""


def _tables(metadatas: list[MetaData]) -> list[Table]:
    """Every table, parents before children (foreign keys)."""
    return [table for metadata in metadatas for table in metadata.sorted_tables]


def _encode(table: Table, row) -> dict:
    values = {}
    for column in table.columns:
        value = row._mapping[column.name]
        if value is not None and isinstance(column.type, DateTime):
            value = rfc3339(value)
        elif value is not None and isinstance(column.type, Date):
            value = value.isoformat()
        elif value is not None and isinstance(column.type, LargeBinary):
            value = base64.b64encode(value).decode()
        values[column.name] = value
    return values


def _decode(table: Table, values: dict) -> dict:
    row = {}
    for column in table.columns:
        if column.name not in values:
            continue  # a column newer than the export: its default
        value = values[column.name]
        if value is not None and isinstance(column.type, DateTime):
            value = as_utc(datetime.fromisoformat(value))
        elif value is not None and isinstance(column.type, Date):
            value = date.fromisoformat(value)
        elif value is not None and isinstance(column.type, LargeBinary):
            value = base64.b64decode(value)
        row[column.name] = value
    return row


def export(engine: Engine, integrity: Integrity, metadatas: list[MetaData], directory: Path,
           progress: Callable[[int, str], None] = lambda n, key: None) -> dict:
    """Write a backup of the catalog and its blobs to ``directory`` (which must not exist); return the manifest.

    Raises
    ------
    BackupError
        ``directory`` exists, or a blob the catalog points to is missing or damaged.
    """
    if directory.exists():
        raise BackupError(f"{directory} exists already: name a new folder")
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "catalog").mkdir(parents=True)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))  # every table from one snapshot
        rows = {table.name: _dump_table(conn, table, partial / "catalog" / f"{table.name}.jsonl")
                for table in _tables(metadatas)}
        catalog_id = catalog_identity.read_id(conn)
    blobs = {}
    for target in verify.targets(engine, integrity, sensor=None, since=None):
        if target.key not in blobs:
            blobs[target.key] = _copy_blob(integrity.blobs, target.key, partial / "blobs" / target.key)
            progress(blobs[target.key]["size_bytes"], target.key)
    manifest = {"format": FORMAT, "catalog_id": catalog_id, "exported_at": rfc3339(datetime.now(UTC)),
                "software_version": SOFTWARE_VERSION, "tables": rows, "blobs": blobs}
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1))
    os.replace(partial, directory)
    return manifest


def _dump_table(conn: Connection, table: Table, path: Path) -> int:
    n_rows = 0
    with open(path, "w") as file:
        for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
            file.write(json.dumps(_encode(table, row)) + "\n")
            n_rows += 1
    return n_rows


def _copy_blob(blobs: BlobStore, key: str, path: Path) -> dict:
    """Copy one blob, checking each chunk against its recorded checksums (when it has them)."""
    try:
        expected = blobs.checksums(key)
    except ChecksumsMissing:
        expected = None
    path.parent.mkdir(parents=True, exist_ok=True)
    whole, size = hashlib.sha256(), 0
    with blobs.open(key) as source, open(path, "wb") as copy:
        for index, chunk in enumerate(iter(lambda: source.read(CHECKSUM_CHUNK_BYTES), b"")):
            if expected is not None and (index >= len(expected.chunk_sha256)
                                         or hashlib.sha256(chunk).hexdigest() != expected.chunk_sha256[index]):
                raise BackupError(f"blob {key} is damaged at chunk {index}: repair it (`hydroserve verify`) and export again")
            whole.update(chunk)
            copy.write(chunk)
            size += len(chunk)
    if expected is not None and size != expected.size_bytes:
        raise BackupError(f"blob {key} holds {size} bytes, its checksums say {expected.size_bytes}")
    return {"size_bytes": size, "sha256": whole.hexdigest()}


def read_manifest(directory: Path) -> dict:
    """The manifest of an export. Raises BackupError when ``directory`` is not a complete export of this format."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{directory} is not a hydroserve export (manifest.json: {error})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{directory}: export format {manifest.get('format')!r} is not {FORMAT!r}")
    return manifest


def restore(engine: Engine, blobs: BlobStore, metadatas: list[MetaData], directory: Path,
            progress: Callable[[int, str], None] = lambda n, key: None) -> dict:
    """Restore the export in ``directory`` into the (initialised, empty) catalog ``engine`` and the store ``blobs``.

    Raises
    ------
    BackupError
        Not an export, a blob that does not match the manifest, or a catalog that holds packages or resources.
    """
    manifest = read_manifest(directory)
    tables = _tables(metadatas)
    with engine.connect() as conn:
        held = {name: conn.execute(select(func.count()).select_from(table)).scalar()
                for table in tables if (name := table.name) in ("packages", "resources")}
    if any(held.values()):
        raise BackupError(f"the catalog is not empty ({held}): restore into a new data folder and database")
    for key, expected in manifest["blobs"].items():
        with open(directory / "blobs" / key, "rb") as source:
            stored = blobs.put(key, iter(lambda: source.read(CHECKSUM_CHUNK_BYTES), b""))
        if (stored.sha256, stored.size_bytes) != (expected["sha256"], expected["size_bytes"]):
            blobs.delete(key)
            raise BackupError(f"{directory / 'blobs' / key} does not match the manifest's SHA-256: the backup is damaged")
        progress(stored.size_bytes, key)
    with engine.begin() as conn:
        for table in reversed(tables):  # the rows db init made (registry streams, catalog id) give way to the backup's
            conn.execute(delete(table))
        for table in tables:
            _load_table(conn, table, directory / "catalog" / f"{table.name}.jsonl")
        catalog_by_sensor.recount(conn)  # the sensors' rows of an export made before they kept all of it
    catalog_identity.mark_blobs(blobs, manifest["catalog_id"])
    return manifest


def _load_table(conn: Connection, table: Table, path: Path) -> None:
    if not path.exists():
        return  # a table newer than the export: it stays empty
    with open(path) as file:
        rows = [_decode(table, json.loads(line)) for line in file]
    for start in range(0, len(rows), 1000):
        conn.execute(insert(table), rows[start:start + 1000])
    column = table.autoincrement_column
    if rows and column is not None and conn.dialect.name == "postgresql":  # the sequence continues after the restored ids
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                          f"(SELECT max({column.name}) FROM {table.name}))"))
