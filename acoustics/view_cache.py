"""A cache of whole /raw and /wav views on the API node's local disk, so that the kernel sends them (``sendfile``).

A view is made from the stored samples as it is read: decoded from FLAC (about 150 MB/s per core), or read through
the samples blob's chunk checksums. :class:`ViewCache` keeps whole views as plain files named by the view's SHA-256
from the catalog, which names its bytes for good (a view never changes; other bytes have another name), so the cache
is right on any number of API nodes and after any reprocessing.

Filling: a response that sends a whole view from the store, in order, also writes it here as it goes
(:meth:`ViewCache.filling_reader`): to a temporary file in ``.incoming`` that one process at a time holds (``flock``:
a filler that dies lets go of it), hashed on the way, and renamed into place only when every byte was written and
their SHA-256 is the file's name. A Range that does not start at 0, a HEAD, a transfer the client broke off leave
nothing behind.

Serving (:meth:`ViewCache.open`): every request checks the open file's size; the SHA-256 of the whole file is checked
the first time a process serves it and again whenever the file's identity (inode, size, modification and change
times) differs from the one checked, so a file that anyone rewrote, truncated or replaced is hashed before it is
served. A file that fails is logged, deleted, and the view is served from the store (and cached again). What this
does not see: bytes that change on the disk under an unchanged inode after a process checked them (restarting the
server checks every file again).

Eviction: once the files hold more than ``max_bytes``, the oldest made go first.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import BinaryIO

from .seekable import SizedReader

log = logging.getLogger(__name__)

_INCOMING = ".incoming"
_STALE_INCOMING_S = 3600.0
_CHECKED_KEPT = 10_000  # identities of checked files a process remembers; beyond, it checks them again


class ViewCache:
    """Whole views as files under ``directory``, at most ``max_bytes`` of them.

    Parameters
    ----------
    directory : path
        On a local disk of this node (created if missing).
    max_bytes : int
        Room for views; a view larger than this is never cached.
    """

    def __init__(self, directory: str | Path, max_bytes: int):
        if max_bytes < 1:
            raise ValueError(f"{max_bytes=} must be at least 1")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        (self.directory / _INCOMING).mkdir(parents=True, exist_ok=True)
        self._checked: dict[str, tuple[int, int, int, int]] = {}  # name -> identity of the file this process hashed
        self._lock = threading.Lock()

    def open(self, sha256: str, size_bytes: int) -> BinaryIO | None:
        """The cached view whose SHA-256 is ``sha256``, open and checked (see the module), or None."""
        path = self.directory / sha256
        try:
            file = open(path, "rb", buffering=0)
        except FileNotFoundError:
            with self._lock:
                self._checked.pop(sha256, None)
            return None
        try:
            problem = self._problem(file, sha256, size_bytes)
        except BaseException:
            file.close()
            raise
        if problem is None:
            return file
        log.error("view cache file %s %s: deleted; the view is served from the store", path, problem)
        _unlink_if_same(path, os.fstat(file.fileno()))
        file.close()
        return None

    def _problem(self, file, sha256: str, size_bytes: int) -> str | None:
        identity = _identity(os.fstat(file.fileno()))
        if identity[1] != size_bytes:
            return f"holds {identity[1]} bytes, the view has {size_bytes}"
        with self._lock:
            if self._checked.get(sha256) == identity:
                return None
        digest = hashlib.file_digest(file, "sha256").hexdigest()
        file.seek(0)
        if digest != sha256:
            return "does not match its SHA-256 (its name)"
        self._remember(sha256, identity)
        return None

    def _remember(self, sha256: str, identity: tuple[int, int, int, int]) -> None:
        with self._lock:
            if len(self._checked) >= _CHECKED_KEPT:  # names evicted by other processes are never seen to go
                self._checked.clear()
            self._checked[sha256] = identity

    def filling_reader(self, view: SizedReader, sha256: str) -> SizedReader:
        """``view`` (read from the store), which fills the cache when it is read whole and in order."""
        return _Filling(view, self, sha256)

    def start(self, sha256: str, size_bytes: int) -> _Writer | None:
        """A writer of the view ``sha256`` into the cache, or None: too large, or another process is writing it."""
        if size_bytes > self.max_bytes:
            return None
        path = self.directory / _INCOMING / sha256
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino != os.fstat(fd).st_ino:  # renamed into place by its writer meanwhile
                raise BlockingIOError
            os.ftruncate(fd, 0)
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return _Writer(self, fd, path, sha256)

    def _placed(self, writer: _Writer) -> None:
        """Keep the identity of a file this process wrote and hashed, then evict."""
        self._remember(writer.sha256, _identity(os.fstat(writer.fd)))
        self.evict(keep=writer.sha256)

    def evict(self, keep: str | None = None) -> None:
        """Delete the oldest views until the rest hold at most ``max_bytes`` (never ``keep``), and what dead writers
        left in ``.incoming`` for an hour."""
        files = []
        for entry in os.scandir(self.directory):
            if entry.is_file(follow_symlinks=False):
                try:
                    files.append((entry.stat().st_mtime_ns, entry.stat().st_size, entry.name))
                except FileNotFoundError:  # evicted by another process meanwhile
                    continue
        total = sum(size for _, size, _ in files)
        for _, size, name in sorted(files):
            if total <= self.max_bytes:
                break
            if name != keep:
                (self.directory / name).unlink(missing_ok=True)
                total -= size
                with self._lock:
                    self._checked.pop(name, None)
        for entry in os.scandir(self.directory / _INCOMING):
            try:
                if entry.stat().st_mtime < time.time() - _STALE_INCOMING_S:
                    _unlink_unlocked(Path(entry.path))
            except FileNotFoundError:
                continue


class _Writer:
    """One view being written into the cache: the bytes in order, then :meth:`finish`."""

    def __init__(self, cache: ViewCache, fd: int, path: Path, sha256: str):
        self.cache, self.fd, self.path, self.sha256 = cache, fd, path, sha256
        self.digest = hashlib.sha256()
        self.written = 0

    def write(self, data) -> None:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.written += len(view)
        while len(view):
            view = view[os.write(self.fd, view):]

    def finish(self) -> None:
        """Rename the file into place if it holds the view (its SHA-256 checked), else delete it."""
        try:
            if self.digest.hexdigest() == self.sha256:
                os.rename(self.path, self.cache.directory / self.sha256)
                self.cache._placed(self)
                return
            log.error("view %s read from the store hashes to %s: not cached", self.sha256, self.digest.hexdigest())
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # lets go of the lock

    def abandon(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)


class _Filling(SizedReader):
    """A view read from the store that writes what it hands out into the cache while it is read from byte 0 on, in
    order; once its last byte is read, the cached file is put in place (see :class:`_Writer`)."""

    def __init__(self, view: SizedReader, cache: ViewCache, sha256: str):
        self.view, self.cache, self.sha256 = view, cache, sha256
        self.position = 0
        self.writer: _Writer | None = None
        self.given_up = False

    @property
    def size_bytes(self) -> int:
        return self.view.size_bytes

    def readinto(self, buffer) -> int:
        if self.position == 0 and self.writer is None and not self.given_up:
            self.writer = self._guarded(lambda: self.cache.start(self.sha256, self.size_bytes))
            self.given_up = self.writer is None
        if self.writer is not None and self.writer.written != self.position:  # a seek: not the whole view in order
            self._give_up()
        self.view.seek(self.position)
        n = self.view.readinto(buffer)
        if self.writer is not None and n:
            writer = self.writer
            self._guarded(lambda: writer.write(memoryview(buffer)[:n]))
            if self.writer is not None and writer.written == self.size_bytes:  # placed before the last bytes go out
                self.writer, self.given_up = None, True
                self._guarded(writer.finish)
        self.position += n
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._give_up()  # closed before its last byte was read: nothing is placed
            finally:
                self.view.close()
        super().close()

    def _give_up(self) -> None:
        writer, self.writer, self.given_up = self.writer, None, True
        if writer is not None:
            self._guarded(writer.abandon)

    def _guarded(self, action):
        """``action()``; a failure of the cache's disk (full, read-only) is logged and ends the filling (None), never
        the answer."""
        try:
            return action()
        except OSError as error:
            log.warning("view cache %s: %s; the view is served without caching it", self.cache.directory, error)
            self._give_up()
            return None


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _unlink_if_same(path: Path, stat: os.stat_result) -> None:
    """Delete ``path`` unless another file took its name since ``stat`` was taken (a writer renamed a new one in)."""
    try:
        if os.stat(path).st_ino == stat.st_ino:
            path.unlink()
    except FileNotFoundError:
        pass


def _unlink_unlocked(path: Path) -> None:
    """Delete a temporary file unless a live writer holds its lock."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink(missing_ok=True)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
