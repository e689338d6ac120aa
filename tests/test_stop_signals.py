"""api.stop_signals: a signal sets the stop event even when it arrives while the main thread holds the event's lock,
and even when the process was started with the signal ignored. Each case runs in a process of its own (the handlers
and the wake-up pipe are the process's)."""

from __future__ import annotations

import subprocess
import sys

from readme_examples import IGNORING_SIGINT

HANG_GUARD_S = 60  # not a speed goal: a deadlock never ends


def _run(script: str, *, launcher: tuple[str, ...] = ()) -> list[str]:
    done = subprocess.run([*launcher, sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_signal_while_the_main_thread_holds_the_events_lock_sets_it_once_released():
    # stop.wait holds the event's condition lock between its checks; a handler that set the event there (the old
    # `signal.signal(SIGTERM, lambda *_: stop.set())`) waited for itself for ever
    assert _run("""
import signal
from hydroserve.api import stop_signals
with stop_signals.stop_event(signal.SIGTERM) as stop:
    with stop._cond:
        signal.raise_signal(signal.SIGTERM)  # its Python handler runs here, in this thread, with the lock held
        print(stop.is_set())
    print(stop.wait(30))
""") == ["False", "True"]


def test_sigint_stops_a_process_started_with_sigint_ignored():
    assert _run("""
import os, signal
print(signal.getsignal(signal.SIGINT).name)
from hydroserve.api import stop_signals
with stop_signals.stop_event(signal.SIGINT) as stop:
    os.kill(os.getpid(), signal.SIGINT)
    print(stop.wait(30))
""", launcher=IGNORING_SIGINT) == ["SIG_IGN", "True"]


def test_other_signals_leave_the_event_alone():
    assert _run("""
import signal
from hydroserve.api import stop_signals
signal.signal(signal.SIGUSR1, lambda *_: print("usr1"))
with stop_signals.stop_event(signal.SIGTERM) as stop:
    signal.raise_signal(signal.SIGUSR1)
    print(stop.wait(1))
    signal.raise_signal(signal.SIGTERM)
    print(stop.wait(30))
""") == ["usr1", "False", "True"]


def test_after_the_block_the_handlers_and_the_wake_up_pipe_are_as_before_and_its_thread_gone():
    assert _run("""
import signal, threading
from hydroserve.api import stop_signals
before = signal.getsignal(signal.SIGTERM)
with stop_signals.stop_event(signal.SIGTERM):
    pass
print(signal.getsignal(signal.SIGTERM) is before, signal.set_wakeup_fd(-1))
print(sum(thread.name == "stop-signals" for thread in threading.enumerate()))
""") == ["True", "-1", "0"]
