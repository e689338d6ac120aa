"""An S3-compatible server on loopback for the tests: moto's server (``python -m moto.server``) in a subprocess.

The session starts one on a free port (:func:`start`); every test gets its own bucket. Credentials are moto's
dummies, given to boto3 the usual way (``AWS_*`` variables), with the AWS configuration files pointed away from the
user's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "hydroserve-test",
    "AWS_SECRET_ACCESS_KEY": "hydroserve-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    """A running moto server: its ``endpoint_url`` and process."""

    endpoint_url: str
    process: subprocess.Popen

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url)

    def new_bucket(self) -> str:
        """A new, empty bucket; its name."""
        name = f"hydroserve-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def environment(config_dir: Path) -> dict[str, str]:
    """The ``AWS_*`` variables of the tests: moto's credentials, no user configuration files."""
    return {**CREDENTIALS, "AWS_CONFIG_FILE": str(config_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "credentials")}


def start(log_path: Path, port: int, *, ready_within_s: float = 60) -> S3Server:
    """Start moto's server on loopback ``port`` (a free one) and wait until it answers."""
    endpoint_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MOTO_PORT": str(port)})
    deadline = time.monotonic() + ready_within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log_path.read_text()[-2000:]}")
        try:
            requests.get(f"{endpoint_url}/moto-api/", timeout=1)
            return S3Server(endpoint_url, process)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"moto server did not answer within {ready_within_s:g} s: {log_path.read_text()[-2000:]}")
