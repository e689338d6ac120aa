"""Killing ingest with SIGKILL at random points loses and doubles nothing."""

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

from hydroserve.codecs.raw import SensorId

pytestmark = [pytest.mark.slow, pytest.mark.fault]
SENSORS = [SensorId(808956920, 1), SensorId(808974724, 1), SensorId(808432836, 0)]


def command(data_dir: Path, *args: str):
    env = dict(
        os.environ,
        HYDROSERVE_DATA_DIR=str(data_dir),
        HYDROSERVE_SNIPPET_DURATION_S="2",
        HYDROSERVE_SNIPPET_INTERVAL_S="2",
        HYDROSERVE_SPOOL_SETTLE_S="0",
        HYDROSERVE_LOG_LEVEL="WARNING",
    )
    return [sys.executable, "-m", "hydroserve.api.cli", *args], env


def archive_state(data_dir: Path) -> tuple[dict, list, list, list]:
    """Blob contents (temporary files excluded), catalog rows without wall-clock columns, resources."""
    blobs_root = data_dir / "blobs"
    blobs = {
        str(p.relative_to(blobs_root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in blobs_root.rglob("*")
        if p.is_file() and ".incoming" not in p.parts
    }
    engine = create_engine(f"sqlite:///{data_dir / 'catalog.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        packages = conn.execute(text(
            "SELECT package_id, sensor_id, boundary_tick, start_tick, end_tick, n_samples, runs, samples_key FROM packages ORDER BY package_id"
        )).all()
        products = conn.execute(text(
            "SELECT package_id, kind, size_bytes, sha256, blob_key, details FROM products ORDER BY package_id, kind"
        )).all()
        resources = conn.execute(text("SELECT kid, sha256, size_bytes FROM resources ORDER BY kid")).all()
        skipped = conn.execute(text("SELECT sensor_id, boundary_tick, n_samples FROM skipped_windows ORDER BY 1, 2")).all()
    engine.dispose()
    return blobs, [tuple(r) for r in packages + skipped], [tuple(r) for r in products], [tuple(r) for r in resources]


@pytest.fixture
def stream_files(tmp_path, synthetic_files):
    """Three sensors, 40 frames each (25 s), in files of 4 frames, with a gap in one sensor; in arrival order."""
    files = []
    for index, sensor in enumerate(SENSORS):
        files += synthetic_files(sensor, n_frames=40, frames_per_file=4, drop_frames={17} if index == 1 else set(),
                                 seed=index, directory=tmp_path / "adf")
    return sorted(files, key=lambda p: (p.name.rsplit("_", 1)[1], p.name))


def test_import_killed_then_rerun_equals_an_uninterrupted_import(tmp_path, stream_files):
    reference_dir, crashed_dir = tmp_path / "reference", tmp_path / "crashed"
    cmd, env = command(reference_dir, "import", *map(str, stream_files))
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    cmd, env = command(crashed_dir, "import", *map(str, stream_files))
    rng, kills = random.Random(7), 0
    for _ in range(4):
        process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 5.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    assert kills >= 2
    assert archive_state(crashed_dir) == archive_state(reference_dir)


def test_ingest_killed_twenty_times_while_the_spool_grows_equals_an_uninterrupted_run(tmp_path, stream_files):
    reference_dir, crashed_dir = tmp_path / "reference", tmp_path / "crashed"
    shutil.copytree(tmp_path / "adf", reference_dir / "spool")
    cmd, env = command(reference_dir, "ingest", "--once")
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    full_run_s = time.monotonic() - started
    reference = archive_state(reference_dir)
    assert len(reference[1]) >= 30

    empty_dir = tmp_path / "empty"
    cmd, env = command(empty_dir, "ingest", "--once")
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    startup_s = time.monotonic() - started

    spool = crashed_dir / "spool"
    spool.mkdir(parents=True)
    cmd, env = command(crashed_dir, "ingest", "--once")
    rng = random.Random(20201223)
    pending, kills, attempts = list(stream_files), 0, 0
    while kills < 20 and attempts < 60:
        attempts += 1
        for path in pending[:2]:  # the DAQ keeps writing while ingest is being killed
            shutil.copy(path, spool / path.name)
        del pending[:2]
        process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(startup_s * rng.uniform(0.3, 1.0) + rng.uniform(0, max(0.2, full_run_s - startup_s)))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    for path in pending:
        shutil.copy(path, spool / path.name)
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    assert kills >= 20, f"only {kills} kills in {attempts} attempts"
    assert archive_state(crashed_dir) == reference
