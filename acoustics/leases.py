"""Sensor leases: which ingest worker cuts which sensor, on a PostgreSQL catalog.

Any number of ``hydroserve ingest`` workers share the sensors of one spool.
Every sensor is cut by exactly one worker at a time: the worker holding its
lease. Two tables (in the acoustic catalog's metadata):

``ingest_workers``  one row per worker, ``expires_at`` renewed by its heartbeat;
``sensor_leases``   one row per sensor seen in the spool: the worker holding it
                    (NULL: free) and until when.

Times are the database server's clock (``clock_timestamp()``), so workers on
machines with different clocks agree. Each step is one short transaction:

* **heartbeat** (its own thread, every ``lease_s / 3``): the worker's row and
  every lease it holds get ``expires_at = now + lease_s``; a lease now held by
  another worker is *lost*;
* **balance** (the worker loop, every pass): the fair share is
  ``ceil(sensors / live workers)``; a worker holding more releases the excess,
  one holding fewer claims free or expired leases with
  ``SELECT … FOR UPDATE SKIP LOCKED`` (workers claiming at once never wait for
  nor take each other's rows);
* **fence** (inside every archive transaction): the sensor's lease row is read
  ``FOR UPDATE`` and must be this worker's and unexpired, else
  :class:`LeaseLost` rolls the transaction back. The row lock keeps every
  other worker from taking the lease until that transaction has ended, so a
  worker that lost its lease never commits a package for that sensor.

A worker killed with SIGKILL stops renewing: its rows expire after at most
``lease_s`` and the others claim its sensors on their next pass, resuming
from the catalog cursor (``sensors.next_boundary_tick``).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Column, DateTime, Index, Integer, Interval, String, Table, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from hydroserve.codecs.raw import SensorId

from .catalog import metadata

log = logging.getLogger(__name__)

ingest_workers = Table(
    "ingest_workers",
    metadata,
    Column("worker_id", String(128), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, comment="the worker counts as live until then"),
)

sensor_leases = Table(
    "sensor_leases",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("worker_id", String(128), nullable=True, comment="the worker cutting this sensor; NULL: free"),
    Column("expires_at", DateTime(timezone=True), nullable=True, comment="the lease is void after this"),
    Index("sensor_leases_by_worker", "worker_id"),
)


class LeaseLost(RuntimeError):
    """This worker no longer holds the sensor's lease: nothing of it may be written."""

    def __init__(self, sensor: SensorId | str):
        super().__init__(f"{sensor}: this worker no longer holds the sensor's lease; "
                         "another worker goes on from the catalog cursor")
        self.sensor = str(sensor)


@dataclass(frozen=True)
class Balance:
    """What one balancing step changed: sensors newly held, and sensors given up."""

    acquired: frozenset[str]
    released: frozenset[str]


def new_worker_id() -> str:
    """``<host>:<pid>:<random>``: unique across machines and restarts, readable in the tables."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SensorLeases:
    """One worker's side of the lease protocol (see the module docstring); PostgreSQL only.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        A PostgreSQL catalog with the tables above.
    lease_s : float
        How long a lease and the worker's liveness last without a heartbeat.
    worker_id : str, optional
        Default: :func:`new_worker_id`.
    """

    def __init__(self, engine: Engine, *, lease_s: float, worker_id: str | None = None):
        if engine.dialect.name != "postgresql":
            raise ValueError(f"sensor leases need a PostgreSQL catalog, not {engine.dialect.name}")
        if lease_s <= 0:
            raise ValueError(f"{lease_s=} must be positive")
        self.engine = engine
        self.lease_s = lease_s
        self.worker_id = worker_id or new_worker_id()
        self._guard = threading.RLock()  # one step at a time: heartbeat (its thread) and balance (the loop)
        self._held: set[str] = set()
        self._lost: set[str] = set()
        self._announced: set[str] = set()

    def _until(self):
        return func.clock_timestamp() + literal(timedelta(seconds=self.lease_s), Interval)

    @property
    def held(self) -> frozenset[str]:
        with self._guard:
            return frozenset(self._held)

    def heartbeat(self) -> None:
        """Renew this worker's liveness and every lease it holds; leases taken by others become lost."""
        with self._guard, self.engine.begin() as conn:
            values = {"host": socket.gethostname(), "pid": os.getpid(), "expires_at": self._until()}
            conn.execute(
                pg_insert(ingest_workers)
                .values(worker_id=self.worker_id, started_at=func.clock_timestamp(), **values)
                .on_conflict_do_update(index_elements=["worker_id"], set_={"expires_at": values["expires_at"]})
            )
            renewed = set(conn.execute(
                update(sensor_leases).where(sensor_leases.c.worker_id == self.worker_id)
                .values(expires_at=self._until()).returning(sensor_leases.c.sensor_id)
            ).scalars())
            lost = self._held - renewed
            self._lost |= lost
            self._held -= lost
        for sensor in sorted(lost):
            log.warning("%s: lease lost to another worker (this worker missed its renewal)", sensor)

    def take_lost(self) -> frozenset[str]:
        """Sensors lost since the last call (their state must be dropped)."""
        with self._guard:
            lost, self._lost = frozenset(self._lost), set()
        return lost

    def announce(self, sensors) -> None:
        """Make sure every sensor seen in the spool has a lease row (a free one if new)."""
        new = sorted(set(map(str, sensors)) - self._announced)
        if new:
            with self.engine.begin() as conn:
                conn.execute(pg_insert(sensor_leases).on_conflict_do_nothing(), [{"sensor_id": s} for s in new])
            self._announced.update(new)

    def balance(self) -> Balance:
        """Give up the sensors above the fair share and claim free or expired ones up to it.

        The caller drops its state of released sensors, and starts acquired ones afresh from the catalog cursor.
        """
        with self._guard, self.engine.begin() as conn:
            now = func.clock_timestamp()
            conn.execute(delete(ingest_workers).where(ingest_workers.c.expires_at <= now))  # dead workers
            n_workers = conn.execute(select(func.count()).where(ingest_workers.c.expires_at > now)).scalar()
            n_sensors = conn.execute(select(func.count()).select_from(sensor_leases)).scalar()
            share = math.ceil(n_sensors / max(n_workers, 1))
            mine = set(conn.execute(select(sensor_leases.c.sensor_id).where(
                sensor_leases.c.worker_id == self.worker_id, sensor_leases.c.expires_at > now)).scalars())
            released = set(sorted(mine)[share:])
            if released:
                conn.execute(update(sensor_leases).where(
                    sensor_leases.c.worker_id == self.worker_id, sensor_leases.c.sensor_id.in_(released)
                ).values(worker_id=None, expires_at=None))
            acquired = set()
            if len(mine) < share:
                free = (sensor_leases.c.worker_id.is_(None)) | (sensor_leases.c.expires_at <= now)
                acquired = set(conn.execute(
                    select(sensor_leases.c.sensor_id).where(free).order_by(sensor_leases.c.sensor_id)
                    .limit(share - len(mine)).with_for_update(skip_locked=True)
                ).scalars())
                if acquired:
                    conn.execute(update(sensor_leases).where(sensor_leases.c.sensor_id.in_(acquired))
                                 .values(worker_id=self.worker_id, expires_at=self._until()))
            held = (mine - released) | acquired
            self._lost |= self._held - released - held  # expired and taken by another worker since the last step
            self._held = held
        if acquired or released:
            log.info("leases: %d held (share %d of %d sensors, %d workers); acquired %s; released %s",
                     len(self._held), share, n_sensors, n_workers, sorted(acquired), sorted(released))
        return Balance(frozenset(acquired), frozenset(released))

    def fence(self, conn: Connection, sensor: SensorId) -> None:
        """Inside an archive transaction: lock the sensor's lease row and check it is this worker's and unexpired.

        Raises
        ------
        LeaseLost
            Otherwise (the transaction must roll back).
        """
        row = conn.execute(
            select(sensor_leases.c.sensor_id).where(
                sensor_leases.c.sensor_id == str(sensor),
                sensor_leases.c.worker_id == self.worker_id,
                sensor_leases.c.expires_at > func.clock_timestamp(),
            ).with_for_update()
        ).first()
        if row is None:
            raise LeaseLost(sensor)

    def drop(self, sensor: SensorId | str) -> None:
        """Forget a sensor whose lease was found lost (by :meth:`fence`)."""
        with self._guard:
            self._held.discard(str(sensor))

    def leave(self) -> None:
        """Free every lease of this worker and remove its row (a clean stop: the others take over at once)."""
        with self._guard, self.engine.begin() as conn:
            conn.execute(update(sensor_leases).where(sensor_leases.c.worker_id == self.worker_id)
                         .values(worker_id=None, expires_at=None))
            conn.execute(delete(ingest_workers).where(ingest_workers.c.worker_id == self.worker_id))
            self._held.clear()


class Heartbeat(threading.Thread):
    """Renews a worker's leases every ``lease_s / 3`` until stopped; a catalog error is logged and retried next beat."""

    def __init__(self, leases: SensorLeases):
        super().__init__(name="lease-heartbeat", daemon=True)
        self.leases = leases
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.leases.lease_s / 3):
            try:
                self.leases.heartbeat()
            except OperationalError as error:  # the catalog is unreachable: leases expire unless the next beat works
                log.error("lease heartbeat failed (%s); retrying in %.1f s", error, self.leases.lease_s / 3)

    def stop(self) -> None:
        self.stopped.set()
        self.join()
