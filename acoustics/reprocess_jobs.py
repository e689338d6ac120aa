"""Reprocessing jobs: one row per package to rebuild, in the catalog, taken by whichever worker is free.

``hydroserve reprocess`` submits a *batch* of jobs (one per package), each
carrying the product kinds to rebuild and the product settings and sensor
calibration to rebuild them with, so the result does not depend on which
worker runs it. A job is ``pending`` until a worker finishes it, then
``done`` (with its ``outcome``: per kind, the version now current and whether
it changed) or ``failed`` (with the error: the samples are damaged, the
settings cannot make the product, or a catalog or storage error outlasted the
job's attempts). A job hit by a catalog or storage error stays pending but is
not taken again before its ``retry_at`` (:func:`defer`, with the executor's
backoff), and fails once it has been attempted ``max_attempts`` times.

Taking a job: on PostgreSQL a worker locks the oldest pending job with
``SELECT ... FOR UPDATE SKIP LOCKED`` and holds that row lock until the job's
results commit in the same transaction, so concurrent workers take different
jobs, and a worker that dies releases its job at once (its transaction rolls
back). On SQLite (one writer) the job is read without a lock and marked done
by a compare-and-set (:func:`finish`): two executors of the same job cannot
both commit it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from .catalog import metadata

PENDING, DONE, FAILED = "pending", "done", "failed"
MAX_ERROR_CHARS = 2000

jobs = Table(
    "reprocess_jobs",
    metadata,
    Column("job_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("batch_id", String(32), nullable=False, comment="the `hydroserve reprocess` run that submitted it"),
    Column("package_id", String(96), ForeignKey("packages.package_id"), nullable=False),
    Column("kinds", JSON, nullable=False, comment='product kinds to rebuild, e.g. ["mp3", "psd"]'),
    Column("settings", JSON, nullable=False, comment="product settings to rebuild with (configuration keys)"),
    Column("calibration", JSON, nullable=True, comment="the sensor calibration to rebuild with; NULL: uncalibrated"),
    Column("state", String(16), nullable=False, comment="pending | done | failed"),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("worker", String(200), nullable=True, comment="who finished it (host:pid)"),
    Column("outcome", JSON, nullable=True, comment='per kind: {"version": n, "changed": bool}'),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0",
           comment="executions ended by a catalog or storage error (the job stays pending until max attempts)"),
    Column("retry_at", DateTime(timezone=True), nullable=True, comment="not taken again before this time"),
    Column("last_error", Text, nullable=True, comment="the catalog or storage error of the last attempt"),
    Index("reprocess_jobs_due", "state", "job_id"),
    Index("reprocess_jobs_by_batch", "batch_id", "state"),
)


@dataclass(frozen=True)
class Job:
    """A pending job: what to rebuild (``kinds`` of ``package_id``) and with what."""

    job_id: int
    batch_id: str
    package_id: str
    kinds: tuple[str, ...]
    settings: dict
    calibration: dict | None


def submit(conn: Connection, batch_id: str, targets: list[tuple[str, dict | None]], kinds: tuple[str, ...],
           settings: dict) -> int:
    """Queue one job per ``(package_id, calibration)`` of ``targets``; return how many."""
    now = datetime.now(UTC)
    rows = [{"batch_id": batch_id, "package_id": package_id, "kinds": list(kinds), "settings": settings,
             "calibration": calibration, "state": PENDING, "created": now} for package_id, calibration in targets]
    if rows:
        conn.execute(insert(jobs), rows)
    return len(rows)


def next_due(conn: Connection, *, lock: bool) -> Job | None:
    """The oldest pending job not waiting for a retry; with ``lock`` (PostgreSQL) locked for this transaction,
    skipping jobs other workers hold."""
    query = (select(jobs).where(jobs.c.state == PENDING, or_(jobs.c.retry_at.is_(None), jobs.c.retry_at <= datetime.now(UTC)))
             .order_by(jobs.c.job_id).limit(1))
    if lock:
        query = query.with_for_update(skip_locked=True)
    row = conn.execute(query).first()
    if row is None:
        return None
    return Job(row.job_id, row.batch_id, row.package_id, tuple(row.kinds), row.settings, row.calibration)


def finish(conn: Connection, job_id: int, *, worker: str, outcome: dict | None = None, error: str | None = None) -> bool:
    """Mark a pending job done (``outcome``) or failed (``error``); False if it is not pending any more (another
    executor finished it first: then the caller must not commit its own results)."""
    done = conn.execute(
        update(jobs).where(jobs.c.job_id == job_id, jobs.c.state == PENDING).values(
            state=DONE if error is None else FAILED, finished_at=datetime.now(UTC), worker=worker, outcome=outcome,
            error=None if error is None else error[:MAX_ERROR_CHARS],
        )
    )
    return done.rowcount == 1


def defer(conn: Connection, job_id: int, error: str, *, worker: str, max_attempts: int,
          retry_delay_s: Callable[[int], float]) -> str | None:
    """Count a pending job's attempt ended by a catalog or storage ``error``: it is tried again after
    ``retry_delay_s(attempts before this one)`` seconds, or failed when this was attempt ``max_attempts``. Returns the
    error it failed with (None: it waits; or it was not pending any more)."""
    attempts = conn.execute(select(jobs.c.attempts).where(jobs.c.job_id == job_id, jobs.c.state == PENDING)).scalar()
    if attempts is None:
        return None
    attempts += 1
    waits = attempts < max_attempts
    conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(
        attempts=attempts, last_error=error[:MAX_ERROR_CHARS],
        retry_at=datetime.now(UTC) + timedelta(seconds=retry_delay_s(attempts - 1)) if waits else None))
    if waits:
        return None
    failed = f"gave up after {attempts} attempts: {error}"
    finish(conn, job_id, worker=worker, error=failed)
    return failed


def counts(conn: Connection, batch_id: str) -> dict[str, int]:
    """Jobs of a batch per state (every state present, 0 when none)."""
    rows = conn.execute(select(jobs.c.state, func.count()).where(jobs.c.batch_id == batch_id).group_by(jobs.c.state))
    return {PENDING: 0, DONE: 0, FAILED: 0, **dict(rows.all())}


def finished(conn: Connection, batch_id: str):
    """The finished jobs of a batch (package id, state, outcome, error), in job order."""
    return conn.execute(
        select(jobs.c.package_id, jobs.c.state, jobs.c.outcome, jobs.c.error)
        .where(jobs.c.batch_id == batch_id, jobs.c.state != PENDING).order_by(jobs.c.job_id)
    ).all()
