"""Retention: products deleted once their rule says they are old enough, in an order that never serves a product
without its bytes.

Rules are per *retention class*, each covering the products (and the files derived from them) listed in
:data:`RETENTION_CLASSES`:

``samples``
    the stored samples and every product that is a view on them or made from them: ``raw``, ``wav``
    (and ``flac``), the spectrogram pictures;
``mp3``
    the MP3;
``psd``
    the /psd document, the PSD arrays at every nfft, the PSD pictures;
``hmd``
    the 1-minute HMD spectra and levels of the package; the daily files and long-term queries made from them lose
    that package's minutes: marking raises the revision of the days it touches (:mod:`.hmd_days`), and the purge
    deletes those days' stored aggregates (made again, without the package, when next asked).

A class kept for ``days`` expires a package's products once the package was *archived* (``created_at``)
more than ``days`` days ago: an old recording imported today is kept as long as a fresh one.

Order, for each batch of expiring products:

1. one catalog transaction: an ``expired_products`` row per product (when, why), the new revision of the
   sensor-days of expiring HMD, and the injected ``on_expired(conn, items, expired_at, reason, day_revisions)`` (the resources'
   tombstones and outbox rows); commit. From here the product answers 410 Gone;
2. the blobs are deleted (:meth:`~.blobstore.BlobStore.delete`; for HMD also the day aggregates of the revisions
   before the days' current one), then ``purged_at`` is set.

A crash between 1 and 2 leaves bytes that nobody serves; every run first finishes such purges
(``purged_at IS NULL``). Blobs are never deleted before the product is marked, so a served product always has
its bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from . import catalog, hmd_days, product_keys
from .blobstore import BlobNotFound, BlobStore

log = logging.getLogger(__name__)

RETENTION_CLASSES: dict[str, tuple[str, ...]] = {"samples": ("raw", "wav", "flac"), "mp3": ("mp3",), "psd": ("psd",),
                                                 "hmd": ("hmd",)}
"""Retention class -> the product kinds it covers (kinds a package does not have are ignored)."""

OnExpired = Callable[[Connection, list[tuple[str, str]], datetime, str], None]
"""``on_expired(conn, [(package_id, kind), ...], expired_at, reason, day_revisions)``, called in the marking transaction;
``day_revisions``: the new revision of every ``(sensor, day)`` that the expiring HMD touched."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each retention class is kept: ``days[class]`` (a positive number), or None / absent: forever.

    Raises
    ------
    ValueError
        For a class that is not in :data:`RETENTION_CLASSES` or a number of days that is not positive.
    """

    days: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self):
        for name, days in self.days.items():
            if name not in RETENTION_CLASSES:
                raise ValueError(f"retention class {name!r} is not one of {', '.join(RETENTION_CLASSES)}")
            if days is not None and not days > 0:
                raise ValueError(f"retention of {name}: {days=} must be a positive number of days (or forever)")

    def rules(self) -> dict[str, float]:
        """The classes that expire, with their days."""
        return {name: days for name, days in self.days.items() if days is not None}

    @staticmethod
    def reason(name: str, days: float) -> str:
        return f"retention rule: {name} is kept {days:g} days after its package was archived"


@dataclass
class RetentionReport:
    """What a run did (or, with ``dry_run``, would do)."""

    dry_run: bool
    expired: list[dict] = field(default_factory=list)
    """``{"package_id", "kind", "reason"}`` of each product marked deleted by this run (would be, in a dry run)."""
    blobs_deleted: list[str] = field(default_factory=list)
    bytes_deleted: int = 0

    def summary(self) -> dict:
        return {"dry_run": self.dry_run, "expired": self.expired, "n_expired": len(self.expired),
                "blobs_deleted": len(self.blobs_deleted), "bytes_deleted": self.bytes_deleted}


class Retention:
    """Applies a :class:`RetentionPolicy` to the archive.

    Parameters
    ----------
    engine : Engine
        The catalog, for write transactions.
    blobs : BlobStore
    policy : RetentionPolicy
    on_expired : callable, optional
        Called in each marking transaction (see :data:`OnExpired`): the wiring writes the tombstones there.
    batch_size : int
        Products marked per transaction.
    """

    def __init__(self, engine: Engine, blobs: BlobStore, policy: RetentionPolicy, *, on_expired: OnExpired | None = None,
                 batch_size: int = 200):
        if batch_size < 1:
            raise ValueError(f"{batch_size=} must be at least 1")
        self.engine = engine
        self.blobs = blobs
        self.policy = policy
        self.on_expired = on_expired
        self.batch_size = batch_size

    def run(self, now: datetime | None = None, *, dry_run: bool = False) -> RetentionReport:
        """Mark every product whose rule has run out, then delete its blobs (first those of an interrupted run)."""
        now = now or datetime.now(UTC)
        report = RetentionReport(dry_run)
        if not dry_run:
            self._purge_pending(report)
        for name, days in self.policy.rules().items():
            reason = self.policy.reason(name, days)
            after, conflicts = None, 0
            while True:
                with self.engine.connect() as conn:
                    batch = _due(conn, RETENTION_CLASSES[name], now - timedelta(days=days), after, self.batch_size)
                if not batch:
                    break
                items = [(pid, kind) for _, pid, kind in batch]
                if dry_run:
                    after = batch[-1]
                elif not self._mark(items, now, reason, raise_conflict=conflicts >= 3):
                    conflicts += 1  # another worker marked some of them first: look again
                    continue
                report.expired += [{"package_id": pid, "kind": kind, "reason": reason} for pid, kind in items]
                if not dry_run:
                    self._purge_pending(report)
        if report.expired or report.blobs_deleted:
            log.info("retention: %d products %s, %d blobs (%d bytes) deleted", len(report.expired),
                     "would expire (dry run)" if dry_run else "expired", len(report.blobs_deleted), report.bytes_deleted)
        return report

    def _mark(self, items: list[tuple[str, str]], now: datetime, reason: str, *, raise_conflict: bool) -> bool:
        """Mark ``items`` expired and write their tombstones in one transaction; False if another run marked some of
        them first (an IntegrityError, raised instead when ``raise_conflict``: it keeps happening, so it is no race)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(catalog.expired_products), [
                    {"package_id": pid, "kind": kind, "expired_at": now, "reason": reason, "purged_at": None}
                    for pid, kind in items])
                expiring_hmd = sorted({pid for pid, kind in items if kind == "hmd"})
                day_revisions = {}  # the days of the expiring HMD: each one revision more
                for sensor, day in sorted(hmd_days.package_days(catalog.get_package(conn, pid) for pid in expiring_hmd)):
                    day_revisions[(sensor, day)] = hmd_days.touch(conn, sensor, [day])[day]
                if self.on_expired is not None:
                    self.on_expired(conn, items, now, reason, day_revisions)
        except IntegrityError:
            if raise_conflict:
                raise
            log.info("retention: another run marked some of these products first")
            return False
        return True

    def _purge_pending(self, report: RetentionReport) -> None:
        """Delete the blobs of every marked product whose blobs are not deleted yet, then record it."""
        table = catalog.expired_products
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(table.c.package_id, table.c.kind).where(table.c.purged_at.is_(None))
                                    .order_by(table.c.package_id).limit(self.batch_size)).all()
                if not rows:
                    return
                by_package: dict[str, set[str]] = {}
                for row in rows:
                    by_package.setdefault(row.package_id, set()).add(row.kind)
                expired = catalog.expired(conn, list(by_package))
                records = {pid: catalog.get_package(conn, pid) for pid in by_package}
                days = sorted(hmd_days.package_days(records[pid] for pid, kinds in by_package.items() if "hmd" in kinds))
                revisions = {key: revision for sensor, day in days for key, revision in hmd_days.revisions(
                    conn, first_day=day, last_day=day, sensors=[sensor]).items()}
            keys = [key for pid in by_package for key in blob_keys(records[pid], set(expired.get(pid, {})), self.blobs)]
            # the days' aggregates made before the revision that their expired minutes left
            keys += [key for (sensor, day), revision in revisions.items()
                     for key in hmd_days.superseded_keys(self.blobs, sensor, day, revision)]
            for key in keys:
                report.bytes_deleted += _size(self.blobs, key)
                self.blobs.delete(key)
                report.blobs_deleted.append(key)
            with self.engine.begin() as conn:
                for row in rows:
                    conn.execute(update(table).where(table.c.package_id == row.package_id, table.c.kind == row.kind)
                                 .values(purged_at=datetime.now(UTC)))


def blob_keys(record: catalog.PackageRecord, expired_kinds: set[str], blobs: BlobStore) -> list[str]:
    """The blobs of ``record`` that belong to its retention classes all of whose products are in ``expired_kinds``:
    the products' own blobs, the samples (class ``samples``) and every blob made from them, in every version
    (:func:`.product_keys.source_of`)."""
    prefix = product_keys.package_prefix(record.package_id, record.sensor, record.boundary_tick)
    stored = blobs.keys(prefix + ".")
    keys: list[str] = []
    for name, kinds in RETENTION_CLASSES.items():
        present = [kind for kind in kinds if kind in record.products]
        if not present or not set(present) <= expired_kinds:
            continue
        keys += [record.products[kind].blob_key for kind in present if record.products[kind].blob_key]
        if name == "samples":
            keys.append(record.samples_key)
        keys += [key for key in stored if product_keys.source_of(prefix, key) == name]
    return sorted(set(keys))


def _due(conn: Connection, kinds: tuple[str, ...], cutoff: datetime, after: tuple | None, limit: int) -> list[tuple]:
    """(created_at, package_id, kind) of the products of ``kinds`` not marked yet whose package was archived before
    ``cutoff``, in that order, after the position ``after``."""
    products, packages, expired = catalog.products, catalog.packages, catalog.expired_products
    marked = exists().where(expired.c.package_id == products.c.package_id, expired.c.kind == products.c.kind)
    query = (select(packages.c.created_at, products.c.package_id, products.c.kind)
             .join(packages, packages.c.package_id == products.c.package_id)
             .where(products.c.kind.in_(kinds), packages.c.created_at < cutoff, ~marked))
    if after is not None:
        stamp, pid, kind = after
        query = query.where(or_(packages.c.created_at > stamp,
                                and_(packages.c.created_at == stamp, products.c.package_id > pid),
                                and_(packages.c.created_at == stamp, products.c.package_id == pid, products.c.kind > kind)))
    order = (packages.c.created_at, products.c.package_id, products.c.kind)
    return [tuple(row) for row in conn.execute(query.order_by(*order).limit(limit))]


def _size(blobs: BlobStore, key: str) -> int:
    try:
        return blobs.size(key)
    except BlobNotFound:
        return 0
