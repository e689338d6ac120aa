"""The deployment example ``deploy/nginx.conf``: valid for nginx, proxies to a real ``hydroserve serve``, and answers
the errors nginx produces itself (request line or header too large, bad request line) as problem+json.

Needs nginx (Debian's nginx-light, installed by .ci/run); without it the tests are skipped, saying so.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from support import free_port
from support import url as path_of

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"
EXAMPLE_LISTEN, EXAMPLE_UPSTREAM = "listen 80;", "server 127.0.0.1:8000;"

pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install nginx-light)"),
    pytest.mark.sqlite_only,  # the subject is the proxy's configuration
]


def nginx_main_config(prefix: Path, site: Path) -> Path:
    """A minimal nginx main configuration under ``prefix`` whose http block includes ``site``, as /etc/nginx/nginx.conf would."""
    config = prefix / "nginx.conf"
    config.write_text(
        f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  include {site};\n}}\n"
    )
    return config


def local_site(example: str, listen_port: int, upstream: str) -> str:
    """The example with its listen address and upstream moved onto loopback ports of the test."""
    assert example.count(EXAMPLE_LISTEN) == 1 and example.count(EXAMPLE_UPSTREAM) == 1
    return example.replace(EXAMPLE_LISTEN, f"listen 127.0.0.1:{listen_port};").replace(EXAMPLE_UPSTREAM, f"server {upstream};")


def test_example_config_is_valid_nginx(tmp_path):
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(nginx_main_config(tmp_path, EXAMPLE))],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def get_when_listening(url: str, nginx: subprocess.Popen) -> requests.Response:
    """GET ``url`` as soon as nginx accepts connections (it may still be starting)."""
    deadline = time.monotonic() + 60  # against an nginx that runs but never listens
    while nginx.poll() is None and time.monotonic() < deadline:
        try:
            return requests.get(url, timeout=10)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"nginx did not answer (exit status {nginx.returncode})")


def raw_exchange(port: int, request: bytes) -> tuple[int, dict, dict]:
    """Send ``request`` as bytes; return the status, headers (lower-case names) and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.mark.slow
def test_example_proxies_to_hydroserve_and_answers_its_own_errors_as_problem_json(app, gunicorn_server, tmp_path):
    upstream = gunicorn_server().removeprefix("http://")
    port = free_port()
    site = tmp_path / "hydroserve.conf"
    site.write_text(local_site(EXAMPLE.read_text(), port, upstream))
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(nginx_main_config(tmp_path, site)), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listing = get_when_listening(f"http://127.0.0.1:{port}" + path_of(app, "acoustic.Sensors"), nginx)
        assert listing.status_code == 200 and listing.json()["items"] == []
        long_path = path_of(app, "acoustic.Sensors") + "?x=" + "a" * 9000
        host = f"Host: 127.0.0.1:{port}\r\n"
        cases = {
            414: f"GET {long_path} HTTP/1.1\r\n{host}\r\n".encode(),
            431: f"GET / HTTP/1.1\r\n{host}X-Big: {'b' * 9000}\r\n\r\n".encode(),
            400: b"NOT A REQUEST LINE\r\n\r\n",
        }
        for status, request in cases.items():
            answered, headers, problem = raw_exchange(port, request)
            assert (answered, headers["content-type"], problem["status"]) == (status, "application/problem+json", status)
            assert problem["title"] not in ("", "Error")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
