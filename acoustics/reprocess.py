"""Reprocessing: rebuilding a package's MP3, PSD and HMD from its stored samples with other settings, as new versions.

A worker executes one job (:mod:`.reprocess_jobs`) at a time:

1. it reads the package and its samples (every chunk checked) and makes each
   product asked for with the job's settings and calibration, in memory (a
   kind the package does not have, e.g. the HMD of a package archived before
   HMD products existed, is made as its version 1);
2. a product whose bytes and details equal the current version's is left as
   it is (same version, same ETag, same resource): reprocessing twice with
   the same settings changes nothing;
3. a changed product is stored durably under new keys (version ``n + 1``,
   :func:`~.product_keys.version_prefix`), never over bytes a client may be
   reading;
4. in one catalog transaction: the job is marked done, each changed product
   row is replaced by its new version if the current one is still the
   version it was made from (else the whole transaction rolls back and the
   job is done again later; a product the package did not have is added if it
   still has none), and the injected ``registrar(conn, record)`` is
   called with the package holding only the changed products (their
   resources get a new ``modified`` and outbox rows).

A worker killed anywhere before step 4 commits leaves the old versions
served and the job pending (on PostgreSQL its row lock goes with the dead
connection), so another worker does it again; the only trace is unreferenced
blobs of the unfinished version. The replaced version's blobs are kept: they
are small next to the samples, a client may be reading them, and they let
an operator compare or go back; ``replaces`` names them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from hydroserve.codecs import SOFTWARE_VERSION
from hydroserve.codecs.times import rfc3339

from . import catalog, product_keys, products
from . import reprocess_jobs as jobs
from .archive import Registrar
from .blobstore import BlobDamaged, BlobInfo, BlobNotFound, BlobStore
from .calibration import Calibration, in_force
from .package_products import PackageProducts
from .product_settings import ProductSettings

log = logging.getLogger(__name__)

KINDS = tuple(products.BUILDERS)
"""The products reprocessing can rebuild (the others, raw and wav, are views of the samples, which never change)."""


class VersionConflict(RuntimeError):
    """Another version of a product was committed while this job made its own; the job stays pending."""


class _Staged:
    """A blob store stand-in that keeps what a builder puts, so nothing is stored unless it changed."""

    def __init__(self):
        self.files: dict[str, bytes] = {}

    def put(self, key: str, chunks) -> BlobInfo:
        data = b"".join(bytes(chunk) for chunk in chunks)
        self.files[key] = data
        return BlobInfo(key, len(data), hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class JobResult:
    """What executing one job did: ``outcome`` per kind (``version`` now current, ``changed``), or the ``error``
    that failed it; ``committed`` is False when another executor had finished the job first."""

    job_id: int
    package_id: str
    outcome: dict | None
    error: str | None = None
    committed: bool = True


def replaced_summary(record: catalog.PackageRecord, product: products.ProductRecord) -> dict:
    """What a new version names of the version it replaces."""
    made_at = product.made_at or record.created_at
    return {"version": product.version, "sha256": product.sha256, "size_bytes": product.size_bytes,
            "blob_key": product.blob_key, "software_version": product.software_version or record.software_version,
            "settings": product.settings or record.settings, "made": rfc3339(made_at)}


class Reprocessor:
    """Executes reprocessing jobs; any number of them may run against one catalog.

    Parameters
    ----------
    reader, writer : sqlalchemy.engine.Engine
        The catalog for reads and for write transactions (on PostgreSQL a job's whole execution is one
        transaction holding the job's row lock, begun as a reader and made a writer by ``become_writer`` only to
        commit the results, so other writers never wait for a job's work).
    package_products : PackageProducts
        Reads the samples, checked chunk by chunk.
    blobs : BlobStore
        Where new versions are stored.
    become_writer : callable
        ``become_writer(conn)`` makes the reader transaction holding a job's row lock a write transaction (PostgreSQL).
    registrar : callable, optional
        ``registrar(conn, record)``: the resources and outbox rows of the changed products, in the job's transaction.
    max_attempts : int
        Executions of a job that a catalog or storage error may end before the job fails.
    retry_delay_s : callable
        ``retry_delay_s(attempts)``: seconds a job waits after its attempt number ``attempts + 1`` ended so.
    """

    def __init__(self, reader: Engine, writer: Engine, package_products: PackageProducts, blobs: BlobStore, *,
                 become_writer: Callable[[Connection], None], registrar: Registrar | None = None,
                 max_attempts: int, retry_delay_s: Callable[[int], float]):
        if max_attempts < 1:
            raise ValueError(f"{max_attempts=} must be at least 1")
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.reader = reader
        self.become_writer = become_writer
        self.writer = writer
        self.package_products = package_products
        self.blobs = blobs
        self.registrar = registrar
        self.row_locks = writer.dialect.name == "postgresql"
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def run_due_jobs(self, limit: int = 1) -> int:
        """Execute up to ``limit`` pending jobs (the ingest loop's duty); return how many were finished.

        A job whose samples are damaged or whose settings cannot make a product is finished as failed;
        a catalog or storage error defers it (:func:`~.reprocess_jobs.defer`: tried again after a delay, failed after
        ``max_attempts``) and ends this call.
        """
        finished = 0
        for _ in range(limit):
            try:
                result = self.run_one()
            except VersionConflict as error:
                log.info("reprocessing: %s; the job is done again", error)
                continue
            except (SQLAlchemyError, OSError) as error:  # no job taken, or its attempt not recorded
                log.error("reprocessing stopped for now (the catalog is out of reach): %s", error)
                break
            if result is None:
                break
            finished += 1
        return finished

    def run_one(self) -> JobResult | None:
        """Execute the oldest due job that no other worker holds; None when there is none, or when a catalog or storage
        error ended it and it waits for its retry."""
        job = None
        try:
            if self.row_locks:
                with self.reader.begin() as conn:  # a reader while the job is built: other writers go on meanwhile
                    job = jobs.next_due(conn, lock=True)
                    if job is None:
                        return None
                    built = self._build_or_error(job)
                    self.become_writer(conn)
                    return self._commit(conn, job, built)
            with self.reader.connect() as conn:
                job = jobs.next_due(conn, lock=False)
            if job is None:
                return None
            built = self._build_or_error(job)
            with self.writer.begin() as conn:
                return self._commit(conn, job, built)
        except (SQLAlchemyError, OSError) as error:
            if job is None:
                raise
            return self._defer(job, f"{type(error).__name__}: {error}")

    def _defer(self, job: jobs.Job, error: str) -> JobResult | None:
        """Record the attempt a catalog or storage ``error`` ended (its transaction rolled back): the job's result when
        that failed it for good, else None (a catalog still out of reach raises its own error)."""
        with self.writer.begin() as conn:
            failed = jobs.defer(conn, job.job_id, error, worker=self.worker, max_attempts=self.max_attempts,
                                retry_delay_s=self.retry_delay_s)
        if failed is None:
            log.warning("reprocessing job %d (%s): %s; tried again later (at most %d attempts)", job.job_id,
                        job.package_id, error, self.max_attempts)
            return None
        log.error("reprocessing job %d (%s) failed: %s", job.job_id, job.package_id, failed)
        return JobResult(job.job_id, job.package_id, None, failed)

    def _build_or_error(self, job: jobs.Job) -> dict | str:
        """:meth:`_build`; an unforeseen error fails the job (logged with its traceback) rather than stopping the
        worker or holding up the jobs after it. Catalog and storage errors propagate: the job stays pending."""
        try:
            return self._build(job)
        except (SQLAlchemyError, OSError):
            raise
        except Exception as error:  # noqa: BLE001 - recorded in the job and logged; the worker goes on
            log.exception("reprocessing job %d (%s) failed", job.job_id, job.package_id)
            return f"unexpected error: {type(error).__name__}: {error}"

    def _build(self, job: jobs.Job) -> dict | str:
        """Each kind's ``(current version (0: none), new ProductRecord or None if unchanged)``, or the error failing
        the job."""
        with self.reader.connect() as conn:
            record = catalog.get_package(conn, job.package_id)
        if record is None:
            return f"package {job.package_id} is not in the catalog"
        settings = ProductSettings.from_json(job.settings)
        calibration = in_force(None if job.calibration is None else Calibration.from_json(job.calibration), record.boundary_tick)
        try:
            runs = self.package_products.sample_runs(record)
        except (BlobNotFound, BlobDamaged) as error:
            return f"the samples of {job.package_id} cannot be read: {error}"
        prefix = product_keys.package_prefix(record.package_id, record.sensor, record.boundary_tick)
        built = {}
        for kind in job.kinds:
            current = record.products.get(kind)  # None: e.g. the hmd of a package archived before hmd products existed
            version = 1 if current is None else current.version + 1
            staged = _Staged()
            try:
                made = products.BUILDERS[kind](runs, settings, calibration, staged,
                                               product_keys.version_prefix(prefix, version, job.job_id), record.package_id,
                                               record.runs)
            except ValueError as error:
                return f"the {kind} of {job.package_id} cannot be made with these settings: {error}"
            if current is not None and (made.sha256, made.details) == (current.sha256, current.details):
                built[kind] = (current.version, None)
                continue
            for key, data in staged.files.items():
                self.blobs.put(key, [data])
            built[kind] = (version - 1, replace(
                made, version=version, job_id=job.job_id, settings={**record.settings, **job.settings},
                software_version=SOFTWARE_VERSION, made_at=datetime.now(UTC),
                replaces=None if current is None else replaced_summary(record, current)))
        return {"record": record, "built": built}

    def _commit(self, conn: Connection, job: jobs.Job, built: dict | str) -> JobResult:
        if isinstance(built, str):
            committed = jobs.finish(conn, job.job_id, worker=self.worker, error=built)
            log.error("reprocessing job %d failed: %s", job.job_id, built)
            return JobResult(job.job_id, job.package_id, None, built, committed)
        record, by_kind = built["record"], built["built"]
        outcome = {kind: {"version": current + (new is not None), "changed": new is not None}
                   for kind, (current, new) in by_kind.items()}
        if not jobs.finish(conn, job.job_id, worker=self.worker, outcome=outcome):
            return JobResult(job.job_id, job.package_id, outcome, committed=False)
        changed = {}
        for kind, (current, new) in by_kind.items():
            if new is None:
                if _current_version(conn, job.package_id, kind) != current:
                    raise VersionConflict(f"{job.package_id} {kind}: a new version was committed meanwhile")
            elif current == 0:
                if _current_version(conn, job.package_id, kind) is not None:  # writers are serialised: no race after
                    raise VersionConflict(f"{job.package_id} {kind}: another job added it meanwhile")
                catalog.add_product(conn, job.package_id, new)
                changed[kind] = new
            elif catalog.replace_product(conn, job.package_id, new, current):
                changed[kind] = new
            else:
                raise VersionConflict(f"{job.package_id} {kind}: version {current} was replaced meanwhile")
        if changed and self.registrar is not None:
            self.registrar(conn, replace(record, products=changed))
        log.info("reprocessed %s: %s", job.package_id,
                 ", ".join(f"{kind} v{o['version']}{'' if o['changed'] else ' (unchanged)'}" for kind, o in outcome.items()))
        return JobResult(job.job_id, job.package_id, outcome)


def _current_version(conn: Connection, package_id: str, kind: str) -> int | None:
    return conn.execute(select(catalog.products.c.version).where(
        catalog.products.c.package_id == package_id, catalog.products.c.kind == kind)).scalar()
