"""A small HTTP load generator: ``connections`` keep-alive clients GET one URL for a fixed time.

Usage: ``python -m tests.benchmarks.loadgen URL CONNECTIONS SECONDS [ACCEPT_ENCODING]`` prints one
JSON line: responses completed within the time, body bytes received within
the time (a response still arriving at the end is cut off: its bytes count,
it does not), non-200 responses, and the time. Each client is a thread with
its own ``http.client`` connection; bodies are read into a reused 1 MiB
buffer and counted, not kept (with ``ACCEPT_ENCODING``, e.g. gzip, requests say
so, as browsers and HTTP libraries do; bodies are counted as they arrive,
not decoded). Meant to run in its own process, beside the server under test.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

BUFFER_BYTES = 1 << 20


def read_body(response: http.client.HTTPResponse, buffer: memoryview, deadline: float) -> tuple[int, bool]:
    """Read a response body until its end or the deadline: (bytes read, whether it ended)."""
    received = 0
    while n := response.readinto(buffer):
        received += n
        if time.perf_counter() >= deadline:
            return received, False
    return received, True


def client(url: str, deadline: float, totals: list[int], lock: threading.Lock, headers: dict[str, str]) -> None:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    buffer = memoryview(bytearray(BUFFER_BYTES))
    responses = body_bytes = failures = 0
    while time.perf_counter() < deadline:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        received, complete = read_body(response, buffer, deadline)
        body_bytes += received
        if not complete:
            break
        responses += 1
        failures += response.status != 200
    connection.close()
    with lock:
        totals[0] += responses
        totals[1] += body_bytes
        totals[2] += failures


def run(url: str, connections: int, seconds: float, accept_encoding: str | None = None) -> dict:
    totals, lock = [0, 0, 0], threading.Lock()
    headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(url, started + seconds, totals, lock, headers))
               for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = min(time.perf_counter() - started, seconds)
    return {"responses": totals[0], "bytes": totals[1], "failures": totals[2], "elapsed_s": elapsed}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:5])))
