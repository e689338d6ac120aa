"""Three ingest workers on one PostgreSQL catalog, killed five times while the spool grows, archive what one
uninterrupted worker archives: nothing lost, nothing doubled."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hydroserve.api import wiring
from hydroserve.api.catalog_identity import BLOB_MARKER
from hydroserve.api.config import load_settings, settings_env
from hydroserve.codecs.raw import SensorId

pytestmark = [pytest.mark.slow, pytest.mark.fault]
SENSORS = [SensorId(808950000 + index, index % 2) for index in range(12)]
LEASE_S = 3
N_FRAMES, FRAMES_PER_FILE = 16, 2  # 10.1 s per sensor in 1 s windows; eight files of 1.26 s: each one finishes a window


def archive_state(settings) -> tuple[dict, list, list, list]:
    """Blob contents (temporary files and the catalog-id marker excluded), package and skipped-window rows without
    wall-clock columns, products with their SHA-256, resources and their outbox rows."""
    root = settings.blob_dir
    blobs = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in root.rglob("*") if p.is_file() and ".incoming" not in p.parts and p.name != BLOB_MARKER}
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(
            "SELECT package_id, sensor_id, boundary_tick, start_tick, end_tick, n_samples, samples_key FROM packages "
            "ORDER BY package_id"))]
        rows += [tuple(r) for r in conn.execute(text(
            "SELECT sensor_id, boundary_tick, n_samples, reason FROM skipped_windows ORDER BY 1, 2"))]
        products = [tuple(r) for r in conn.execute(text(
            "SELECT package_id, kind, size_bytes, sha256, blob_key FROM products ORDER BY package_id, kind"))]
        resources = [tuple(r) for r in conn.execute(text(
            "SELECT r.kid, r.sha256, o.destination FROM resources r LEFT JOIN outbox o ON o.resource_kid = r.kid "
            "WHERE r.kid LIKE :acoustic ORDER BY 1, 3"), {"acoustic": f"{settings.collection}_%"})]
    engine.dispose()
    return blobs, rows, products, resources


def catalog_rows(settings) -> int:
    [(n,)] = query(settings, "SELECT (SELECT count(*) FROM packages) + (SELECT count(*) FROM skipped_windows)")
    return n


def query(settings, sql: str) -> list[tuple]:
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(text(sql))]
    engine.dispose()
    return rows


def registered(settings, process: subprocess.Popen) -> bool:
    """The worker has joined: its row (``<host>:<pid>:<random>``) is in ``ingest_workers``."""
    return any(f":{process.pid}:" in worker_id for worker_id, in query(settings, "SELECT worker_id FROM ingest_workers"))


def leases_per_worker(settings, processes) -> list[int]:
    held = query(settings, "SELECT worker_id FROM sensor_leases WHERE expires_at > clock_timestamp()")
    return [sum(1 for worker_id, in held if f":{process.pid}:" in worker_id) for process in processes]


def blob_files(settings) -> int:
    """Files in the blob store, temporary ones included: grows at every blob write begun or finished, by any worker."""
    return sum(len(files) for _, _, files in os.walk(settings.blob_dir))


def start_worker(settings, log: Path) -> subprocess.Popen:
    env = {**os.environ, **settings_env(settings), "HYDROSERVE_LOG_LEVEL": "INFO"}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "hydroserve.api.cli", "ingest"], env=env, stdout=out, stderr=out)


def deliver(files: list[Path], spool: Path) -> None:
    """As the DAQ does: each file appears whole (written aside, then renamed into the spool)."""
    spool.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy(path, spool / (path.name + ".part"))
        os.rename(spool / (path.name + ".part"), spool / path.name)


def wait_until(condition, what: str, processes=(), timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for process in processes:
            assert process.poll() is None, f"worker {process.pid} exited with {process.returncode} while waiting for {what}"
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.01)


def test_three_workers_killed_five_times_archive_what_one_uninterrupted_worker_archives(tmp_path, postgres, synthetic_files):
    by_round: list[list[Path]] = [[] for _ in range(N_FRAMES // FRAMES_PER_FILE)]
    for index, sensor in enumerate(SENSORS):
        files = synthetic_files(sensor, n_frames=N_FRAMES, frames_per_file=FRAMES_PER_FILE, seed=index,
                                drop_frames={7} if index == 5 else set(), directory=tmp_path / "adf")
        for n, path in enumerate(files):
            by_round[n].append(path)

    databases = []

    def settings_for(name: str):
        databases.append(postgres.create_database())
        return load_settings(env={}, data_dir=str(tmp_path / name), database_url=databases[-1], snippet_duration_s="1",
                             snippet_interval_s=1, spool_settle_s=0, poll_interval_s=0.2, ingest_lease_s=LEASE_S)

    try:
        run_and_compare(settings_for, by_round, tmp_path)
    finally:
        for url in databases:
            postgres.drop_database(url)


def run_and_compare(settings_for, by_round: list[list[Path]], tmp_path: Path) -> None:
    """One worker's uninterrupted ``ingest --once`` over every file, then three workers killed five times while the files
    arrive round by round; the two archives must be equal."""
    reference = settings_for("reference")
    wiring.init_catalog(reference).dispose()
    deliver([path for paths in by_round for path in paths], reference.spool_dir)
    subprocess.run([sys.executable, "-m", "hydroserve.api.cli", "ingest", "--once"], check=True, timeout=600,
                   env={**os.environ, **settings_env(reference), "HYDROSERVE_LOG_LEVEL": "WARNING"})
    expected = archive_state(reference)
    n_rows = len(expected[1])
    # ten windows per sensor; each one's first is partly before its data, sensor 5 has a gap: 13 skipped, 107 packages
    assert n_rows == 12 * 10 and sum(1 for row in expected[1] if len(row) == 4) == 13

    crashed = settings_for("crashed")
    wiring.init_catalog(crashed).dispose()
    logs = tmp_path / "workers"
    logs.mkdir()
    workers = [start_worker(crashed, logs / f"worker-{slot}.log") for slot in range(3)]
    rng, rounds, kills = random.Random(20260315), list(by_round), []
    deliver(rounds.pop(0), crashed.spool_dir)  # then one file of each sensor before every kill
    try:
        while len(kills) < 5:
            deliver(rounds.pop(0), crashed.spool_dir)
            target = blob_files(crashed) + rng.randint(2, 10)
            wait_until(lambda target=target: blob_files(crashed) >= target, f"{target} blob files before kill {len(kills) + 1}",
                       workers)
            slot = rng.randrange(3)
            workers[slot].send_signal(signal.SIGKILL)
            kills.append((slot, workers[slot].wait(timeout=30)))
            workers[slot] = start_worker(crashed, logs / f"worker-{slot}.log")
            wait_until(lambda new=workers[slot]: registered(crashed, new), "the restarted worker joins", workers)
        while rounds:
            deliver(rounds.pop(0), crashed.spool_dir)
        wait_until(lambda: catalog_rows(crashed) >= n_rows, f"{n_rows} packages and skipped windows", workers)
        # the dead workers' leases expire and the three live workers end with a fair share each
        wait_until(lambda: leases_per_worker(crashed, workers) == [4, 4, 4], "four sensors per live worker", workers)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(timeout=60)
    assert archive_state(crashed) == expected  # correctness first
    assert [code for _, code in kills] == [-signal.SIGKILL] * 5  # each was alive (working or waiting) when killed
    assert [process.returncode for process in workers] == [0, 0, 0]  # SIGTERM: a clean stop
    worker_logs = "".join(path.read_text() for path in logs.iterdir())
    assert "acquired" in worker_logs and "released" in worker_logs  # sensors moved between workers
