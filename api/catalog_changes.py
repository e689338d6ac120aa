"""Which packages' catalog rows changed since a process last looked: what lets an API process keep something it read
about a package (its current PSD) without ever answering from a stale copy, whatever process or node wrote.

* PostgreSQL: triggers on ``packages``, ``products`` and ``expired_products`` (migration 0007) send a notification on
  :data:`CHANNEL` naming the package of every row inserted, updated or deleted (an empty name after a ``TRUNCATE``:
  every package), at commit, whichever program writes (ingest, reprocess, retention, a migration, psql). The process
  listens on a connection of its own (:class:`PostgresChanges`); every look makes a round trip on it (``SELECT 1``,
  not the PSD query through the engine), so that what was committed before the look has arrived; while that
  connection is lost, nothing may be kept.
* SQLite (one machine): ``PRAGMA data_version`` on a connection of the process's own changes whenever any other
  connection, of any process, commits (:class:`SqliteChanges`): then everything kept is forgotten. A catalog file
  deleted or replaced (another inode) counts as a change too. A look costs a ``stat`` and the pragma.
"""

from __future__ import annotations

import logging
import os
import select
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .catalog_identity import sqlite_path

log = logging.getLogger(__name__)

CHANNEL = "hydroserve_package_changed"
"""The PostgreSQL notification channel of the package triggers (payload: the package id; empty: every package)."""
APPLICATION_NAME = "hydroserve catalog changes"
"""The listening connection's name in ``pg_stat_activity``."""
RECONNECT_S = 1.0
"""How long a lost PostgreSQL listener waits before it connects again."""


@dataclass(frozen=True)
class Changes:
    """What changed since the last look: ``everything``, or the packages ``package_ids``; ``watching`` False while
    changes cannot be seen (nothing read now may be kept)."""

    watching: bool
    everything: bool
    package_ids: frozenset[str] = frozenset()


UNWATCHED = Changes(watching=False, everything=True)
EVERYTHING = Changes(watching=True, everything=True)
NOTHING = Changes(watching=True, everything=False)


class ChangeWatch:
    """Tells what changed in the catalog's package rows since its last call (thread-safe)."""

    def changes(self) -> Changes:
        raise NotImplementedError


def watch(database_url: str, engine: Engine) -> ChangeWatch:
    """The change watch for the catalog at ``database_url``."""
    if engine.dialect.name == "postgresql":
        return PostgresChanges(engine)
    path = sqlite_path(database_url)
    if engine.dialect.name == "sqlite" and path is not None:
        return SqliteChanges(path)
    return Unwatched()


class Unwatched(ChangeWatch):
    """A catalog whose changes cannot be seen (in-memory SQLite, another database): nothing is kept."""

    def changes(self) -> Changes:
        return UNWATCHED


class SqliteChanges(ChangeWatch):
    """``PRAGMA data_version`` of a connection of this process's own, and the file's identity (device, inode)."""

    def __init__(self, path: Path):
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._seen: tuple[int, int, int] | None = None  # device, inode, data_version
        self._lock = threading.Lock()

    def changes(self) -> Changes:
        with self._lock:
            try:
                status = os.stat(self.path)
            except FileNotFoundError:
                self._close()
                return UNWATCHED
            identity = (status.st_dev, status.st_ino)
            if self._seen is None or self._seen[:2] != identity:
                self._close()
                self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            seen = (*identity, self._connection.execute("PRAGMA data_version").fetchone()[0])
            changed, self._seen = seen != self._seen, seen
            return EVERYTHING if changed else NOTHING

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection, self._seen = None, None


class PostgresChanges(ChangeWatch):
    """A connection of its own that ``LISTEN``s on :data:`CHANNEL` (a :class:`_Listener`), opened at the first look,
    which also starts a daemon thread (a greenlet under gevent). What has arrived on the connection is read at every
    look and, between looks, by the thread, which waits on its socket: PostgreSQL's notification queue never waits for
    this process. While the connection is lost every look is :data:`UNWATCHED`, until the thread has connected and
    listens again; the first look then is :data:`EVERYTHING` (what was sent meanwhile is unknown). The thread closes
    the connection and ends once the watch is garbage-collected."""

    def __init__(self, engine: Engine):
        self._listener = _Listener(engine)
        self._started = False
        self._start_lock = threading.Lock()

    def changes(self) -> Changes:
        if not self._started:
            self._start()
        return self._listener.look()

    def _start(self) -> None:
        """Connect (the first look waits for it, so that it can keep what it reads) and start the thread."""
        with self._start_lock:
            if self._started:
                return
            try:
                self._listener.connect()
            except LISTEN_ERRORS as error:
                log.warning("cannot listen for the catalog's changes (%s); trying again in %g s", error, RECONNECT_S)
            threading.Thread(target=_listen, args=(self._listener, weakref.ref(self)), daemon=True,
                             name="catalog-changes").start()
            self._started = True


class _Listener:
    """The listening connection of a :class:`PostgresChanges` and the packages named since the last look (thread-safe)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.lock = threading.Lock()
        self.connection = None  # the psycopg connection that listens; None: lost, or not open yet
        self._pending: set[str | None] = set()  # None: every package

    def look(self) -> Changes:
        """What changed up to now: a round trip on the connection first (PostgreSQL signals listeners before a
        writer's commit returns, and a backend sends what it was signalled before it answers the next query), so that
        whatever was committed before this look began has arrived when it ends."""
        with self.lock:
            if self.connection is not None:
                try:
                    self.connection.execute("SELECT 1")  # notifications arriving meanwhile go to _notified
                except psycopg.Error as error:
                    self._lost(error)
            if self.connection is None:
                return UNWATCHED
            pending, self._pending = self._pending, set()
        if None in pending:
            return EVERYTHING
        return Changes(watching=True, everything=False, package_ids=frozenset(pending)) if pending else NOTHING

    def connect(self) -> None:
        """Open the listening connection (the lock is taken only once it listens: opening waits for the server)."""
        pooled = self.engine.raw_connection()  # made with the engine's options
        pooled.detach()  # ours alone from here on
        connection = pooled.dbapi_connection
        try:
            connection.rollback()
            connection.autocommit = True
            connection.add_notify_handler(self._notified)
            connection.execute(f"SET application_name = '{APPLICATION_NAME}'")
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            connection.close()
            raise
        with self.lock:
            self.connection, self._pending = connection, {None}

    def wait(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the listening socket to hold something, then read it (the thread, between
        looks: PostgreSQL's notification queue never waits for this process)."""
        with self.lock:
            if self.connection is None:  # lost at a look meanwhile
                return
            socket = self.connection.pgconn.socket
        select.select([socket], [], [], timeout_s)
        with self.lock:
            if self.connection is None:
                return
            pgconn = self.connection.pgconn
            try:
                pgconn.consume_input()  # reads what the socket holds; never waits
            except psycopg.OperationalError as error:
                self._lost(error)
                return
            while (notification := pgconn.notifies()) is not None:
                self._pending.add(notification.extra.decode() or None)

    def close(self) -> None:
        with self.lock:
            if self.connection is not None:
                self.connection.close()
                self.connection = None

    def _notified(self, notification: psycopg.Notify) -> None:
        """A notification read by a query of :meth:`look` (lock held)."""
        self._pending.add(notification.payload or None)

    def _lost(self, error: Exception) -> None:
        log.warning("lost the catalog's change notifications (%s): nothing is kept until they are back", error)
        self.connection.close()
        self.connection = None


LISTEN_ERRORS = (SQLAlchemyError, psycopg.Error, OSError)
"""What connecting to the catalog, or waiting on the connection, may raise (retried)."""
WAIT_S = 5.0
"""Longest the listener thread waits on the socket before it checks whether its watch is still used."""


def _listen(listener: _Listener, watch: weakref.ref) -> None:
    """The listener thread: connect (again after a loss, every :data:`RECONNECT_S`), then read what arrives, while the
    watch is used."""
    while watch() is not None:
        try:
            if listener.connection is None:
                listener.connect()
            else:
                listener.wait(WAIT_S)
        except LISTEN_ERRORS as error:
            log.warning("cannot listen for the catalog's changes (%s); trying again in %g s", error, RECONNECT_S)
            time.sleep(RECONNECT_S)
    listener.close()
