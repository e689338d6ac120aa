"""Blob store: durable, atomic storage of product bytes under string keys.

The archive and the API use the :class:`BlobStore` interface only, so the
local folder and an S3 bucket serve them alike. Keys are
relative, slash-separated paths of safe characters.

:class:`LocalBlobStore` keeps blobs under a directory. ``put`` writes to a
temporary file in ``<root>/.incoming``, fsyncs it, renames it into place and
fsyncs the directory: a reader sees either no blob or the whole blob, and a
blob that ``put`` returned from survives a power cut.

Every ``put`` also records the blob's :class:`ChunkChecksums` (its size, its
SHA-256 and the SHA-256 of every :data:`CHECKSUM_CHUNK_BYTES` chunk), kept by
the store beside the blob: :class:`LocalBlobStore` writes them, atomically
too, to ``<root>/.checksums/<key>.json``, before the blob itself is renamed
into place. Keys cannot start with ``.``, so no key reaches them. Readers
check the bytes against them chunk by chunk (:mod:`.integrity`). Blobs stored
before checksums existed have none (:class:`ChecksumsMissing`) until
:meth:`BlobStore.put_checksums` adds them.

The S3-compatible implementation is :class:`~.s3store.S3BlobStore`; which
one a process uses is the configuration's choice (``api/wiring.py``). A
store also keeps small notes outside every key (the catalog marker) and
deletes blobs with their checksums.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

_KEY_RE = re.compile(r"[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*")
_INCOMING = ".incoming"
_WRITE_BUFFER_BYTES = 1 << 20
_CHECKSUMS = ".checksums"
CHECKSUM_CHUNK_BYTES = 1 << 20


class BlobNotFound(KeyError):
    """No blob under that key."""


class ChecksumsMissing(KeyError):
    """The blob exists but was stored before chunk checksums were kept (see :mod:`.integrity` for the backfill)."""


class BlobStoreUnavailable(OSError):
    """The store cannot be used at all (no such bucket, no credentials, endpoint unreachable); the message says which."""


class BlobDamaged(Exception):
    """A blob's bytes do not match its checksums.

    Parameters
    ----------
    key : str
        The blob key.
    detail : str
        What does not match (which chunk, or the size).
    """

    def __init__(self, key: str, detail: str):
        super().__init__(f"blob {key} is damaged: {detail}")
        self.key = key
        self.detail = detail


@dataclass(frozen=True)
class ChunkChecksums:
    """What a blob's bytes must be: ``size_bytes``, the ``sha256`` of all of them, and the SHA-256 of every
    ``chunk_bytes`` chunk (``chunk_sha256[i]`` covers bytes ``[i * chunk_bytes, (i + 1) * chunk_bytes)``)."""

    size_bytes: int
    sha256: str
    chunk_bytes: int
    chunk_sha256: tuple[str, ...]

    def chunk_size(self, index: int) -> int:
        """Bytes in chunk ``index`` (the last one may be short)."""
        return min(self.chunk_bytes, self.size_bytes - index * self.chunk_bytes)

    def as_json(self) -> dict:
        return {"size_bytes": self.size_bytes, "sha256": self.sha256, "chunk_bytes": self.chunk_bytes,
                "chunk_sha256": list(self.chunk_sha256)}

    @classmethod
    def from_json(cls, document: dict) -> ChunkChecksums:
        return cls(document["size_bytes"], document["sha256"], document["chunk_bytes"], tuple(document["chunk_sha256"]))


class ChecksumWriter:
    """Computes :class:`ChunkChecksums` of bytes given in pieces of any size.

    ``prefix_sha256`` also hashes ``prefix`` followed by the bytes (a view
    that puts a header before a blob has that digest).
    """

    def __init__(self, chunk_bytes: int = CHECKSUM_CHUNK_BYTES, prefix: bytes = b""):
        if chunk_bytes < 1:
            raise ValueError(f"{chunk_bytes=} must be at least 1")
        self.chunk_bytes = chunk_bytes
        self.whole = hashlib.sha256()
        self.prefixed = hashlib.sha256(prefix) if prefix else None  # without a prefix it is ``whole``: not hashed twice
        self.chunk = hashlib.sha256()
        self.in_chunk = 0
        self.size = 0
        self.digests: list[str] = []

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.whole.update(view)
        if self.prefixed is not None:
            self.prefixed.update(view)
        self.size += len(view)
        while len(view):
            n = min(len(view), self.chunk_bytes - self.in_chunk)
            self.chunk.update(view[:n])
            self.in_chunk += n
            view = view[n:]
            if self.in_chunk == self.chunk_bytes:
                self._close_chunk()

    def _close_chunk(self) -> None:
        self.digests.append(self.chunk.hexdigest())
        self.chunk, self.in_chunk = hashlib.sha256(), 0

    def result(self) -> ChunkChecksums:
        if self.in_chunk:
            self._close_chunk()
        return ChunkChecksums(self.size, self.whole.hexdigest(), self.chunk_bytes, tuple(self.digests))

    def prefix_sha256(self) -> str:
        return (self.prefixed or self.whole).hexdigest()


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
        """Store the concatenated chunks and their :class:`ChunkChecksums` atomically and durably; return size and sha256."""

    def open(self, key: str) -> BinaryIO:
        """Open a blob for reading (seekable, for ranged reads). Raises BlobNotFound."""

    def size(self, key: str) -> int:
        """Size in bytes. Raises BlobNotFound."""

    def exists(self, key: str) -> bool:
        """Whether a complete blob is stored under ``key``."""

    def checksums(self, key: str) -> ChunkChecksums:
        """The checksums recorded when the blob was stored. Raises BlobNotFound, or ChecksumsMissing for an old blob."""

    def put_checksums(self, key: str, checksums: ChunkChecksums) -> None:
        """Record ``checksums`` for an existing blob (the backfill of blobs stored before checksums were kept)."""

    def keys(self, prefix: str) -> list[str]:
        """Keys of the stored blobs that start with ``prefix`` and hold no ``/`` after its last one, sorted."""

    def holds(self, prefix: str) -> bool:
        """Whether anything (a blob, at any depth, or a folder) is stored under a name starting with ``prefix``."""

    def purge_incoming(self, older_than_s: float = 3600.0) -> int:
        """Remove what writers that died left unfinished (temporary files, multipart uploads); return how many."""

    def read_note(self, name: str) -> str | None:
        """The text of the store's note ``name`` (a name starting with ``.``, outside every key), or None."""

    def create_note(self, name: str, text: str) -> str:
        """Write the note ``name`` unless it exists (atomically); return the text it holds."""

    def replace_note(self, name: str, text: str) -> None:
        """Write the note ``name``, atomically replacing any (a restored archive names its catalog)."""

    def delete(self, key: str) -> None:
        """Remove the blob and its checksums, durably; a missing blob is not an error (idempotent)."""


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

    def __str__(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> BlobInfo:
        final = self._path(key)
        checksums = ChecksumWriter()
        with self._temporary(final.name) as (tmp, tmp_path):
            for chunk in chunks:
                checksums.update(chunk)
                tmp.write(chunk)
            result = checksums.result()
            self.put_checksums(key, result)
            self._move_into_place(tmp, tmp_path, final)
        return BlobInfo(key, result.size_bytes, result.sha256)

    def checksums(self, key: str) -> ChunkChecksums:
        path = self._checksums_path(key)
        try:
            return ChunkChecksums.from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            if not self.exists(key):
                raise BlobNotFound(key) from None
            raise ChecksumsMissing(key) from None
        except (ValueError, KeyError, TypeError) as error:
            raise BlobDamaged(key, f"its checksum record {path.name} is unreadable ({error})") from None

    def put_checksums(self, key: str, checksums: ChunkChecksums) -> None:
        final = self._checksums_path(key)
        with self._temporary(final.name) as (tmp, tmp_path):
            tmp.write(json.dumps(checksums.as_json()).encode())
            self._move_into_place(tmp, tmp_path, final)

    def keys(self, prefix: str) -> list[str]:
        directory, _, name = prefix.rpartition("/")
        folder = self.root / check_key(directory) if directory else self.root
        if not folder.is_dir():
            return []
        return sorted(f"{directory}/{path.name}" if directory else path.name for path in folder.iterdir()
                      if path.name.startswith(name) and not path.name.startswith(".") and path.is_file())

    def holds(self, prefix: str) -> bool:
        directory, _, name = prefix.rpartition("/")
        folder = self.root / check_key(directory) if directory else self.root
        return folder.is_dir() and any(path.name.startswith(name) and not path.name.startswith(".") for path in folder.iterdir())

    def read_note(self, name: str) -> str | None:
        try:
            return (self.root / _check_note(name)).read_text()
        except FileNotFoundError:
            return None

    def create_note(self, name: str, text: str) -> str:
        existing = self.read_note(name)
        if existing is not None:
            return existing
        final = self.root / _check_note(name)
        with self._temporary(name) as (tmp, tmp_path):
            tmp.write(text.encode())
            tmp.flush()
            if self.fsync:
                os.fsync(tmp.fileno())
            try:
                os.link(tmp_path, final)  # never replaces a note another process made meanwhile
            except FileExistsError:
                return self.read_note(name) or ""
        if self.fsync:
            _fsync_directory(self.root)
        return text

    def replace_note(self, name: str, text: str) -> None:
        final = self.root / _check_note(name)
        with self._temporary(name) as (tmp, tmp_path):
            tmp.write(text.encode())
            self._move_into_place(tmp, tmp_path, final)

    def _checksums_path(self, key: str) -> Path:
        return self.root / _CHECKSUMS / (check_key(key) + ".json")

    @contextmanager
    def _temporary(self, name: str):
        """A temporary file in ``.incoming`` (removed unless moved into place) and its path."""
        fd, tmp_name = tempfile.mkstemp(dir=self.root / _INCOMING, prefix=name + ".")
        try:
            with os.fdopen(fd, "wb", buffering=_WRITE_BUFFER_BYTES) as tmp:  # few large writes, however small the pieces
                yield tmp, Path(tmp_name)
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def _move_into_place(self, tmp: BinaryIO, tmp_path: Path, final: Path) -> None:
        """Flush and close ``tmp``, then rename it to ``final`` (durably unless ``fsync`` is off)."""
        tmp.flush()
        if self.fsync:
            os.fsync(tmp.fileno())
        tmp.close()
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, final)
        if self.fsync:
            _fsync_directory(final.parent)

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

    def delete(self, key: str) -> None:
        # the blob first: a crash in between leaves only a checksum record that names no blob, removed by the next delete
        for path in (self._path(key), self._checksums_path(key)):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            if self.fsync:
                _fsync_directory(path.parent)

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


def _check_note(name: str) -> str:
    if not re.fullmatch(r"\.[A-Za-z0-9_-]+", name) or name in {_INCOMING, _CHECKSUMS}:
        raise ValueError(f"note name {name!r} must be '.' and [A-Za-z0-9_-] characters, not a folder of the store")
    return name


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
