"""Killing `hydroserve import` with SIGKILL at random points loses and doubles nothing."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hydroserve.codecs.raw import SensorId

pytestmark = pytest.mark.slow


def import_command(data_dir: Path, files: list[Path]):
    env = dict(
        os.environ,
        HYDROSERVE_DATA_DIR=str(data_dir),
        HYDROSERVE_SNIPPET_DURATION_S="2",
        HYDROSERVE_SNIPPET_INTERVAL_S="2",
        HYDROSERVE_LOG_LEVEL="WARNING",
    )
    return [sys.executable, "-m", "hydroserve.api.cli", "import", *map(str, files)], env


def archive_state(data_dir: Path) -> tuple[dict, list, list]:
    """Blob contents (excluding temporary files), catalog rows without wall-clock columns."""
    blobs_root = data_dir / "blobs"
    blobs = {
        str(p.relative_to(blobs_root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in blobs_root.rglob("*")
        if p.is_file() and ".incoming" not in p.parts
    }
    engine = create_engine(f"sqlite:///{data_dir / 'catalog.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        packages = conn.execute(
            text("SELECT package_id, sensor_id, boundary_tick, start_tick, end_tick, n_samples, runs, samples_key "
                 "FROM packages ORDER BY package_id")
        ).all()
        products = conn.execute(
            text("SELECT package_id, kind, size_bytes, sha256, blob_key, details FROM products ORDER BY package_id, kind")
        ).all()
    engine.dispose()
    return blobs, [tuple(r) for r in packages], [tuple(r) for r in products]


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path, synthetic_files):
    files = []
    for index, sensor in enumerate([SensorId(808956920, 1), SensorId(808974724, 1)]):
        files += synthetic_files(
            sensor, n_frames=24, frames_per_file=3, drop_frames={11} if index else set(), seed=index,
            directory=tmp_path / "adf",
        )

    reference_dir = tmp_path / "reference"
    command, env = import_command(reference_dir, files)
    started = time.monotonic()
    subprocess.run(command, env=env, check=True, capture_output=True)
    uninterrupted_s = time.monotonic() - started
    reference = archive_state(reference_dir)
    assert len(reference[1]) >= 12  # two sensors, ~7 packages each

    crashed_dir = tmp_path / "crashed"
    command, env = import_command(crashed_dir, files)
    rng = random.Random(20201223)
    kills = 0
    for _ in range(6):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, uninterrupted_s))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    subprocess.run(command, env=env, check=True, capture_output=True)
    assert kills >= 3, "the import finished before most kills; the test did not exercise crashes"

    assert archive_state(crashed_dir) == reference
