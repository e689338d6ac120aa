"""Killing ingest with SIGKILL at random points loses and doubles nothing."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import shutil
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hydroserve.api.catalog_identity import BLOB_MARKER
from hydroserve.codecs.raw import SensorId

pytestmark = [pytest.mark.slow, pytest.mark.fault]
SENSORS = [SensorId(808956920, 1), SensorId(808974724, 1), SensorId(808432836, 0)]


def import_env(data_dir: Path) -> dict[str, str]:
    return {"HYDROSERVE_DATA_DIR": str(data_dir), "HYDROSERVE_SNIPPET_DURATION_S": "2", "HYDROSERVE_SNIPPET_INTERVAL_S": "2",
            "HYDROSERVE_SPOOL_SETTLE_S": "0", "HYDROSERVE_LOG_LEVEL": "WARNING"}


def archive_state(data_dir: Path) -> tuple[dict, list, list, list]:
    """Blob contents (temporary files and the marker naming each archive's own random catalog id excluded), catalog rows
    without wall-clock columns, resources."""
    blobs_root = data_dir / "blobs"
    blobs = {
        str(p.relative_to(blobs_root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in blobs_root.rglob("*")
        if p.is_file() and ".incoming" not in p.parts and p.name != BLOB_MARKER
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


@dataclass(frozen=True)
class KillPoint:
    """A point in the child's work, whatever the machine's speed or load: the ``nth`` blob file it moves into place
    (``at="blob"``), or the nth finished spool file it deletes or moves (``at="spool"``), just ``before`` or just
    after doing so. Blob points fall before a package's first blob, between two, between the last and the catalog
    transaction, and after it."""

    nth: int
    before: bool
    at: str = "blob"

    @classmethod
    def draw(cls, rng: random.Random, low: int, high: int, at: str = "blob") -> KillPoint:
        return cls(rng.randint(low, high), rng.random() < 0.5, at)


def in_child(kill: KillPoint | None, work) -> int:
    """Fork a process that runs ``work()`` (the real code, with its own catalog engine) and SIGKILLs itself at
    ``kill``; return its pid. Exit status 0 when ``work`` finished first, -SIGKILL when killed.

    The parent has imported everything already, so a child costs no interpreter start-up."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            if kill is not None:
                die_at(kill)
            work()
            status = 0
        except BaseException:
            traceback.print_exc()  # os._exit below would swallow it
        finally:
            os._exit(status)
    return pid


def die_at(kill: KillPoint) -> None:
    """In the child: SIGKILL itself at ``kill`` (wraps the method that does that step)."""
    from hydroserve.acoustics.blobstore import LocalBlobStore
    from hydroserve.acoustics.spool import SpoolDone

    owner, name = {"blob": (LocalBlobStore, "_move_into_place"), "spool": (SpoolDone, "apply")}[kill.at]
    step, calls = getattr(owner, name), itertools.count(1)

    def counted(*args, **kwargs):
        # each call's own number: the products' threads move blobs at once, and a shared count read after the step
        # could have moved past nth (then no call would kill)
        nth = next(calls)
        if nth == kill.nth and kill.before:
            os.kill(os.getpid(), signal.SIGKILL)
        step(*args, **kwargs)
        if nth == kill.nth:
            os.kill(os.getpid(), signal.SIGKILL)

    setattr(owner, name, counted)


def wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def killed(pid: int) -> bool:
    code = wait(pid)
    assert code in (0, -signal.SIGKILL), f"child exited with {code}"
    return code == -signal.SIGKILL


def import_in_child(data_dir: Path, files: list[Path], kill: KillPoint | None = None) -> int:
    """``hydroserve import FILE...`` (the command's own code) in a forked child."""
    def work():
        os.environ.update(import_env(data_dir))
        from hydroserve.api import cli

        with open(os.devnull, "w") as quiet:
            sys.stdout = sys.stderr = quiet
            if cli.main(["import", *map(str, files)]) != 0:
                raise SystemExit("import failed")

    return in_child(kill, work)


def test_import_killed_then_rerun_equals_an_uninterrupted_import(tmp_path, stream_files):
    reference_dir, crashed_dir = tmp_path / "reference", tmp_path / "crashed"
    assert wait(import_in_child(reference_dir, stream_files)) == 0
    rng, kills = random.Random(7), 0
    for _ in range(3):
        kills += killed(import_in_child(crashed_dir, stream_files, KillPoint.draw(rng, 5, 40)))
    assert wait(import_in_child(crashed_dir, stream_files)) == 0
    assert archive_state(crashed_dir) == archive_state(reference_dir)
    assert kills == 3  # each run had packages left to make when its kill point came


def ingest_in_child(settings, kill: KillPoint | None = None) -> int:
    """One ingest pass over the spool in a forked child."""
    def work():
        from hydroserve.acoustics.ingest import follow_spool
        from hydroserve.api import wiring

        engine = wiring.init_catalog(settings)
        ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=30)
        follow_spool(wiring.open_spool(settings, ingestor.archive), ingestor, poll_interval_s=0, once=True)

    return in_child(kill, work)


def test_ingest_killed_twenty_times_while_the_spool_grows_equals_an_uninterrupted_run(tmp_path, stream_files):
    from hydroserve.api.config import load_settings

    def settings_for(name):
        return load_settings(env={}, data_dir=str(tmp_path / name), snippet_duration_s="2", snippet_interval_s=2,
                             spool_settle_s=0, log_level="WARNING")

    reference = settings_for("reference")
    shutil.copytree(tmp_path / "adf", reference.spool_dir)
    assert wait(ingest_in_child(reference)) == 0
    expected = archive_state(reference.data_dir)
    assert len(expected[1]) >= 30

    crashed = settings_for("crashed")
    crashed.spool_dir.mkdir(parents=True)
    rng = random.Random(20201223)
    pending, kills, attempts = list(stream_files), 0, 0
    while kills < 20 and pending:
        attempts += 1
        for path in pending[:1]:  # the DAQ keeps writing while ingest is being killed
            shutil.copy(path, crashed.spool_dir / path.name)
        del pending[:1]
        # killed at its first to fourth blob file: before, between and after a package's blob writes
        kills += killed(ingest_in_child(crashed, KillPoint.draw(rng, 1, 4)))
    for path in pending:
        shutil.copy(path, crashed.spool_dir / path.name)
    assert wait(ingest_in_child(crashed)) == 0
    assert archive_state(crashed.data_dir) == expected
    assert kills >= 20, f"only {kills} kills in {attempts} attempts: the runs finished before their kill points"
