"""SQLite takes one ingest writer: an OS file lock beside the catalog says who it is.

``hydroserve ingest`` (and the demo's ingest) on an SQLite catalog holds an
exclusive ``flock`` on ``<catalog>.ingest-lock`` for as long as it runs; the
file names the holder (host and pid). A second writer is refused at once
with a message naming the holder, instead of fighting over the database
lock. The operating system releases the lock when the holder exits, even
after SIGKILL, so a stale file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from sqlalchemy.engine import make_url


class WriterBusy(RuntimeError):
    """Another ingest writer holds the SQLite catalog."""


class WriterLock:
    """The held lock; :meth:`release` (or the process's end) frees it."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


def lock_path(database_url: str) -> Path | None:
    """The lock file of an SQLite catalog file; None for other databases (they share the work through leases)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).with_name(Path(url.database).name + ".ingest-lock")


def hold(path: Path) -> WriterLock:
    """Take the single-writer lock, or raise :class:`WriterBusy` naming its holder."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise WriterBusy(
            f"another ingest writer ({holder}) holds this SQLite catalog (lock file {path}); SQLite takes one ingest "
            "writer: stop that one first, or put the catalog on PostgreSQL (database_url) to run several workers"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"host {socket.gethostname()}, pid {os.getpid()}\n".encode(), 0)
    return WriterLock(path, fd)
