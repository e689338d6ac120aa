"""``hydroserve ingest``: one ingest worker, on SQLite the one writer, on PostgreSQL one of many.

On SQLite the worker first takes the single-writer lock (:mod:`.single_writer`); a second one is refused.
On PostgreSQL it joins the others through sensor leases (:mod:`hydroserve.acoustics.leases`): a heartbeat
thread renews its leases, every spool pass balances them, and every archive transaction is fenced by the
sensor's lease. Its loop runs the spool passes and the wiring's other duties (:func:`.wiring.worker_duties`).
A clean stop (SIGTERM, Ctrl-C, the end of ``--once``) frees its leases at once; after SIGKILL they expire.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from hydroserve.acoustics.ingest import SpoolIngest
from hydroserve.acoustics.leases import Heartbeat, SensorLeases
from hydroserve.acoustics.worker import Duty, run_duties

from . import single_writer, wiring
from .config import Settings

log = logging.getLogger(__name__)


def run(settings: Settings, engine: Engine, *, once: bool = False, stop: threading.Event | None = None) -> None:
    """Run one ingest worker on an existing catalog until ``stop`` is set (or one round with ``once``).

    Raises
    ------
    single_writer.WriterBusy
        SQLite catalog, and another ingest writer holds it.
    """
    lock_path = single_writer.lock_path(settings.database_url)
    lock = None if lock_path is None else single_writer.hold(lock_path)
    leases = None if lock is not None else SensorLeases(engine, lease_s=settings.ingest_lease_s)
    heartbeat = None
    try:
        archive = wiring.build_archive(settings, engine, fence=None if leases is None else leases.fence)
        ingestor = wiring.build_ingestor(settings, archive, retry_for_s=None)
        spool_pass = SpoolIngest(wiring.open_spool(settings, archive), ingestor, leases,
                                 balance_interval_s=settings.ingest_lease_s / 3)
        if leases is None:
            log.info("following %s (the one writer of this SQLite catalog)", settings.spool_dir)
        else:
            leases.heartbeat()  # counted as a live worker before the first balance
            heartbeat = Heartbeat(leases)
            heartbeat.start()
            log.info("ingest worker %s: following %s, sharing its sensors through leases of %g s", leases.worker_id,
                     settings.spool_dir, settings.ingest_lease_s)
        duties = [Duty("ingest", settings.poll_interval_s, spool_pass), *wiring.worker_duties(settings, engine, archive.blobs)]
        run_duties(duties, stop=stop, once=once)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        if leases is not None:
            leases.leave()
        if lock is not None:
            lock.release()
