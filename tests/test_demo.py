"""`hydroserve demo`: packages within 30 s of start, every product of the first package served."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from support import free_port

pytestmark = pytest.mark.slow

MEDIA = {"raw": "application/km3net-acoustic", "wav": "audio/wav", "mp3": "audio/mpeg", "psd": "application/json",
         "info": "application/json"}


def test_demo_serves_packages_within_30_seconds(tmp_path):
    port = free_port()
    env = dict(os.environ, HYDROSERVE_DATA_DIR=str(tmp_path / "demo"), HYDROSERVE_BIND=f"127.0.0.1:{port}",
               HYDROSERVE_LOG_LEVEL="WARNING")
    started = time.monotonic()
    demo = subprocess.Popen([sys.executable, "-m", "hydroserve.api.cli", "demo"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        packages = []
        while not packages and time.monotonic() - started < 30:
            time.sleep(0.5)
            try:
                packages = requests.get(f"{url}/api/v1/packages?limit=1", timeout=2).json()["items"]
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
                continue
        assert packages, "no package listed within 30 s of start"
        first = packages[0]
        for kind, media_type in MEDIA.items():
            response = requests.get(first["links"][kind], timeout=10)
            assert response.status_code == 200 and response.headers["Content-Type"].startswith(media_type), kind
            if kind in first["products"]:
                assert len(response.content) == first["products"][kind]["size_bytes"]
        assert requests.get(f"{url}/api/v1/events/tables/synthetic_arca_2023", timeout=5).json()["n_rows"] == 3000
        assert requests.get(f"{url}/api/v1/alerts", timeout=5).json()["items"][0]["event_id"] == "ORCA24-0114-00873"
    finally:
        demo.send_signal(signal.SIGTERM)
        output, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0 and f"{url}/api/v1/packages" in output
