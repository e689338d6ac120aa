"""The catalog engine: SQLite (WAL, a busy timeout, foreign keys) or PostgreSQL (``postgresql+psycopg://``).

Writers use :func:`writer` (the same pool, flagged), and their transactions
are serialised on both engines, so a writer's read-then-write (is this id
taken? which row is next?) is never raced by another writer:

* on SQLite they start with ``BEGIN IMMEDIATE``, so they queue for the
  write lock up front (waiting up to the busy timeout) instead of failing
  when a read transaction tries to become a write;
* on PostgreSQL they start by taking one transaction-level advisory lock
  (:data:`WRITER_LOCK`), waiting at most the same timeout (``lock_timeout``).

Readers use plain transactions and never wait for writers (WAL on SQLite,
MVCC on PostgreSQL). PostgreSQL sessions run in UTC.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

WRITER_OPTION = "hydroserve_writer"
WRITER_LOCK = 0x6879_6472_6F73_7276
"""PostgreSQL advisory lock key that every write transaction holds (``hydrosrv`` in ASCII)."""


def make_engine(url: str, *, busy_timeout_s: float = 10.0) -> Engine:
    """Create the engine for ``url`` (``busy_timeout_s``: how long a writer waits for the write lock before it fails);
    for SQLite, create the file's directory and set pragmas."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, busy_timeout_s)
    if backend == "postgresql":
        return _postgresql_engine(url, busy_timeout_s)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str, database: str | None, busy_timeout_s: float) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
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


def _postgresql_engine(url: str, busy_timeout_s: float) -> Engine:
    # every lock wait (the writers' lock, a row lock) gives up after the busy timeout, as SQLite's busy timeout does
    options = f"-c timezone=UTC -c lock_timeout={max(1, int(busy_timeout_s * 1000))}"
    engine = create_engine(url, pool_pre_ping=True, connect_args={"options": options})

    @event.listens_for(engine, "begin")
    def _postgresql_begin(conn):
        if conn.get_execution_options().get(WRITER_OPTION):
            become_writer(conn)

    return engine


def become_writer(conn) -> None:
    """Make a PostgreSQL transaction begun as a reader a writer from here on: take the writers' lock
    (:data:`WRITER_LOCK`), waiting at most the engine's busy timeout. For a transaction that must hold a row lock
    through long work (a reprocessing job) without keeping every other writer waiting meanwhile."""
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")


def writer(engine: Engine) -> Engine:
    """The engine for write transactions (serialised: see the module docstring; the same pool)."""
    return engine.execution_options(**{WRITER_OPTION: True})
