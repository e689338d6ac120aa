"""Blob store: durable, atomic storage of product bytes under string keys.

The archive and the API use the :class:`BlobStore` interface only, so an S3
(or other) implementation can be added without touching them. Keys are
relative, slash-separated paths of safe characters.

:class:`LocalBlobStore` keeps blobs under a directory. ``put`` writes to a
temporary file in ``<root>/.incoming``, fsyncs it, renames it into place and
fsyncs the directory: a reader sees either no blob or the whole blob, and a
blob that ``put`` returned from survives a power cut.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

_KEY_RE = re.compile(r"[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*")
_INCOMING = ".incoming"


class BlobNotFound(KeyError):
    """No blob under that key."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size_bytes: int
    sha256: str


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key; raise ValueError naming it otherwise."""
    if not _KEY_RE.fullmatch(key) or any(part in {".", ".."} or part.startswith(".") for part in key.split("/")):
        raise ValueError(f"blob key {key!r} must be a relative path of [A-Za-z0-9_.=-] parts, none starting with '.'")
    return key


class BlobStore(Protocol):
    """Where product bytes live."""

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> BlobInfo:
        """Store the concatenated chunks atomically and durably; return size and sha256."""

    def open(self, key: str) -> BinaryIO:
        """Open a blob for reading (seekable, for ranged reads). Raises BlobNotFound."""

    def size(self, key: str) -> int:
        """Size in bytes. Raises BlobNotFound."""

    def exists(self, key: str) -> bool:
        """Whether a complete blob is stored under ``key``."""


class LocalBlobStore:
    """Blobs as files under ``root``.

    Parameters
    ----------
    root : path
        Directory of the store (created if missing).
    fsync : bool
        Flush every blob and its directory to stable storage (default). Only
        tests that do not care about power cuts turn it off.
    """

    def __init__(self, root: str | Path, *, fsync: bool = True):
        self.root = Path(root)
        self.fsync = fsync
        (self.root / _INCOMING).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> BlobInfo:
        final = self._path(key)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root / _INCOMING, prefix=final.name + ".")
        try:
            with os.fdopen(fd, "wb") as tmp:
                for chunk in chunks:
                    digest.update(chunk)
                    tmp.write(chunk)
                    size += len(memoryview(chunk).cast("B"))
                tmp.flush()
                if self.fsync:
                    os.fsync(tmp.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        if self.fsync:
            _fsync_directory(final.parent)
        return BlobInfo(key, size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def purge_incoming(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary files left by writers that died; return how many."""
        cutoff = time.time() - older_than_s
        removed = 0
        for path in (self.root / _INCOMING).iterdir():
            try:
                stale = path.stat().st_mtime < cutoff
            except FileNotFoundError:  # a live writer just renamed it into place
                continue
            if stale:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
