"""The catalog engine: any SQLAlchemy URL; SQLite gets WAL, a busy timeout and foreign keys.

Writers use :func:`writer` (the same pool, flagged): on SQLite their
transactions start with ``BEGIN IMMEDIATE`` so they queue for the write lock
up front (waiting up to the busy timeout) instead of failing when a read
transaction tries to become a write; readers use plain deferred ``BEGIN``
and, in WAL mode, never wait for writers.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url


def make_engine(url: str, *, busy_timeout_s: float = 10.0) -> Engine:
    """Create the engine for ``url``; for SQLite, create the file's directory and set pragmas
    (``busy_timeout_s``: how long a connection waits for a lock before "database is locked")."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions are begun by the listener below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITER_OPTION) else "BEGIN")

    return engine


WRITER_OPTION = "hydroserve_writer"


def writer(engine: Engine) -> Engine:
    """The engine for write transactions (``BEGIN IMMEDIATE`` on SQLite; the same pool)."""
    return engine.execution_options(**{WRITER_OPTION: True})


def create_schema(engine: Engine, *metadatas: MetaData) -> None:
    """Create missing tables of every schema (existing tables are left as they are)."""
    for metadata in metadatas:
        metadata.create_all(engine)
