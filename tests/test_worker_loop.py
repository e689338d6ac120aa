"""The worker loop runs its duties when due, one at a time, until stopped."""

from __future__ import annotations

import threading

import pytest

from hydroserve.acoustics.worker import Duty, run_duties


class FakeTime:
    """A clock that moves only when the loop waits; the loop's stop event is set after ``until_s``."""

    def __init__(self, until_s: float):
        self.now = 0.0
        self.until_s = until_s
        self.stop = self

    def __call__(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return self.now >= self.until_s

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return self.is_set()


def test_each_duty_runs_at_start_then_every_interval_after_its_previous_run():
    time = FakeTime(until_s=10.0)
    runs = []
    duties = [Duty("ingest", 2.0, lambda: runs.append(("ingest", time.now))),
              Duty("retention", 5.0, lambda: runs.append(("retention", time.now)))]
    run_duties(duties, stop=time, clock=time)
    assert runs == [("ingest", 0.0), ("retention", 0.0), ("ingest", 2.0), ("ingest", 4.0), ("retention", 5.0),
                    ("ingest", 6.0), ("ingest", 8.0)]


def test_once_runs_every_duty_one_time_in_order():
    runs = []
    run_duties([Duty("a", 60.0, lambda: runs.append("a")), Duty("b", 60.0, lambda: runs.append("b"))], once=True)
    assert runs == ["a", "b"]


def test_a_set_stop_ends_the_round_before_the_next_duty_and_a_failing_duty_stops_the_worker():
    stop, runs = threading.Event(), []

    def first():
        runs.append("first")
        stop.set()

    run_duties([Duty("first", 1.0, first), Duty("second", 1.0, lambda: runs.append("second"))], stop=stop)
    assert runs == ["first"]
    with pytest.raises(ZeroDivisionError):
        run_duties([Duty("broken", 1.0, lambda: 1 / 0)], once=True)
    with pytest.raises(ValueError, match="interval_s=-1"):
        Duty("backwards", -1, lambda: None)
