"""Ingest workers sharing sensors through leases on PostgreSQL; SQLite takes one writer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select, text, update

from hydroserve.acoustics import catalog
from hydroserve.acoustics.leases import LeaseLost, SensorLeases, ingest_workers, sensor_leases
from hydroserve.api import ingest_worker, wiring
from hydroserve.api.config import load_settings, settings_env
from hydroserve.codecs import raw_decoder
from hydroserve.codecs.raw import SensorId

SENSORS = [SensorId(808950000 + index, 1) for index in range(12)]


@pytest.fixture
def pg_settings(tmp_path, postgres_url):
    return load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=postgres_url, snippet_duration_s="2",
                         snippet_interval_s=2, spool_settle_s=0)


@pytest.fixture
def engine(pg_settings):
    engine = wiring.init_catalog(pg_settings)
    yield engine
    engine.dispose()


def worker(engine, name: str, lease_s: float = 30.0) -> SensorLeases:
    leases = SensorLeases(engine, lease_s=lease_s, worker_id=name)
    leases.heartbeat()
    return leases


def expire(engine, worker_id: str) -> None:
    """As if ``worker_id`` had stopped renewing ``lease_s`` ago (it died)."""
    past = func.clock_timestamp() - text("interval '1 second'")
    with engine.begin() as conn:
        conn.execute(update(ingest_workers).where(ingest_workers.c.worker_id == worker_id).values(expires_at=past))
        conn.execute(update(sensor_leases).where(sensor_leases.c.worker_id == worker_id).values(expires_at=past))


def test_workers_share_the_sensors_fairly_and_a_new_worker_gets_its_share(engine):
    a = worker(engine, "a")
    a.announce(SENSORS)
    assert a.balance().acquired == {str(s) for s in SENSORS}  # alone: every sensor
    b = worker(engine, "b")
    assert b.balance().acquired == frozenset()  # a holds them all, unexpired
    assert len(a.balance().released) == 6  # two live workers: a gives up the excess
    assert len(b.balance().acquired) == 6
    c = worker(engine, "c")
    assert len(a.balance().released) == 2 and len(b.balance().released) == 2
    assert len(c.balance().acquired) == 4
    assert [len(w.held) for w in (a, b, c)] == [4, 4, 4]
    assert a.held | b.held | c.held == {str(s) for s in SENSORS}
    assert not (a.held & b.held or b.held & c.held or a.held & c.held)
    with engine.connect() as conn:
        owners = dict(conn.execute(select(sensor_leases.c.sensor_id, sensor_leases.c.worker_id)).all())
    assert owners == {sensor: w.worker_id for w in (a, b, c) for sensor in w.held}


def test_a_dead_workers_sensors_go_to_the_others_when_its_lease_expires_and_not_before(engine):
    a, b = worker(engine, "a"), worker(engine, "b")
    a.announce(SENSORS[:4])
    assert len(a.balance().acquired) == 2 and len(b.balance().acquired) == 2
    dead = a.held
    assert b.balance().acquired == frozenset()  # a stopped renewing, but its leases still run
    expire(engine, "a")
    assert b.balance().acquired == dead  # a no longer counts as live: b's share is all four
    assert b.held == {str(s) for s in SENSORS[:4]}
    a.heartbeat()  # a comes back (it was only paused): it learns that its sensors are gone
    assert a.take_lost() == dead and a.held == frozenset()


def archived_state(engine, sensor: SensorId):
    with engine.connect() as conn:
        pids = conn.execute(select(catalog.packages.c.package_id).where(catalog.packages.c.sensor_id == str(sensor))).scalars()
        return sorted(pids), catalog.cursor(conn, sensor)


def test_a_worker_that_lost_its_lease_commits_nothing_for_that_sensor(engine, pg_settings, synthetic_files):
    sensor = SENSORS[0]
    files = synthetic_files(sensor, n_frames=16, frames_per_file=4)
    a = worker(engine, "a")
    a.announce([sensor])
    a.balance()
    ingestor = wiring.build_ingestor(pg_settings, wiring.build_archive(pg_settings, engine, fence=a.fence), retry_for_s=5)

    def feed(path):
        ingestor.feed(sensor, raw_decoder.read_file(path, frame_length=pg_settings.adf_frame_length))

    feed(files[0])
    feed(files[1])
    before = archived_state(engine, sensor)
    assert len(before[0]) == 2  # 8 frames (5.05 s): two whole 2 s windows
    expire(engine, "a")
    b = worker(engine, "b")
    assert b.balance().acquired == {str(sensor)}
    with pytest.raises(LeaseLost, match=str(sensor)):
        feed(files[2])  # would finish the third window: refused inside its transaction
    assert archived_state(engine, sensor) == before  # no package, no cursor move


def wait_for(condition, what: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)
    return found


def test_the_fence_holds_the_lease_until_the_archive_transaction_ends(engine):
    a, b = worker(engine, "a", lease_s=1.0), worker(engine, "b")
    a.announce(SENSORS[:1])
    a.balance()
    with engine.connect() as conn:
        transaction = conn.begin()
        a.fence(conn, SENSORS[0])  # a is archiving this sensor
        with engine.connect() as clock:
            wait_for(lambda: clock.execute(text(
                "SELECT clock_timestamp() > (SELECT expires_at FROM sensor_leases WHERE worker_id = 'a')")).scalar(),
                "a's lease expires")
        assert b.balance().acquired == frozenset()  # expired, but locked by a's transaction: skipped, not taken
        transaction.commit()
    assert b.balance().acquired == {str(SENSORS[0])}


def test_ingest_once_on_postgresql_archives_through_leases_and_frees_them_at_the_end(engine, pg_settings, synthetic_files):
    for index, sensor in enumerate(SENSORS[:3]):
        synthetic_files(sensor, n_frames=8, frames_per_file=4, seed=index, directory=pg_settings.spool_dir)
    ingest_worker.run(pg_settings, engine, once=True)
    with engine.connect() as conn:
        sensor_id = catalog.packages.c.sensor_id
        per_sensor = dict(conn.execute(select(sensor_id, func.count()).group_by(sensor_id)).all())
        leases = conn.execute(select(sensor_leases.c.sensor_id, sensor_leases.c.worker_id).order_by(sensor_leases.c.sensor_id))
        leases = leases.all()
        workers = conn.execute(select(func.count()).select_from(ingest_workers)).scalar()
    assert per_sensor == {str(s): 2 for s in SENSORS[:3]}
    assert [tuple(row) for row in leases] == [(str(s), None) for s in sorted(SENSORS[:3], key=str)]
    assert workers == 0


def test_sqlite_takes_one_ingest_writer(tmp_path):
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"))
    wiring.init_catalog(settings).dispose()
    env = {**os.environ, **settings_env(settings), "HYDROSERVE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "hydroserve.api.cli", "ingest"]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    lock = tmp_path / "data" / "catalog.sqlite.ingest-lock"
    try:
        wait_for(lambda: lock.exists() and f"pid {first.pid}" in lock.read_text(), "the first writer holds the lock")
        second = subprocess.run([*command, "--once"], check=False, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert f"another ingest writer (host {socket.gethostname()}, pid {first.pid}) holds this SQLite catalog" in second.stderr
        assert str(lock) in second.stderr and "PostgreSQL" in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    again = subprocess.run([*command, "--once"], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr  # the killed writer's lock went with it


def test_the_first_registrations_of_two_workers_at_once_both_commit_in_order(engine):
    """The registry clock's row is made by the first registration ever; a second one racing it waits for its lock."""
    from hydroserve.odc_sync import registry

    stamps, errors = [], []
    with engine.connect() as first:
        transaction = first.begin()
        stamps.append(registry._tick_clock(first))  # made the row, holds it until commit

        def second_worker():
            try:
                with engine.begin() as conn:
                    stamps.append(registry._tick_clock(conn))
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)

        racer = threading.Thread(target=second_worker)
        racer.start()
        with engine.connect() as observer:
            waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")

            def second_waits() -> bool:
                observer.rollback()  # a fresh statistics snapshot each time
                return observer.execute(waiting).scalar() == 1

            wait_for(second_waits, "the second registration waits for the first")
        transaction.commit()
        racer.join(timeout=60)
    assert errors == [] and len(stamps) == 2 and stamps[1] > stamps[0]
