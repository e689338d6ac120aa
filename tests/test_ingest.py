"""Ingest through the CLI: import, idempotence, bad input, the growing spool directory."""

from __future__ import annotations

import numpy as np
import pytest

from hydroserve.acoustics import catalog
from hydroserve.acoustics.spool import SpoolDirectory
from hydroserve.api import wiring
from hydroserve.codecs import raw, raw_decoder
from support import REAL_START_TICK, SENSOR, read_stored_samples


def test_import_makes_one_package_per_covered_interval_and_is_idempotent(runner, synthetic_files):
    files = synthetic_files(n_frames=16)  # 16 * 123260 samples = 10.098 s from 1608751679.755 s
    first = runner("import", "--json", *map(str, files))
    summary = first.json()
    assert first.exit_code == 0 and len(summary["packages_made"]) == 5
    assert list(summary["windows_skipped"]) == ["DOM_808956920_CH1_1608751678"]  # 0.245 s of 2 s covered

    second = runner("import", "--json", *map(str, files))
    again = second.json()
    assert second.exit_code == 0 and again["packages_made"] == [] and again["frames_already_archived"] > 0

    listed = runner("list", "--json").json()
    assert [p["package_id"] for p in listed] == [f"DOM_808956920_CH1_{t}" for t in range(1608751680, 1608751690, 2)]
    assert [p["n_samples"] for p in listed[:4]] == [390625] * 4
    last = listed[-1]  # data ends at 1608751689.853 s: 1.853 s of the last 2 s window
    assert last["coverage"] == pytest.approx(0.9265, abs=1e-4) and len(last["gaps"]) == 1
    assert listed[0]["start"] == "2020-12-23T19:28:00.000002Z"


def test_imported_samples_equal_the_input_frames(runner, synthetic_files, settings):
    files = synthetic_files(n_frames=8)
    assert runner("import", *map(str, files)).exit_code == 0
    frames = [raw_decoder.read_file(f, frame_length=raw.DEFAULT_FRAME_LENGTH) for f in files]
    stream = np.concatenate([f.samples.reshape(-1) for f in frames])
    engine = wiring.init_catalog(settings)
    blobs = wiring.open_blobs(settings)
    with engine.connect() as conn:
        records = catalog.list_packages(conn, newest_first=False)
    assert [r.package_id for r in records] == ["DOM_808956920_CH1_1608751680", "DOM_808956920_CH1_1608751682"]
    for record in records:
        samples = read_stored_samples(blobs, record.samples_key)
        offset = (record.start_tick - REAL_START_TICK) // raw.TICKS_PER_SAMPLE
        np.testing.assert_array_equal(samples, stream[offset : offset + 390625])


def test_bad_input_is_reported_by_file_and_offset_and_valid_data_kept(tmp_path, runner, synthetic_files):
    good = synthetic_files(n_frames=8, frames_per_file=8)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    garbage = bad_dir / "DOM_808974724_CH1_1608751679.bin"
    garbage.write_bytes(np.random.default_rng(0).bytes(raw.frame_bytes(raw.DEFAULT_FRAME_LENGTH) + 777))
    empty = bad_dir / "DOM_808974725_CH1_1608751679.bin"
    empty.write_bytes(b"")
    nameless = bad_dir / "hydrophone_dump.bin"
    nameless.write_bytes(good[0].read_bytes())
    result = runner("import", "--json", str(garbage), str(empty), str(nameless), *map(str, good))
    summary = result.json()
    problems = "\n".join(summary["input_problems"])
    assert result.exit_code == 1 and len(summary["packages_made"]) == 2  # the good files imported, the bad ones named
    assert f"{nameless}: file name does not carry a sensor id" in problems
    assert f"{garbage} at byte 0: the bytes do not split into frames of adf_frame_length = 123260 samples (wrong ADF frame length)" in problems
    assert str(empty) not in problems  # an empty file is simply no data


def test_a_window_too_short_for_a_psd_segment_is_skipped_with_its_reason_not_a_crash(runner, real_adf_path):
    # the real file (1.262 s from 1608751679.755 s) in 1 s packages: the last window holds 3446 samples < psd_nfft 8192
    env = {"HYDROSERVE_SNIPPET_DURATION_S": "1", "HYDROSERVE_SNIPPET_INTERVAL_S": "1", "HYDROSERVE_MIN_COVERAGE": "0.001"}
    summaries = [runner("import", "--json", str(real_adf_path), env=env).json() for _ in range(2)]  # a rerun goes on the same way
    assert [len(s["packages_made"]) for s in summaries] == [2, 0]
    # hand count: the first sample is 15 284 000 ticks (47762.5 periods) before 1680 s; the grid then has phase 160 ticks
    # in the second from 1680 s (195312 instants); 246520 - 47763 - 195312 = 3445 samples remain
    assert [p["n_samples"] for p in runner("list", "--json", env=env).json()] == [47_763, 195_312]
    first = summaries[0]
    assert first["windows_skipped"] == {
        "DOM_808956920_CH1_1608751681": "no contiguous run holds one PSD segment of psd_nfft=8192 samples "
                                        "(longest run: 3445 samples), so the package's /psd cannot be made"
    }


def test_a_product_refusing_the_samples_skips_the_window_with_the_reason(runner, monkeypatch, synthetic_files):
    from hydroserve.acoustics import mp3_product

    def refuse(*args, **kwargs):
        raise ValueError("the encoder refused these samples")

    monkeypatch.setattr(mp3_product, "make", refuse)
    result = runner("import", "--json", *map(str, synthetic_files(n_frames=8)))
    summary = result.json()
    assert result.exit_code == 0 and summary["packages_made"] == []
    assert summary["windows_skipped"]["DOM_808956920_CH1_1608751680"] == (
        "products could not be made from the samples: the encoder refused these samples")


def test_spool_follows_a_growing_file_and_reports_a_truncated_tail(tmp_path, synthetic_files):
    [source] = synthetic_files(n_frames=3, frames_per_file=3)
    data = source.read_bytes()
    frame = raw.frame_bytes(raw.DEFAULT_FRAME_LENGTH)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    target = spool_dir / source.name
    now = [0.0]
    spool = SpoolDirectory(spool_dir, frame_length=raw.DEFAULT_FRAME_LENGTH, settle_s=10, clock=lambda: now[0])

    target.write_bytes(data[: frame // 2])
    first = spool.poll()
    assert first.frames == [] and first.issues == []

    target.write_bytes(data[: frame + 100])
    [grown] = spool.poll().frames
    assert len(grown) == 1 and grown.issues == ()

    now[0] = 20.0  # no growth for longer than settle_s: the file is finished, its tail truncated
    [tail] = spool.poll().frames
    assert len(tail) == 0 and tail.issues[0].offset == frame and "truncated" in tail.issues[0].reason
    assert spool.poll().frames == []


def test_spool_refuses_a_file_of_another_frame_length_once_however_it_grows(tmp_path, real_adf_path):
    data = open(real_adf_path, "rb").read()
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    target = spool_dir / "DOM_808956920_CH1_1608751683.bin"
    spool = SpoolDirectory(spool_dir, frame_length=131_072, settle_s=10, clock=lambda: 0.0)
    target.write_bytes(data[: raw.frame_bytes(131_072) + 8])  # one "frame" of the wrong length, still growing
    [first] = spool.poll().frames
    assert len(first) == 0 and "likely adf_frame_length = 123260" in first.issues[0].reason
    target.write_bytes(data + data[:100])
    assert spool.poll().frames == []  # the rest of the file never becomes samples, and is not reported again


def test_spool_skips_files_before_the_resume_cursor_unread(tmp_path, synthetic_files, monkeypatch):
    files = synthetic_files(n_frames=6, frames_per_file=2, directory=tmp_path / "spool")
    second_file_end = REAL_START_TICK + 4 * raw.DEFAULT_FRAME_LENGTH * raw.TICKS_PER_SAMPLE
    spool = SpoolDirectory(
        tmp_path / "spool", frame_length=raw.DEFAULT_FRAME_LENGTH, settle_s=0,
        resume_from=lambda sensor: second_file_end if sensor == SENSOR else None,
    )
    decoded = []
    real_decode = raw_decoder.decode
    monkeypatch.setattr(raw_decoder, "decode", lambda data, **kw: decoded.append(kw["source"]) or real_decode(data, **kw))
    polled = spool.poll()
    assert [f.source for f in polled.frames] == decoded == [str(files[2])]  # the first two files were never decoded


def test_spool_reads_frames_appended_after_a_long_pause_of_the_writer(tmp_path, synthetic_files):
    # regression: a file unchanged for longer than settle_s was taken as finished, and a frame
    # appended afterwards (the demo's writer back-filling other sensors) was silently lost
    [source] = synthetic_files(n_frames=3, frames_per_file=3)
    frame = raw.frame_bytes(raw.DEFAULT_FRAME_LENGTH)
    data = source.read_bytes()
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    target = spool_dir / source.name
    now = [0.0]
    spool = SpoolDirectory(spool_dir, frame_length=raw.DEFAULT_FRAME_LENGTH, settle_s=5, clock=lambda: now[0])
    target.write_bytes(data[: 2 * frame])
    assert [len(f) for f in spool.poll().frames] == [2]
    now[0] = 60.0
    assert spool.poll().frames == []
    target.write_bytes(data)
    [late] = spool.poll().frames
    assert len(late) == 1 and int(late.offsets[0]) == 2 * frame and late.issues == ()


