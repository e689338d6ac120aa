"""Chunked request bodies under a real gunicorn: malformed ones are 400, oversized ones 413, both problem+json."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from alert_support import sample_alert
from hydroserve.api import wiring
from support import TOKEN, server_env, sqlite_url, start_server, stop_server, suite_settings

pytestmark = pytest.mark.slow  # the subject: request bodies on the wire (so one catalog engine, SQLite)
LIMIT_BYTES = 16 * 1024 * 1024


def exchange(base_url: str, path: str, content_type: str, body: bytes) -> tuple[int, dict, bytes]:
    """Send one chunked POST on a fresh connection (the body as given, already chunk-encoded); the status, headers and body."""
    address = urlsplit(base_url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        try:
            connection.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):  # the server answered before reading everything
            pass
        received = b""
        while piece := connection.recv(65536):
            received += piece
    header_text, _, content = received.partition(b"\r\n\r\n")
    status_line, *lines = header_text.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines)}
    return int(status_line.split()[1]), headers, content


def chunked(data: bytes, piece_bytes: int = 1 << 20) -> bytes:
    pieces = [data[i:i + piece_bytes] for i in range(0, len(data), piece_bytes)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One gunicorn (one worker) for the module: no test changes what another one reads (the one body accepted is an
    alert no other test sends)."""
    directory = tmp_path_factory.mktemp("chunked")
    settings = suite_settings(directory, sqlite_url(directory))
    wiring.init_catalog(settings).dispose()
    process, url = start_server(server_env(settings, HYDROSERVE_WORKERS=1), directory / "gunicorn.log", ready_within_s=30)
    yield url
    stop_server(process)


@pytest.mark.parametrize("path, content_type", [("/api/v1/alerts", "application/json"),
                                                ("/oai", "application/x-www-form-urlencoded")])
@pytest.mark.parametrize("body", [b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"])
def test_a_malformed_chunked_body_is_a_400(server, path, content_type, body):
    status, headers, content = exchange(server, path, content_type, body)
    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert json.loads(content)["detail"].startswith("The chunked request body is malformed")


@pytest.mark.parametrize("path, content_type", [("/api/v1/alerts", "application/json"),
                                                ("/oai", "application/x-www-form-urlencoded")])
def test_a_chunked_body_over_the_limit_is_a_413(server, path, content_type):
    status, headers, content = exchange(server, path, content_type, chunked(b" " * (LIMIT_BYTES + 1)))
    assert status == 413 and headers["content-type"] == "application/problem+json"
    assert json.loads(content)["detail"] == f"The request body exceeds the limit of {LIMIT_BYTES} bytes."


def test_a_well_formed_chunked_body_is_read_as_any_other(server):
    status, _, content = exchange(server, "/api/v1/alerts", "application/json", chunked(json.dumps(sample_alert()).encode(), 7))
    assert status == 201 and json.loads(content)["id"] == "ORCA24-0114-00873_r1"
    status, _, content = exchange(server, "/oai", "application/x-www-form-urlencoded", chunked(b"verb=Identify", 4))
    assert status == 200 and b"<Identify>" in content
