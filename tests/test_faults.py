"""Fault suite: full disks, a locked catalog and hostile raw input; nothing valid is lost.

(ODC outages and SIGKILL of ingest and sync are in test_registry_odc.py and test_crash_resume.py;
`pytest -m fault` runs them all.)
"""

from __future__ import annotations

import errno
import hashlib
import logging
import shutil
import sqlite3
import threading
import time

import numpy as np
import pytest

from hydroserve.acoustics import catalog
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.codecs import raw
from support import SENSOR, url

pytestmark = pytest.mark.fault
FRAME_BYTES = raw.frame_bytes(raw.DEFAULT_FRAME_LENGTH)


class FullDisk:
    """A local blob store whose writes fail with ENOSPC after ``budget_bytes`` while ``full`` is set."""

    def __init__(self, inner: LocalBlobStore, budget_bytes: int):
        self.inner, self.budget_bytes, self.full = inner, budget_bytes, True

    def put(self, key, chunks):
        if not self.full:
            return self.inner.put(key, chunks)

        def limited():
            written = 0
            for chunk in chunks:
                written += memoryview(chunk).nbytes
                if written > self.budget_bytes:
                    raise OSError(errno.ENOSPC, "No space left on device", key)
                yield chunk

        return self.inner.put(key, limited())

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_disk_full_during_product_writing_is_retried_and_nothing_half_written_shows(settings, synthetic_files, caplog):
    engine = wiring.init_catalog(settings)
    disk = FullDisk(wiring.open_blobs(settings), budget_bytes=500_000)
    archive = wiring.build_archive(settings, engine, blobs=disk)
    sleeps = []

    def sleep(seconds):  # space comes back after the third failed attempt
        sleeps.append(seconds)
        if len(sleeps) == 3:
            disk.full = False

    ingestor = wiring.build_ingestor(settings, archive, retry_for_s=None)
    ingestor.sleep = sleep
    files = synthetic_files(n_frames=5)
    with caplog.at_level(logging.ERROR):
        for path in files:
            ingestor.feed(SENSOR, raw.read_file(path, frame_length=raw.DEFAULT_FRAME_LENGTH))
    assert ingestor.report.published == ["DOM_808956920_CH1_1608751680"]
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 3 and all("DOM_808956920_CH1_1608751680: publishing failed" in m and "No space left" in m for m in failures)
    assert sleeps == [0.5, 1.0, 2.0]
    assert list((settings.blob_dir / ".incoming").iterdir()) == []  # every failed temporary file was removed
    with engine.connect() as conn:
        [record] = catalog.list_packages(conn)
    for product in record.products.values():
        if product.blob_key:
            stored = (settings.blob_dir / product.blob_key).read_bytes()
            assert hashlib.sha256(stored).hexdigest() == product.sha256


def test_package_is_not_published_while_the_disk_stays_full(settings, synthetic_files):
    from hydroserve.acoustics.ingest import ArchiveWriteFailed

    engine = wiring.init_catalog(settings)
    archive = wiring.build_archive(settings, engine, blobs=FullDisk(wiring.open_blobs(settings), budget_bytes=0))
    ingestor = wiring.build_ingestor(settings, archive, retry_for_s=0.0)
    with pytest.raises(ArchiveWriteFailed, match="DOM_808956920_CH1_1608751680: publishing: still failing"):
        for path in synthetic_files(n_frames=5):
            ingestor.feed(SENSOR, raw.read_file(path, frame_length=raw.DEFAULT_FRAME_LENGTH))
    with engine.connect() as conn:
        # the window before it (too little coverage) was recorded as skipped; the failing one stays pending
        assert catalog.list_packages(conn) == [] and catalog.cursor(conn, SENSOR) == 1608751680 * raw.TICKS_PER_SECOND


def hold_exclusive_lock(database: str, seconds: float, *engines) -> threading.Thread:
    """Lock the SQLite catalog against readers and writers for a while (as a stuck process would).

    In WAL mode every open connection holds a shared lock, so the engines' idle pooled
    connections are closed first; their next connection then meets the lock."""
    for engine in engines:
        engine.dispose()
    ready = threading.Event()

    def run():
        conn = sqlite3.connect(database, isolation_level=None, timeout=0)
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    ready.wait(5)
    return thread


@pytest.fixture
def quick_lock_settings(tmp_path):
    return load_settings(env={}, data_dir=str(tmp_path / "data"), snippet_duration_s="2", snippet_interval_s=2,
                         database_busy_timeout_s=0.2)


def test_locked_catalog_ingest_waits_and_retries(quick_lock_settings, synthetic_files, caplog):
    settings = quick_lock_settings
    engine = wiring.init_catalog(settings)
    ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=None)
    locker = hold_exclusive_lock(str(settings.data_dir / "catalog.sqlite"), 2.0, engine)
    with caplog.at_level(logging.ERROR):
        for path in synthetic_files(n_frames=5):
            ingestor.feed(SENSOR, raw.read_file(path, frame_length=raw.DEFAULT_FRAME_LENGTH))
    locker.join()
    assert ingestor.report.published == ["DOM_808956920_CH1_1608751680"]
    waits = [r.getMessage() for r in caplog.records if "database is locked" in r.getMessage()]
    assert waits and "retrying in" in waits[0]


def test_api_answers_503_while_the_catalog_is_locked_and_recovers(quick_lock_settings):
    wiring.init_catalog(quick_lock_settings).dispose()
    app = create_app(quick_lock_settings)
    client = app.test_client()
    assert client.get(url(client, "acoustic.Packages")).status_code == 200
    locker = hold_exclusive_lock(str(quick_lock_settings.data_dir / "catalog.sqlite"), 1.5, app.extensions["hydroserve"].engine)
    during = client.get(url(client, "acoustic.Packages"))
    ready = client.get(url(client, "health.readyz"))
    locker.join()
    assert during.status_code == 503 and during.mimetype == "application/problem+json"
    assert during.headers["Retry-After"] == "5" and during.json["type"].endswith("catalog-unavailable")
    assert ready.status_code == 503
    assert client.get(url(client, "acoustic.Packages")).status_code == 200


def hostile_spool(directory, good_files):
    """Good files plus every kind of bad input a spool directory may see; returns the bad ones by kind."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in good_files:
        shutil.copy(path, directory / path.name)
    frame0 = good_files[0].read_bytes()[:FRAME_BYTES]
    sensor_b = "DOM_808974724_CH1"

    def ticks_frame(tick, value=0.0):
        return raw.encode([tick], np.full((1, raw.DEFAULT_FRAME_LENGTH), value, dtype=np.float32))

    far_future = (int(time.time()) + 10 * 86400) * raw.TICKS_PER_SECOND
    bad = {
        "truncated": (f"{sensor_b}_1608751000.bin", ticks_frame(1608751000 * raw.TICKS_PER_SECOND) + b"\0" * 1000),
        "garbage": (f"{sensor_b}_1608751100.bin", np.random.default_rng(3).bytes(FRAME_BYTES * 2 + 5)),
        "wrong_frame_length": (f"{sensor_b}_1608751200.bin", raw.encode(
            1608751200 * raw.TICKS_PER_SECOND + np.arange(3) * 100_000 * raw.TICKS_PER_SAMPLE,
            np.zeros((3, 100_000), np.float32))),
        "nan": (f"{sensor_b}_1608751300.bin", ticks_frame(1608751300 * raw.TICKS_PER_SECOND, np.nan)),
        "backwards": (f"{sensor_b}_1608751400.bin", ticks_frame(1608751401 * raw.TICKS_PER_SECOND) + ticks_frame(1608751400 * raw.TICKS_PER_SECOND)),
        "future": (f"{sensor_b}_1608751500.bin", ticks_frame(far_future)),
        "empty": (f"{sensor_b}_1608751600.bin", b""),
        "no_sensor": ("hydrophone-dump.bin", frame0),
        "duplicate": (good_files[0].name.replace(".bin", "") + "0.bin", good_files[0].read_bytes()),
    }
    for name, data in bad.values():
        (directory / name).write_bytes(data)
    return {kind: str(directory / name) for kind, (name, _) in bad.items()}


def test_hostile_raw_input_is_reported_by_file_and_offset_and_valid_data_kept(tmp_path, settings, synthetic_files):
    good = synthetic_files(n_frames=12, frames_per_file=4)
    clean = load_settings(env={}, data_dir=str(tmp_path / "clean"), snippet_duration_s="2", snippet_interval_s=2,
                          spool_settle_s=0, min_coverage=settings.min_coverage)
    bad = hostile_spool(settings.spool_dir, good)
    shutil.copytree(tmp_path / "adf", clean.spool_dir)

    def ingest_once(cfg):
        engine = wiring.init_catalog(cfg)
        ingestor = wiring.build_ingestor(cfg, wiring.build_archive(cfg, engine), retry_for_s=5)
        from hydroserve.acoustics.ingest import follow_spool

        follow_spool(wiring.open_spool(cfg, ingestor.archive), ingestor, poll_interval_s=0, once=True)
        with engine.connect() as conn:
            packages = {r.package_id: r.products["wav"].sha256 for r in catalog.list_packages(conn)}
        return ingestor.report, packages

    report, packages = ingest_once(settings)
    _, reference = ingest_once(clean)
    assert reference and packages == reference  # the good data gave the same packages, bit for bit
    problems = "\n".join(report.problems)
    assert f"{bad['truncated']} at byte {FRAME_BYTES}: truncated frame" in problems
    assert f"{bad['garbage']} at byte 0: the bytes do not split into frames" in problems
    assert f"{bad['wrong_frame_length']} at byte 0: the bytes do not split into frames" in problems
    assert f"{bad['nan']} at byte 12: frame 0: sample 0 is nan" in problems
    assert f"{bad['backwards']} at byte {FRAME_BYTES}: frame 1: time goes backwards" in problems
    assert f"{bad['future']} at byte 0: frame starts at" in problems and "in the future" in problems
    assert f"{bad['no_sensor']}: file name does not carry a sensor id" in problems
    assert f"{bad['duplicate']} at byte 0: out-of-order data" in problems  # a copy of data already ingested
    assert bad["empty"] not in problems  # an empty file is simply no data yet
