"""The VTP client and deliverer against brokers that misbehave: silence, hang-ups, replies that are not ack/nak."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
from comet.protocol import messages as comet_messages
from sqlalchemy import select

from alert_support import post, sample_alert
from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.api.db import writer
from hydroserve.codecs.times import as_utc
from hydroserve.odc_sync import outbox, registry, vtp
from support import TOKEN

IVORN = "ivo://km3net.org/alerts#ORCA24-0114-00873_r1"


@pytest.fixture
def one_shot_broker():
    """Factory: a loopback listener that reads one framed message, then sends ``reply`` (raw bytes) and closes."""
    servers, received = [], []

    def start(reply: bytes) -> vtp.Broker:
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def serve():
            connection, _ = server.accept()
            with connection:
                header = connection.recv(4, socket.MSG_WAITALL)
                received.append(connection.recv(int.from_bytes(header, "big"), socket.MSG_WAITALL))
                connection.sendall(reply)

        threading.Thread(target=serve, daemon=True).start()
        return vtp.Broker("127.0.0.1", server.getsockname()[1])

    start.received = received
    yield start
    for server in servers:
        server.close()


def test_frame_is_a_big_endian_length_prefix():
    assert vtp.frame(b"<x/>") == b"\x00\x00\x00\x04<x/>"


@pytest.mark.parametrize(("text", "broker"), [("127.0.0.1:8098", ("127.0.0.1", 8098)), ("[::1]:9", ("::1", 9)),
                                              (" host.example.org:65535 ", ("host.example.org", 65535))])
def test_broker_addresses(text, broker):
    parsed = vtp.Broker.parse(text)
    assert (parsed.host, parsed.port) == broker and vtp.Broker.parse(str(parsed)) == parsed
    assert parsed.destination == f"vtp:{parsed}"


@pytest.mark.parametrize("text", ["127.0.0.1", ":8098", "host:0", "host:70000", "host:port", "a b:1"])
def test_bad_broker_addresses_are_refused(text):
    with pytest.raises(ValueError, match="must be host:port"):
        vtp.Broker.parse(text)


def test_ack_and_nak_come_back_with_the_reason(one_shot_broker):
    ack = comet_messages.ack("ivo://test/broker", IVORN).raw_bytes
    nak = comet_messages.nak("ivo://test/broker", IVORN, "Event rejected: no").raw_bytes
    assert vtp.send_event(one_shot_broker(vtp.frame(ack)), b"<packet/>", IVORN).role == "ack"
    refused = vtp.send_event(one_shot_broker(vtp.frame(nak)), b"<packet/>", IVORN)
    assert (refused.role, refused.result) == ("nak", "Event rejected: no")
    assert one_shot_broker.received == [b"<packet/>", b"<packet/>"]


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (b"", vtp.VtpConnectionError, "closed the connection after 0 of 4 bytes"),
        (b"\x00\x00\x00\x10<Transp", vtp.VtpConnectionError, "after 7 of 16 bytes"),
        (b"\x7f\xff\xff\xff", vtp.VtpProtocolError, "announced a 2147483647-byte reply"),
        (vtp.frame(b"<hello/>"), vtp.VtpProtocolError, "expected a Transport message"),
        (vtp.frame(comet_messages.iamalive("ivo://test/broker").raw_bytes), vtp.VtpProtocolError, "role 'iamalive'"),
        (vtp.frame(comet_messages.ack("ivo://test/broker", "ivo://other.org/x#1").raw_bytes), vtp.VtpProtocolError,
         "answered about 'ivo://other.org/x#1'"),
    ],
)
def test_replies_that_are_not_an_answer_are_errors(one_shot_broker, reply, error, message):
    with pytest.raises(error, match=message):
        vtp.send_event(one_shot_broker(reply), b"<packet/>", IVORN, timeout_s=5)


@pytest.mark.fault
def test_a_silent_broker_is_retried_with_capped_exponential_backoff(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel completes connections; nobody answers
        broker = f"127.0.0.1:{silent.getsockname()[1]}"
        settings = load_settings(env={}, data_dir=str(tmp_path / "data"), api_tokens=TOKEN, vtp_brokers=broker,
                                 vtp_timeout_s=0.2, vtp_retry_base_s=1, vtp_retry_max_s=3)
        wiring.init_catalog(settings).dispose()
        app = create_app(settings)
        assert post(app.test_client(), sample_alert()).status_code == 201
        engine = writer(app.extensions["hydroserve"].engine)
        (deliverer,) = wiring.vtp_deliverers(settings, engine)
        start, delays = datetime.now(UTC), []
        now = start
        for _ in range(4):
            assert deliverer.run_once(now)["retried"] == 1
            with engine.connect() as conn:
                row = conn.execute(select(outbox.table).where(outbox.table.c.destination == f"vtp:{broker}")).one()
            delays.append((as_utc(row.next_attempt_at) - now).total_seconds())
            now = as_utc(row.next_attempt_at)
        assert delays == [1.0, 2.0, 3.0, 3.0]
        assert (row.state, row.attempts, row.last_error) == ("pending", 4, f"no reply from {broker} within 0.2 s")


def test_a_row_without_a_packet_is_failed_not_retried(tmp_path):
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), vtp_brokers="127.0.0.1:9")
    engine = writer(wiring.init_catalog(settings))
    with engine.begin() as conn:
        registry.register(conn, [registry.Resource("alerts_01_voevent_x_r1", "alerts_01_voevent", "alerts.voevent", "t", "d",
                                                   "application/xml", "http://x")], destinations=("vtp:127.0.0.1:9",))
    (deliverer,) = wiring.vtp_deliverers(settings, engine)
    assert deliverer.run_once()["failed"] == 1
    with engine.connect() as conn:
        row = conn.execute(select(outbox.table).where(outbox.table.c.destination == "vtp:127.0.0.1:9")).one()
    assert (row.state, row.last_status) == ("failed", "unsendable")
    assert "no alert packet for resource 'alerts_01_voevent_x_r1'" in row.last_error
    assert deliverer.run_once(datetime.now(UTC) + timedelta(days=1))["failed"] == 0
