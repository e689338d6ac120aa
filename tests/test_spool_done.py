"""Spool files are deleted or moved only once every frame of them is final (archived or skipped, the sensor's committed
cursor past their end); killing ingest at any moment loses nothing."""

from __future__ import annotations

import random
import shutil

import pytest

from hydroserve.acoustics.spool import SpoolDirectory, SpoolDone
from hydroserve.codecs import raw
from hydroserve.codecs.raw import RawFileName
from test_crash_resume import SENSORS, KillPoint, archive_state, ingest_in_child, killed, wait


def file_end_tick(path, frame_length=raw.DEFAULT_FRAME_LENGTH) -> int:
    frames = raw.frame_bytes(frame_length)
    data = path.read_bytes()
    last = data[(len(data) // frames - 1) * frames:]
    seconds, cycles = int.from_bytes(last[0:4], "little"), int.from_bytes(last[4:8], "little")
    return seconds * raw.TICKS_PER_SECOND + cycles + frame_length * raw.TICKS_PER_SAMPLE


def test_spool_done_parses_its_three_forms(tmp_path):
    assert SpoolDone.parse("keep") == SpoolDone("keep") and SpoolDone.parse("delete") == SpoolDone("delete")
    assert SpoolDone.parse(f"move:{tmp_path}/done") == SpoolDone("move", tmp_path / "done")
    with pytest.raises(ValueError, match="spool_done='move:' must be keep, delete or move:<dir>"):
        SpoolDone.parse("move:")


@pytest.mark.parametrize("done", ["delete", "move"])
def test_a_file_goes_only_once_the_cursor_is_past_its_last_frame(tmp_path, synthetic_files, done):
    files = synthetic_files(n_frames=16, frames_per_file=4, directory=tmp_path / "spool")  # 4 files of 4 frames
    contents = [path.read_bytes() for path in files]
    cursor = {"tick": None}
    action = SpoolDone("delete") if done == "delete" else SpoolDone("move", tmp_path / "done")
    spool = SpoolDirectory(tmp_path / "spool", frame_length=raw.DEFAULT_FRAME_LENGTH, settle_s=0,
                           resume_from=lambda sensor: cursor["tick"], done=action)
    assert sum(len(f) for f in spool.poll().frames) == 16  # read, but nothing is archived yet
    assert all(path.exists() for path in files)
    cursor["tick"] = file_end_tick(files[1]) - 1  # one tick short of the second file's end
    spool.poll()
    assert [path.exists() for path in files] == [False, True, True, True]
    cursor["tick"] = file_end_tick(files[3]) + raw.TICKS_PER_SECOND * 3600  # far past everything
    spool.poll()
    assert [path.exists() for path in files] == [False, False, False, True]  # the newest file of a sensor may still grow
    if done == "move":
        assert [(tmp_path / "done" / p.name).read_bytes() for p in files[:3]] == contents[:3]


def test_refused_files_and_keep_are_left_alone(tmp_path, synthetic_files):
    files = synthetic_files(n_frames=16, frames_per_file=4, directory=tmp_path / "spool")
    far = file_end_tick(files[-1]) + raw.TICKS_PER_SECOND * 3600
    cursor = {"tick": None}
    wrong_length = SpoolDirectory(tmp_path / "spool", frame_length=131072, settle_s=0, resume_from=lambda s: cursor["tick"],
                                  done=SpoolDone("delete"))
    polled = wrong_length.poll()
    assert len(polled.issues) + sum(len(f.issues) for f in polled.frames) >= 1 and sum(len(f) for f in polled.frames) == 0
    cursor["tick"] = far  # other files of the sensor moved the cursor on
    wrong_length.poll()
    assert all(path.exists() for path in files)  # refused (wrong adf_frame_length): kept for the operator
    keeping = SpoolDirectory(tmp_path / "spool", frame_length=raw.DEFAULT_FRAME_LENGTH, settle_s=0, resume_from=lambda s: far)
    keeping.poll()
    keeping.poll()
    assert all(path.exists() for path in files)


@pytest.mark.slow
@pytest.mark.fault
def test_ingest_killed_while_deleting_spool_files_equals_a_run_that_keeps_them(tmp_path, synthetic_files):
    from hydroserve.api.config import load_settings

    files = []
    for index, sensor in enumerate(SENSORS):
        files += synthetic_files(sensor, n_frames=40, frames_per_file=4, seed=index, directory=tmp_path / "adf")
    files.sort(key=lambda p: (p.name.rsplit("_", 1)[1], p.name))

    def settings_for(name, spool_done):
        return load_settings(env={}, data_dir=str(tmp_path / name), snippet_duration_s="2", snippet_interval_s=2,
                             spool_settle_s=0, log_level="WARNING", spool_done=spool_done)

    reference = settings_for("reference", "keep")
    shutil.copytree(tmp_path / "adf", reference.spool_dir)
    assert wait(ingest_in_child(reference)) == 0
    expected = archive_state(reference.data_dir)

    crashed = settings_for("crashed", "delete")
    crashed.spool_dir.mkdir(parents=True)
    rng = random.Random(16)
    pending, kills = list(files), {"blob": 0, "spool": 0}
    while pending:
        for path in pending[:2]:
            shutil.copy(path, crashed.spool_dir / path.name)
        del pending[:2]
        # killed at its first to sixth blob file, or its first or second finished spool file deleted (a pass deletes
        # few): just before or just after it
        at = rng.choice(["blob", "spool"])
        kill = KillPoint.draw(rng, 1, 6 if at == "blob" else 2, at=at)
        kills[kill.at] += killed(ingest_in_child(crashed, kill))
    for _ in range(3):  # each pass disposes of what the previous one made final
        assert wait(ingest_in_child(crashed)) == 0
    assert archive_state(crashed.data_dir) == expected
    assert kills["blob"] >= 3 and kills["spool"] >= 2, kills  # killed while archiving and while deleting
    left = sorted(p.name for p in crashed.spool_dir.glob("*.bin"))
    newest = {sensor: max(p.name for p in files if RawFileName.parse(p).sensor == sensor) for sensor in SENSORS}
    assert set(newest.values()) <= set(left) and len(left) <= 2 * len(SENSORS)  # the files of still-open windows


def test_a_file_removed_by_someone_else_is_forgotten_without_errors(tmp_path, synthetic_files, caplog):
    files = synthetic_files(n_frames=12, frames_per_file=4, directory=tmp_path / "spool")
    cursor = {"tick": None}
    spool = SpoolDirectory(tmp_path / "spool", frame_length=raw.DEFAULT_FRAME_LENGTH, settle_s=0,
                           resume_from=lambda sensor: cursor["tick"], done=SpoolDone("delete"))
    spool.poll()
    files[0].unlink()  # an operator cleaned up by hand
    cursor["tick"] = file_end_tick(files[1])
    spool.poll()
    spool.poll()
    assert [path.exists() for path in files] == [False, False, True]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
