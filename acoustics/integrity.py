"""Never serve corrupted bytes as valid: blobs read against their chunk checksums, and the damage log.

A blob is opened as a :class:`VerifiedBlob`: every chunk of
:data:`~.blobstore.CHECKSUM_CHUNK_BYTES` is hashed when it is read and
compared with the SHA-256 recorded when the blob was stored
(:class:`~.blobstore.ChunkChecksums`); the first chunk that does not match,
or comes back short, raises :class:`~.blobstore.BlobDamaged` before any of
its bytes are handed out. A blob whose size differs from the recorded one
fails at once.

Damage is persisted in the catalog's ``damaged_blobs`` table by
:class:`DamageLog` (logged at ERROR with the blob key) and stays until the
blob is repaired: remade from intact samples (products that can be), put
back from a replica and checked by ``hydroserve verify``, or re-ingested.

Blobs stored before chunk checksums were kept get them on first use
(:meth:`Integrity.open`) or by ``hydroserve verify``, and only when their
whole-file SHA-256 still equals the one the catalog holds (for the samples
blob: the SHA-256 of the WAV view, its header followed by the blob).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from . import catalog
from .blobstore import BlobDamaged, BlobStore, ChecksumsMissing, ChecksumWriter, ChunkChecksums
from .seekable import SizedReader

log = logging.getLogger(__name__)

RECORDED_DAMAGE = "recorded as damaged; put it back from a replica or re-ingest it, then run hydroserve verify"


class VerifiedBlob(SizedReader):
    """A read-only, seekable file over a stored blob that hands out only bytes whose chunk matches its checksum.

    Parameters
    ----------
    file : binary file
        The blob, open (seekable).
    checksums : ChunkChecksums
        What it must hold.
    key : str
        The blob key (named in errors).
    on_damage : callable, optional
        ``on_damage(error)`` is called with the :class:`BlobDamaged` before it is raised.

    Notes
    -----
    It has no ``fileno``: a WSGI server cannot bypass the checks with ``sendfile``.
    """

    def __init__(self, file: BinaryIO, checksums: ChunkChecksums, key: str,
                 on_damage: Callable[[BlobDamaged], None] | None = None):
        self.file = file
        self.checksums = checksums
        self.key = key
        self.on_damage = on_damage
        self.position = 0
        self._cached: tuple[int, bytes] | None = None
        self._verified: list[bytes] | None = None  # every chunk, once verify_all has checked them

    @property
    def size_bytes(self) -> int:
        return self.checksums.size_bytes


    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        stop = min(self.position + len(view), self.size_bytes)
        chunk_bytes = self.checksums.chunk_bytes
        filled = 0
        while self.position < stop:
            index, offset = divmod(self.position, chunk_bytes)
            data = self._chunk(index)
            n = min(len(data) - offset, stop - self.position)
            view[filled : filled + n] = data[offset : offset + n]
            filled += n
            self.position += n
        return filled

    def readall(self) -> bytes:
        """The rest of the blob, read chunk by chunk (not in ``io``'s small default pieces)."""
        parts = []
        while data := self.read(self.checksums.chunk_bytes):
            parts.append(data)
        return b"".join(parts)

    def verify_all(self, *, keep: bool = False) -> None:
        """Check every chunk (raises :class:`BlobDamaged` at the first bad one); with ``keep``, hold them in memory so
        that reading the blob afterwards neither reads nor hashes it again (small products checked before serving)."""
        chunks = []
        for index in range(len(self.checksums.chunk_sha256)):
            data = self._chunk(index)
            if keep:
                chunks.append(data)
        if keep:
            self._verified = chunks

    def close(self) -> None:
        self.file.close()
        super().close()

    def _chunk(self, index: int) -> bytes:
        if self._verified is not None:
            return self._verified[index]
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        expected_bytes = self.checksums.chunk_size(index)
        start = index * self.checksums.chunk_bytes
        self.file.seek(start)
        data = self.file.read(expected_bytes)
        if len(data) != expected_bytes:
            self._damaged(f"chunk {index} (bytes {start}-{start + expected_bytes - 1}) reads {len(data)} of "
                          f"{expected_bytes} bytes: the blob was truncated")
        if hashlib.sha256(data).hexdigest() != self.checksums.chunk_sha256[index]:
            self._damaged(f"chunk {index} (bytes {start}-{start + expected_bytes - 1}) does not match its SHA-256")
        self._cached = (index, data)
        return data

    def _damaged(self, detail: str):
        error = BlobDamaged(self.key, detail)
        if self.on_damage is not None:
            self.on_damage(error)
        raise error


@dataclass(frozen=True)
class DamageEntry:
    """One damaged (or once damaged) blob."""

    blob_key: str
    owner: str
    detail: str
    detected_at: datetime
    repaired_at: datetime | None

    def as_json(self) -> dict:
        return {"blob_key": self.blob_key, "detail": self.detail, "detected": self.detected_at.isoformat(),
                "repaired": None if self.repaired_at is None else self.repaired_at.isoformat()}


class DamageLog:
    """The catalog's record of damaged blobs (table ``damaged_blobs``).

    Parameters
    ----------
    engine : Engine
        For reads.
    writer : Engine
        For write transactions (on SQLite: ``BEGIN IMMEDIATE``).
    """

    def __init__(self, engine: Engine, writer: Engine):
        self.engine = engine
        self.writer = writer

    def record(self, error: BlobDamaged, owner: str) -> None:
        """Log and persist that ``error.key`` (a blob of ``owner``) is damaged."""
        log.error("damaged blob %s of %s: %s", error.key, owner, error.detail)
        table = catalog.damaged_blobs
        now = datetime.now(UTC)
        with self.writer.begin() as conn:
            known = conn.execute(select(table.c.blob_key).where(table.c.blob_key == error.key)).first()
            if known is None:
                conn.execute(insert(table).values(blob_key=error.key, owner=owner, detail=error.detail[:500], detected_at=now))
            else:
                conn.execute(update(table).where(table.c.blob_key == error.key)
                             .values(owner=owner, detail=error.detail[:500], detected_at=now, repaired_at=None))

    def repaired(self, key: str) -> bool:
        """Mark a damaged blob repaired; return whether it was recorded as damaged."""
        table = catalog.damaged_blobs
        with self.writer.begin() as conn:
            changed = conn.execute(update(table).where(table.c.blob_key == key, table.c.repaired_at.is_(None))
                                   .values(repaired_at=datetime.now(UTC))).rowcount
        if changed:
            log.warning("damaged blob %s repaired", key)
        return bool(changed)

    def is_damaged(self, key: str) -> bool:
        table = catalog.damaged_blobs
        with self.engine.connect() as conn:
            found = conn.execute(select(table.c.blob_key).where(table.c.blob_key == key, table.c.repaired_at.is_(None)))
            return found.first() is not None

    def of_owner(self, owner: str) -> list[DamageEntry]:
        """Every damage recorded for the blobs of ``owner`` (repaired ones too), by key."""
        table = catalog.damaged_blobs
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.owner == owner).order_by(table.c.blob_key)).all()
        return [DamageEntry(r.blob_key, r.owner, r.detail, r.detected_at, r.repaired_at) for r in rows]


def damage_counts(conn) -> dict[str, int]:
    """``damaged_blobs`` (damaged now), ``repaired_blobs``, and ``damaged_packages``: packages with a blob damaged now."""
    table = catalog.damaged_blobs
    damaged = table.c.repaired_at.is_(None)
    return {
        "damaged_blobs": conn.execute(select(func.count()).where(damaged)).scalar_one(),
        "repaired_blobs": conn.execute(select(func.count()).where(table.c.repaired_at.is_not(None))).scalar_one(),
        "damaged_packages": conn.execute(select(func.count(table.c.owner.distinct())).where(
            damaged, table.c.owner.in_(select(catalog.packages.c.package_id)))).scalar_one(),
    }


class Integrity:
    """Opens blobs checked against their checksums, recording what is damaged.

    Parameters
    ----------
    blobs : BlobStore
    damage : DamageLog
    """

    def __init__(self, blobs: BlobStore, damage: DamageLog):
        self.blobs = blobs
        self.damage = damage

    def open(self, key: str, owner: str, *, expected_sha256: str | None = None, legacy_prefix: bytes = b"",
             whole: bool = False) -> VerifiedBlob:
        """The blob ``key`` of ``owner`` as a :class:`VerifiedBlob` (``whole``: every chunk checked before returning).

        ``expected_sha256`` is what the catalog holds: the SHA-256 of
        ``legacy_prefix`` followed by the blob. A blob stored before chunk
        checksums were kept gets them here when it still has that digest.

        Raises
        ------
        BlobNotFound
        BlobDamaged
            Recorded as damaged, or found damaged now (then recorded).
        ChecksumsMissing
            An old blob with no ``expected_sha256`` to check it against.
        """
        if self.damage.is_damaged(key):
            raise BlobDamaged(key, RECORDED_DAMAGE)
        return self._open(key, owner, expected_sha256, legacy_prefix, whole)

    def check(self, key: str, owner: str, *, expected_sha256: str | None = None, legacy_prefix: bytes = b"") -> ChunkChecksums:
        """Check every chunk of a blob (whatever is recorded about it) and return its checksums; a blob recorded as
        damaged that checks out now (put back from a replica) is marked repaired. Raises as :meth:`open`."""
        recorded = self.damage.is_damaged(key)
        with self._open(key, owner, expected_sha256, legacy_prefix, whole=False) as blob:
            blob.verify_all()
            checksums = blob.checksums
        if recorded:
            self.damage.repaired(key)
        return checksums

    def _open(self, key: str, owner: str, expected_sha256: str | None, legacy_prefix: bytes, whole: bool) -> VerifiedBlob:
        try:
            checksums = self.blobs.checksums(key)
        except ChecksumsMissing:
            if expected_sha256 is None:
                raise
            checksums = self.backfill(key, owner, expected_sha256, legacy_prefix)
        except BlobDamaged as error:
            self.damage.record(error, owner)
            raise
        size = self.blobs.size(key)
        if size != checksums.size_bytes:
            error = BlobDamaged(key, f"it holds {size} bytes, {checksums.size_bytes} were stored")
            self.damage.record(error, owner)
            raise error
        blob = VerifiedBlob(self.blobs.open(key), checksums, key, on_damage=lambda error: self.damage.record(error, owner))
        if whole:
            try:
                blob.verify_all(keep=True)
            except BaseException:
                blob.close()
                raise
            blob.seek(0)
        return blob

    def backfill(self, key: str, owner: str, expected_sha256: str, legacy_prefix: bytes = b"") -> ChunkChecksums:
        """Compute and keep the chunk checksums of an old blob if SHA-256(``legacy_prefix`` + blob) is ``expected_sha256``.

        Raises
        ------
        BlobDamaged
            The digest differs (recorded).
        """
        writer = ChecksumWriter(prefix=legacy_prefix)
        with self.blobs.open(key) as stored:
            while data := stored.read(writer.chunk_bytes):
                writer.update(data)
        if writer.prefix_sha256() != expected_sha256:
            error = BlobDamaged(key, "stored before chunk checksums were kept, and its SHA-256 no longer matches the catalog's")
            self.damage.record(error, owner)
            raise error
        checksums = writer.result()
        self.blobs.put_checksums(key, checksums)
        log.info("blob %s: chunk checksums added (its SHA-256 matches the catalog)", key)
        return checksums
