"""The delivery loop of ``hydroserve sync``: every outbox destination, until stopped."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Deliverer(Protocol):
    """Delivers the due outbox rows of one destination."""

    destination: str

    def run_once(self, now=None) -> dict:
        """Try every due row once; return counts ``delivered``, ``retried`` and ``failed``."""


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
