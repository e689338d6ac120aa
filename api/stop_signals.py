"""A long-running command's stop event, set by signals (SIGTERM; Ctrl-C where the command wants it) without a
deadlock and without inheriting "ignored".

A Python signal handler runs in the main thread between two bytecodes, possibly while that thread holds the stop
event's lock inside ``stop.wait``: a handler that sets the event there waits for itself for ever. So the handlers
here do nothing in Python; the C handler writes the signal's number to a pipe (``signal.set_wakeup_fd``), and a thread
reading that pipe sets the event. The handlers are set, never inherited: a shell starts a script's background job with
SIGINT ignored, and Python keeps a signal ignored that it was started with.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_event(*signums: int) -> Iterator[threading.Event]:
    """An event set once any of ``signums`` arrives, while the block runs; the signals' handlers and the process's
    wake-up pipe are as before after it. Entered in the main thread (``set_wakeup_fd`` requires it)."""
    stop = threading.Event()
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # the C handler must never block
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous = {signum: signal.signal(signum, _wake_only) for signum in signums}
    reader = threading.Thread(target=_set_on_arrival, args=(read_fd, frozenset(signums), stop), name="stop-signals",
                              daemon=True)
    reader.start()
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_fd)  # the reader reads the end of the pipe and ends
        reader.join()
        os.close(read_fd)


def _wake_only(signum, frame) -> None:
    """The Python side of the handlers: nothing (the C side has written the pipe)."""


def _set_on_arrival(read_fd: int, signums: frozenset[int], stop: threading.Event) -> None:
    while arrived := os.read(read_fd, 64):  # the numbers of the signals that arrived, a byte each
        if signums.intersection(arrived):
            stop.set()
