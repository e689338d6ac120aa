"""The delivery loop of ``hydroserve sync``: every outbox destination, until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.engine import Engine

from . import outbox

log = logging.getLogger(__name__)


class Deliverer(Protocol):
    """Delivers the due outbox rows of one destination."""

    destination: str

    def run_once(self, now=None) -> dict:
        """Try every due row once; return counts ``delivered``, ``retried`` and ``failed``."""


def deliver_due(engine: Engine, destination: str, now: datetime, *, attempt_s: float,
                deliver: Callable[[outbox.OutboxItem], str], limit: int) -> dict:
    """Attempt every due row of ``destination`` once: each is claimed (leased for ``attempt_s`` plus a margin,
    so no other deliverer sends it meanwhile) and handed to ``deliver``, which records the outcome and names it.

    Returns
    -------
    dict
        Rows per outcome: ``delivered``, ``retried``, ``failed``.
    """
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    with engine.connect() as conn:
        items = outbox.due(conn, destination, now, limit)
    lease_until = now + timedelta(seconds=attempt_s + outbox.LEASE_MARGIN_S)
    for item in items:
        with engine.begin() as conn:
            if not outbox.claim(conn, item.id, now, lease_until):
                continue
        counts[deliver(item)] += 1
    return counts


def run(deliverers: list[Deliverer], *, poll_interval_s: float, stop: threading.Event | None = None, once: bool = False) -> None:
    """Run every deliverer until ``stop`` is set; sleep only when a round delivered nothing."""
    stop = stop or threading.Event()
    while not stop.is_set():
        progressed = False
        for deliverer in deliverers:
            counts = deliverer.run_once()
            if counts.get("delivered") or counts.get("failed"):
                log.info("%s: %s", deliverer.destination, counts)
                progressed = True
        if once:
            return
        if not progressed:
            stop.wait(poll_interval_s)
