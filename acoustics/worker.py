"""A worker's loop: periodic duties, each run when due, one at a time.

An ingest worker's first duty is a pass over the spool (:class:`~.ingest.SpoolIngest`);
the wiring may add others (reprocessing jobs, retention) as :class:`Duty` items.
A duty that raises stops the worker: it is restarted by its supervisor and,
on a PostgreSQL catalog, its sensors go to the other workers meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Duty:
    """``run()`` every ``interval_s`` seconds, counted from the end of its previous run."""

    name: str
    interval_s: float
    run: Callable[[], None]

    def __post_init__(self):
        if self.interval_s < 0:
            raise ValueError(f"duty {self.name}: interval_s={self.interval_s} must not be negative")


def run_duties(
    duties: Sequence[Duty],
    *,
    stop: threading.Event | None = None,
    once: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run every duty at once, then each whenever it is due, until ``stop`` is set (or, with ``once``, one round)."""
    stop = stop or threading.Event()
    due = [clock()] * len(duties)
    while not stop.is_set():
        for index, duty in enumerate(duties):
            if stop.is_set():
                return
            if once or clock() >= due[index]:
                duty.run()
                due[index] = clock() + duty.interval_s
        if once:
            return
        stop.wait(max(0.0, min(due) - clock()))
