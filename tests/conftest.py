"""Shared fixtures: settings on a temporary data directory, the app and its test client, a real
gunicorn server, synthetic ADF files and the real KM3NeT test file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings, settings_env
from hydroserve.samples.synthetic import SyntheticSensor, write_adf_files
from support import REAL_FILE, REAL_START_TICK, SENSOR, TOKEN


@pytest.fixture
def real_adf_path():
    from km3net_testdata import data_path

    return data_path(REAL_FILE)


@pytest.fixture
def settings(tmp_path):
    """2 s snippets every 2 s on a fresh data directory; write token ``TOKEN``; packages kept from
    60 % coverage, so that a dropped 0.63 s ADF frame leaves a package with a gap."""
    return load_settings(
        env={},
        data_dir=str(tmp_path / "data"),
        snippet_duration_s="2",
        snippet_interval_s=2,
        min_coverage=0.6,
        spool_settle_s=0,
        api_tokens=TOKEN,
    )


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def synthetic_files(tmp_path):
    """Factory: write synthetic ADF files; returns their paths."""

    def make(sensor=SENSOR, *, start_tick=REAL_START_TICK, n_frames=16, frames_per_file=4, drop_frames=frozenset(), seed=0, directory=None):
        return write_adf_files(
            directory or tmp_path / "adf",
            SyntheticSensor(sensor, seed=seed),
            start_tick=start_tick,
            n_frames=n_frames,
            frames_per_file=frames_per_file,
            drop_frames=frozenset(drop_frames),
        )

    return make


@pytest.fixture
def archived(settings, synthetic_files):
    """Import synthetic ADF files into the settings' archive; returns the ingest report."""
    from hydroserve.api import wiring
    from hydroserve.codecs import raw

    def run(files):
        engine = wiring.open_catalog(settings)
        ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=5)
        for path in files:
            ingestor.feed(raw.RawFileName.parse(path).sensor, raw.read_file(path, frame_length=settings.adf_frame_length))
        ingestor.flush()
        engine.dispose()
        return ingestor.report

    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(settings, **extra) -> dict:
    """This process's environment plus the variables that reproduce ``settings`` in a subprocess."""
    env = dict(os.environ)
    env.update(settings_env(settings))
    env["HYDROSERVE_LOG_LEVEL"] = "WARNING"
    env.update({key: str(value) for key, value in extra.items()})
    return env


@pytest.fixture
def gunicorn_server(settings):
    """Factory: start ``hydroserve serve`` (a real gunicorn) on a free loopback port; returns its base URL."""
    processes = []

    def start(workers: int = 2, **extra_env) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = server_env(
            settings, HYDROSERVE_BIND=f"127.0.0.1:{port}", HYDROSERVE_WORKERS=workers, HYDROSERVE_PUBLIC_URL=url, **extra_env
        )
        process = subprocess.Popen([sys.executable, "-m", "hydroserve.api.cli", "serve"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                    return url
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not become ready within 30 s")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
