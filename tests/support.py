"""Constants and helpers shared by the tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import requests
import soundfile
from flask import url_for
from sqlalchemy import func, inspect, select

from hydroserve.acoustics import catalog
from hydroserve.api import wiring
from hydroserve.api.catalog_identity import sqlite_path
from hydroserve.api.config import load_settings, settings_env
from hydroserve.api.db import make_engine
from hydroserve.codecs import raw, raw_decoder
from hydroserve.codecs.raw import TICKS_PER_SECOND, SensorId
from hydroserve.samples.synthetic import SyntheticSensor, write_adf_files

REAL_FILE = "acoustics/DOM_808956920_CH1_1608751683.bin"
# first frame of the real file: 1608751679 s + 47216000 ticks (not on a whole second, not on the 320-tick lattice)
REAL_START_TICK = 1608751679 * TICKS_PER_SECOND + 47_216_000
SENSOR = SensorId(808956920, 1)
TOKEN = "test-token-3f9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def read_stored_samples(blobs, samples_key: str) -> np.ndarray:
    """A package's stored samples as float32, read without hydroserve: the float32 blob as is, or the FLAC blob
    decoded by libsndfile (24-bit counts, left-aligned in int32) and scaled by 2**-23."""
    with blobs.open(samples_key) as stored:
        data = stored.read()
    if not samples_key.endswith(".flac"):
        return np.frombuffer(data, dtype="<f4")
    counts, _ = soundfile.read(io.BytesIO(data), dtype="int32")
    return ((counts >> 8).astype(np.float64) / 2**23).astype(np.float32)


def url(app_or_client, endpoint: str, **values) -> str:
    """The path of an endpoint (``url_for``) of an app or of a test client's app."""
    app = getattr(app_or_client, "application", app_or_client)
    with app.test_request_context():
        return url_for(endpoint, **values)


def tick_text_by_hand(tick: int) -> str:
    """A tick (16 ns since the Unix epoch) as RFC 3339 UTC text, computed without hydroserve: truncated to whole
    microseconds (16 ns = 0.016 us, floored for negative ticks too), counted from the epoch, with six digits and a Z."""
    return (datetime(1970, 1, 1) + timedelta(microseconds=tick * 16 // 1000)).isoformat(timespec="microseconds") + "Z"


def time_text_by_hand(moment: datetime) -> str:
    """A stored time as RFC 3339 UTC text with microseconds (a naive one, as SQLite gives them, taken as UTC)."""
    naive = moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="microseconds") + "Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def suite_settings(directory: Path, database_url: str):
    """The tests' settings (the ``settings`` fixture's): the data directory ``directory / "data"``, 2 s snippets every
    2 s, write token ``TOKEN``, packages kept from 60 % coverage (a dropped 0.63 s ADF frame leaves a package with a
    gap)."""
    return load_settings(
        env={},
        data_dir=str(directory / "data"),
        database_url=database_url,
        snippet_duration_s="2",
        snippet_interval_s=2,
        min_coverage=0.6,
        spool_settle_s=0,
        api_tokens=TOKEN,
    )


def synthetic_adf(directory: Path, sensor=SENSOR, *, start_tick=REAL_START_TICK, n_frames=16, frames_per_file=4,
                  drop_frames=frozenset(), seed=0) -> list[Path]:
    """Write synthetic ADF files of one sensor into ``directory``; their paths."""
    return write_adf_files(directory, SyntheticSensor(sensor, seed=seed), start_tick=start_tick, n_frames=n_frames,
                           frames_per_file=frames_per_file, drop_frames=frozenset(drop_frames))


def archive_files(settings, files: list[Path]):
    """Import ADF files into the settings' archive (making the catalog if need be); the ingest report."""
    engine = wiring.init_catalog(settings)
    ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=5)
    for path in files:
        ingestor.feed(raw.RawFileName.parse(path).sensor, raw_decoder.read_file(path, frame_length=settings.adf_frame_length))
    ingestor.flush()
    engine.dispose()
    return ingestor.report


def archive_two_second_package(settings):
    """One 2 s package of synthetic 24-bit counts (stored as FLAC) archived into ``settings``; its catalog record."""
    package_id = "DOM_808956920_CH1_1608751680"
    assert archive_files(settings, synthetic_adf(settings.data_dir.parent / "adf", n_frames=5)).packages_made == [package_id]
    return package_record(settings, package_id)


def package_record(settings, package_id: str):
    """A package's catalog record."""
    engine = wiring.open_catalog(settings)
    try:
        with engine.connect() as conn:
            return catalog.get_package(conn, package_id)
    finally:
        engine.dispose()


def sqlite_url(directory: Path) -> str:
    """The SQLite catalog in the data directory of :func:`suite_settings`."""
    return f"sqlite:///{directory / 'data' / 'catalog.sqlite'}"


def server_env(settings, **extra) -> dict:
    """This process's environment plus the variables that reproduce ``settings`` in a subprocess."""
    env = dict(os.environ)
    env.update(settings_env(settings))
    env["HYDROSERVE_LOG_LEVEL"] = "WARNING"
    env.update({key: str(value) for key, value in extra.items()})
    return env


def start_server(env: dict, log_path: Path, *, ready_within_s: float, public_url: str | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``hydroserve serve`` (a real gunicorn) with ``env`` on a free loopback port and wait until
    ``/readyz`` answers 200; return the process and its base URL. Its links name ``public_url`` (the address of
    a reverse proxy in front of several servers), by default its own base URL.

    Its log goes to ``log_path`` (a pipe nobody reads could fill up and stall the server); errors quote its end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**env, "HYDROSERVE_BIND": f"127.0.0.1:{port}", "HYDROSERVE_PUBLIC_URL": public_url or url}
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "hydroserve.api.cli", "serve"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + ready_within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log_path.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
            pass
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"gunicorn did not become ready within {ready_within_s:g} s: {log_path.read_text()[-2000:]}")


STOPPING: list[subprocess.Popen] = []
"""Servers told to stop (:func:`stop_server`) whose end is awaited when the session finishes (:func:`reap_servers`)."""


def stop_server(process: subprocess.Popen) -> None:
    """Tell a server from :func:`start_server` to stop with gunicorn's quick shutdown (a graceful one waits out idle
    keep-alives); its workers stop serving at once, while its master takes seconds more to end: that is awaited
    at the end of the session, not by each test."""
    process.send_signal(signal.SIGQUIT)
    STOPPING.append(process)


def reap_servers() -> None:
    """Wait for the servers told to stop; kill one that has not ended within 10 s."""
    while STOPPING:
        process = STOPPING.pop()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def catalog_tables(settings) -> list[str]:
    """The tables of the settings' catalog, SQLite or PostgreSQL (none when its SQLite file does not exist: looking
    does not make it)."""
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return []
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        engine.dispose()


SENSOR_STATE = ("n_packages", "n_skipped_windows", "oldest_boundary_tick", "oldest_start_tick", "newest_boundary_tick",
                "newest_end_tick", "newest_package_id", "newest_timestamp_deviation")
"""What a sensor's row keeps of its packages and skipped windows (:mod:`hydroserve.acoustics.catalog_by_sensor`)."""


def sensor_state(conn) -> dict[str, dict]:
    """Each sensor's :data:`SENSOR_STATE` as its row keeps it, by sensor id."""
    sensors = catalog.sensors
    return {row.sensor_id: {name: getattr(row, name) for name in SENSOR_STATE}
            for row in conn.execute(select(sensors.c.sensor_id, *(sensors.c[name] for name in SENSOR_STATE)))}


def sensor_state_of_packages(conn) -> dict[str, dict]:
    """Each sensor's :data:`SENSOR_STATE` as its packages and skipped windows say, read from them (the reference)."""
    state = {}
    for sensor in conn.execute(select(catalog.sensors.c.sensor_id)).scalars():
        rows = conn.execute(select(catalog.packages).where(catalog.packages.c.sensor_id == sensor)).all()
        oldest = min(rows, key=lambda r: r.boundary_tick, default=None)
        newest = max(rows, key=lambda r: r.boundary_tick, default=None)
        skipped = catalog.skipped_windows
        state[sensor] = {
            "n_packages": len(rows),
            "n_skipped_windows": conn.execute(select(func.count()).select_from(skipped)
                                              .where(skipped.c.sensor_id == sensor)).scalar(),
            "oldest_boundary_tick": oldest and oldest.boundary_tick, "oldest_start_tick": oldest and oldest.start_tick,
            "newest_boundary_tick": newest and newest.boundary_tick, "newest_end_tick": newest and newest.end_tick,
            "newest_package_id": newest and newest.package_id,
            "newest_timestamp_deviation": newest and conn.execute(
                select(catalog.products.c.details).where(catalog.products.c.package_id == newest.package_id,
                                                         catalog.products.c.kind == "raw")).scalar()["input_timestamp_deviation"],
        }
    return state
