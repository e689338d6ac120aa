"""Scrubbing the archive: every blob checked against its chunk checksums (``hydroserve verify``).

The blobs of a package are its samples, its MP3, its /psd document and
whatever was derived from it on demand (PSD arrays, pictures: every key
under the package's prefix). Each is read whole through
:meth:`~.integrity.Integrity.check`, so damage is recorded (and logged with
the key) exactly as when it is met while serving, a blob recorded as damaged
that checks out again is marked repaired, and old blobs get their chunk
checksums when their SHA-256 still equals the catalog's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from . import catalog, products
from .blobstore import BlobDamaged, BlobNotFound, ChecksumsMissing
from .integrity import Integrity

PAGE_SIZE = 500


@dataclass(frozen=True)
class ScrubTarget:
    """A blob to check: its ``key``, the package or table it belongs to, the catalog's SHA-256 of
    ``legacy_prefix`` + blob (None for files derived on demand), and whether it can be made again."""

    key: str
    owner: str
    expected_sha256: str | None
    rebuildable: bool
    legacy_prefix: bytes = b""


@dataclass(frozen=True)
class ScrubResult:
    """What checking a target found: ``state`` is ``ok``, ``damaged``, ``missing`` (a blob that cannot be made
    again is gone) or ``unchecked`` (an old derived file without checksums or digest: made again when next used)."""

    target: ScrubTarget
    state: str
    size_bytes: int
    detail: str = ""
    backfilled: bool = False
    repaired: bool = False


def package_targets(record: catalog.PackageRecord, blob_keys: list[str]) -> list[ScrubTarget]:
    """The blobs of a package: samples, MP3 and /psd document from the catalog, then every other key under its
    prefix in ``blob_keys`` (files derived on demand). Products deleted by retention (``record.expired``) have none."""
    pid = record.package_id
    if "wav" in record.expired:  # the samples were deleted by retention
        targets = []
    elif "flac" in record.products:  # the samples blob is the FLAC product
        targets = [ScrubTarget(record.samples_key, pid, record.products["flac"].sha256, False)]
    else:
        wav_header = products.wav_view(pid, record.n_samples, record.start_tick, len(record.gaps)).parts[0].data
        targets = [ScrubTarget(record.samples_key, pid, record.products["wav"].sha256, False, wav_header)]
    targets += [ScrubTarget(p.blob_key, pid, p.sha256, True) for p in record.products.values()
                if p.blob_key and p.blob_key != record.samples_key and p.kind not in record.expired]
    known = {t.key for t in targets}
    return targets + [ScrubTarget(key, pid, None, True) for key in blob_keys if key not in known]


def packages(engine: Engine, *, sensor: str | None = None, start_tick: int | None = None) -> Iterator[catalog.PackageRecord]:
    """The catalogued packages, oldest first, of one ``sensor`` and from ``start_tick`` if given."""
    after = None
    while True:
        with engine.connect() as conn:
            page = catalog.list_packages(conn, sensor=sensor, start_tick=start_tick, after=after, newest_first=False,
                                         limit=PAGE_SIZE)
        yield from page
        if len(page) < PAGE_SIZE:
            return
        after = (page[-1].boundary_tick, page[-1].package_id)


def check(integrity: Integrity, target: ScrubTarget) -> ScrubResult:
    """Check one blob (see the module docstring)."""
    recorded = integrity.damage.is_damaged(target.key)
    had_checksums = True
    try:
        integrity.blobs.checksums(target.key)
    except ChecksumsMissing:
        had_checksums = False
    except (BlobNotFound, BlobDamaged):
        pass
    try:
        checksums = integrity.check(target.key, target.owner, expected_sha256=target.expected_sha256,
                                    legacy_prefix=target.legacy_prefix)
    except BlobNotFound:
        state = "ok" if target.rebuildable else "missing"
        return ScrubResult(target, state, 0, "missing; made again when next used" if target.rebuildable else "missing")
    except ChecksumsMissing:
        return ScrubResult(target, "unchecked", integrity.blobs.size(target.key),
                           "stored before chunk checksums were kept and has no digest in the catalog; made again when next used")
    except BlobDamaged as error:
        return ScrubResult(target, "damaged", _size(integrity, target.key), error.detail)
    return ScrubResult(target, "ok", checksums.size_bytes, backfilled=not had_checksums, repaired=recorded)


def _size(integrity: Integrity, key: str) -> int:
    try:
        return integrity.blobs.size(key)
    except BlobNotFound:
        return 0


def summary(results: list[ScrubResult]) -> dict:
    """The report of a scrub: counts, and the keys found damaged, missing, unchecked, given checksums or repaired."""

    def listed(state: str) -> list[dict]:
        return [{"blob_key": r.target.key, "owner": r.target.owner, "detail": r.detail} for r in results if r.state == state]

    damaged = listed("damaged")
    return {
        "blobs_checked": len(results),
        "bytes_checked": sum(r.size_bytes for r in results),
        "ok": sum(r.state == "ok" for r in results),
        "damaged": damaged,
        "missing": listed("missing"),
        "unchecked": listed("unchecked"),
        "damaged_owners": sorted({entry["owner"] for entry in damaged}),
        "checksums_added": [r.target.key for r in results if r.backfilled],
        "repaired": [r.target.key for r in results if r.repaired],
    }
