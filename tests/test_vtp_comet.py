"""Publishing over VTP end to end: hydroserve under gunicorn, a real Comet broker and a Comet subscriber.

The broker (``--receive --broadcast``) accepts events from 127.0.0.1 only,
validates them (VOEvent 2.0 schema, IVORN, not seen before) and relays them
to the subscriber, which saves every event it receives. Each twistd runs in
its own directory (pid file, logs, Comet's lock files) on free ports.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from alert_support import sample_alert
from hydroserve.api import urls, wiring
from hydroserve.api.config import load_settings
from hydroserve.api.db import writer
from hydroserve.codecs.times import as_utc
from hydroserve.odc_sync import outbox
from support import AUTH, TOKEN, free_port

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]  # the subject: VTP with a real broker

TWISTD = Path(sys.executable).with_name("twistd")
STARTUP_S = 30.0


def wait_for(condition, what: str, logs: list[Path], timeout_s: float = STARTUP_S):
    """Poll ``condition`` until it is true (bounded); fail with the Comet logs otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    tails = "\n".join(f"--- {log}:\n{log.read_text()[-3000:] if log.exists() else '(none)'}" for log in logs)
    raise AssertionError(f"{what} did not happen within {timeout_s:g} s\n{tails}")


@pytest.fixture
def twistd(tmp_path):
    """Factory: run ``twistd -n comet ARGS`` in its own directory; returns its log path. Stopped at teardown."""
    processes = []

    def start(name: str, *args: str) -> Path:
        home = tmp_path / name
        home.mkdir()
        log = home / "twistd.log"
        command = [str(TWISTD), "-n", "--pidfile", str(home / "twistd.pid"), "--logfile", str(log), "comet",
                   "--eventdb", str(home / "eventdb"), *args]
        processes.append(subprocess.Popen(command, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        return log

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def saved_events(directory: Path, count: int) -> list[bytes] | None:
    """The events the subscriber saved, once there are ``count`` and every file is completely written."""
    found = sorted(directory.glob("*")) if directory.exists() else []
    contents = [path.read_bytes() for path in found]
    if len(contents) < count or not all(content.rstrip().endswith(b"</voe:VOEvent>") for content in contents):
        return None
    return contents


def outbox_row(engine, destination: str):
    with engine.connect() as conn:
        return conn.execute(select(outbox.table).where(outbox.table.c.destination == destination)
                            .order_by(outbox.table.c.id)).all()


@pytest.mark.fault
def test_alerts_reach_a_comet_subscriber_once_and_a_duplicate_is_refused(tmp_path, settings, gunicorn_server, twistd):
    receive_port = broadcast_port = free_port()
    while broadcast_port == receive_port:
        broadcast_port = free_port()
    broker = f"127.0.0.1:{receive_port}"
    url = gunicorn_server(workers=1, HYDROSERVE_VTP_BROKERS=broker)
    created = requests.post(urls.absolute(url, urls.ALERTS), json=sample_alert(), headers=AUTH, timeout=10)
    assert created.status_code == 201, created.text
    first = requests.get(created.headers["Location"], timeout=10).content

    sync_settings = load_settings(env={}, data_dir=str(settings.data_dir), api_tokens=TOKEN, vtp_brokers=broker,
                                  vtp_retry_base_s=2, vtp_timeout_s=10)
    engine = writer(wiring.init_catalog(sync_settings))
    (deliverer,) = wiring.vtp_deliverers(sync_settings, engine)
    assert deliverer.destination == f"vtp:{broker}"

    # broker down: the row stays pending, backed off by vtp_retry_base_s
    now = datetime.now(UTC)
    assert deliverer.run_once(now) == {"delivered": 0, "retried": 1, "failed": 0}
    (row,) = outbox_row(engine, deliverer.destination)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, "no answer")
    assert "cannot reach 127.0.0.1" in row.last_error
    assert as_utc(row.next_attempt_at) == now + timedelta(seconds=2)
    assert deliverer.run_once(now + timedelta(seconds=1))["retried"] == 0  # not due yet: nothing sent

    broker_log = twistd("broker", "--receive", "--receive-port", str(receive_port), "--broadcast", "--broadcast-port",
                        str(broadcast_port), "--broadcast-test-interval=0", "--local-ivo=ivo://hydroserve.test/broker",
                        "--author-whitelist=127.0.0.1/32")
    saved = tmp_path / "received"
    subscriber_log = twistd("subscriber", f"--remote=127.0.0.1:{broadcast_port}", "--local-ivo=ivo://hydroserve.test/subscriber",
                            "--save-event", f"--save-event-directory={saved}")
    logs = [broker_log, subscriber_log]
    wait_for(lambda: broker_log.exists() and "New subscriber at" in broker_log.read_text(), "the subscription", logs)

    # delivered: acked, recorded, relayed to the subscriber byte for byte
    assert deliverer.run_once(now + timedelta(seconds=3))["delivered"] == 1
    (row,) = outbox_row(engine, deliverer.destination)
    assert (row.state, row.attempts, row.last_status, row.last_error) == ("delivered", 2, "ack", None)
    assert wait_for(lambda: saved_events(saved, 1), "the relay to the subscriber", logs) == [first]
    assert deliverer.run_once(now + timedelta(hours=1))["delivered"] == 0  # never resent after an ack

    # the same packet again (an operator re-queues it): the broker refuses it, and that is recorded
    with engine.begin() as conn:
        outbox.queue(conn, deliverer.destination, row.resource_kid)
    assert deliverer.run_once()["failed"] == 1
    (row,) = outbox_row(engine, deliverer.destination)
    assert (row.state, row.last_status, row.last_error) == ("failed", "nak", "Event rejected: Previously seen by this broker")

    # a revision goes through; since the broker relays in order, the subscriber then holds exactly the two packets
    update = sample_alert(alert_type="update", record_number=2, ra=231.4, alert_datetime="2025-01-14T03:30:00Z")
    second_url = requests.post(urls.absolute(url, urls.ALERTS), json=update, headers=AUTH, timeout=10).headers["Location"]
    second = requests.get(second_url, timeout=10).content
    assert deliverer.run_once()["delivered"] == 1
    assert sorted(wait_for(lambda: saved_events(saved, 2), "the second relay", logs)) == sorted([first, second])

