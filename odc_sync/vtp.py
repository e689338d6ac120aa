"""Delivering VOEvents to brokers with the VOEvent Transport Protocol (VTP), from the outbox.

The protocol (IVOA Note "VOEvent Transport Protocol", as spoken by Comet and
GCN): the author opens a TCP connection to the broker's receiver port and
sends one message framed as a 4-byte big-endian unsigned length followed by
that many bytes of XML (the VOEvent packet). The broker answers with one
framed ``Transport`` message: ``role="ack"`` if it accepted the event,
``role="nak"`` (reason in ``Meta/Result``) if it refused it (a duplicate,
an invalid packet, an unknown author), and closes the connection.

:class:`VtpDeliverer` delivers the outbox rows of one broker
(destination ``vtp:<host>:<port>``):

* ack: the row is *delivered* and never sent again;
* nak: the row is *failed*, with ``last_status="nak"`` and the broker's
  reason in ``last_error`` (resending the same packet cannot change the
  answer; an operator may re-queue it);
* no answer (refused or dropped connection, timeout, a reply that is not
  an ack/nak for this event): the row stays *pending* and is retried after
  ``vtp_retry_base_s * 2**attempts`` seconds, at most ``vtp_retry_max_s`` (a
  :class:`~.retry.RetryPolicy` without jitter), for as long as it takes: an
  alert is never dropped because a broker was down.

Before sending, a row is *claimed* by moving its next attempt past the send
timeout (a compare-and-set on ``next_attempt_at``), so two deliverers never
send the same row at once, and a row whose deliverer died mid-send becomes
due again. A packet that reached the broker but whose ack was lost (the
connection dropped, or the process died before recording it) is sent again;
the broker then refuses it as already seen, and the row is recorded as a
nak with that reason.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from hydroserve.codecs import voevent

from . import outbox
from .retry import RetryPolicy
from .sync import deliver_due

log = logging.getLogger(__name__)

LENGTH_PREFIX = struct.Struct("!I")
MAX_REPLY_BYTES = 1 << 20
DESTINATION_PREFIX = "vtp:"
DEFAULT_RETRY = RetryPolicy(base_s=5.0, max_s=900.0, full_jitter=False)


class VtpError(Exception):
    """The broker gave no usable answer (the packet may or may not have arrived)."""


class VtpConnectionError(VtpError):
    """No connection, or it was closed or timed out before the broker answered."""


class VtpProtocolError(VtpError):
    """The broker answered with something that is not an ack/nak for the event sent."""


@dataclass(frozen=True)
class Broker:
    """A VTP broker's receiver address."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Broker:
        """Parse ``host:port`` (IPv6 as ``[addr]:port``); raise ValueError naming the problem."""
        host, sep, port = text.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"broker {text!r} must be host:port, e.g. 127.0.0.1:8098")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host or any(c.isspace() for c in host) or not 1 <= int(port) <= 65535:
            raise ValueError(f"broker {text!r} must be host:port with a port in 1..65535")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def destination(self) -> str:
        """The outbox destination name, ``vtp:<host>:<port>``."""
        return f"{DESTINATION_PREFIX}{self}"


def frame(payload: bytes) -> bytes:
    """A VTP message: 4-byte big-endian length, then the payload."""
    if len(payload) >= 1 << 32:
        raise ValueError(f"a VTP message holds at most 2**32 - 1 bytes, not {len(payload)}")
    return LENGTH_PREFIX.pack(len(payload)) + payload


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out")
    return left


def _receive_exactly(sock: socket.socket, n_bytes: int, deadline: float) -> bytes:
    chunks, received = [], 0
    while received < n_bytes:
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(min(n_bytes - received, 65536))
        if not chunk:
            raise VtpConnectionError(f"the broker closed the connection after {received} of {n_bytes} bytes of its reply")
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def send_event(broker: Broker, packet: bytes, ivorn: str, *, timeout_s: float = 10.0) -> voevent.TransportMessage:
    """Send one packet and return the broker's ack or nak.

    Parameters
    ----------
    broker : Broker
        The broker's receiver address.
    packet : bytes
        The VOEvent XML.
    ivorn : str
        The packet's IVORN; the reply must be about it.
    timeout_s : float
        Limit for the whole exchange (connect, send, reply) in seconds.

    Returns
    -------
    TransportMessage
        With ``role`` ``"ack"`` or ``"nak"`` (``result`` holds a nak's reason).

    Raises
    ------
    VtpConnectionError
        Connection refused, reset, closed before a full reply, or timed out.
    VtpProtocolError
        A reply that is oversized, not a Transport message, neither ack nor
        nak, or about another event.
    """
    if timeout_s <= 0:
        raise ValueError(f"{timeout_s=} must be positive")
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((broker.host, broker.port), timeout=timeout_s) as sock:
            sock.settimeout(_remaining(deadline))
            sock.sendall(frame(packet))
            (length,) = LENGTH_PREFIX.unpack(_receive_exactly(sock, LENGTH_PREFIX.size, deadline))
            if length > MAX_REPLY_BYTES:
                raise VtpProtocolError(f"the broker announced a {length}-byte reply (limit {MAX_REPLY_BYTES})")
            reply = _receive_exactly(sock, length, deadline)
    except TimeoutError:
        raise VtpConnectionError(f"no reply from {broker} within {timeout_s:g} s") from None
    except OSError as error:
        raise VtpConnectionError(f"cannot reach {broker}: {error.strerror or error}") from None
    try:
        message = voevent.parse_transport(reply)
    except voevent.VOEventError as error:
        raise VtpProtocolError(f"unreadable reply from {broker}: {error}") from None
    if message.role not in ("ack", "nak"):
        raise VtpProtocolError(f"{broker} answered with role {message.role!r}, not ack/nak")
    if message.origin is not None and message.origin.strip() != ivorn:
        raise VtpProtocolError(f"{broker} answered about {message.origin.strip()!r}, not {ivorn!r}")
    return message


PacketLoader = Callable[[Connection, str], bytes]
"""Gives the VOEvent bytes of an outbox row's resource (by resource kid); raises LookupError if there are none."""


class VtpDeliverer:
    """Delivers the due outbox rows of one broker (see the module docstring for the rules).

    Parameters
    ----------
    engine : Engine
        The catalog engine for write transactions (on SQLite, the writer engine).
    broker : Broker
        Where to send.
    load_packet : callable
        ``load_packet(conn, resource_kid) -> bytes``: the stored packet of a resource.
    timeout_s : float
        Limit for one exchange with the broker, in seconds.
    retry : RetryPolicy
        When to try again after no answer (configured by ``vtp_retry_base_s`` and ``vtp_retry_max_s``).
    batch_size : int
        Rows taken per :meth:`run_once`.
    """

    def __init__(self, engine: Engine, broker: Broker, load_packet: PacketLoader, *, timeout_s: float = 10.0,
                 retry: RetryPolicy = DEFAULT_RETRY, batch_size: int = 50):
        if timeout_s <= 0:
            raise ValueError(f"{timeout_s=} must be positive")
        if batch_size < 1:
            raise ValueError(f"{batch_size=} must be at least 1")
        self.engine = engine
        self.broker = broker
        self.destination = broker.destination
        self.load_packet = load_packet
        self.timeout_s = timeout_s
        self.retry = retry
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"VtpDeliverer({self.destination!r})"

    def run_once(self, now: datetime | None = None) -> dict:
        """Send every due row of this broker once; return what happened.

        Parameters
        ----------
        now : datetime, optional
            The current time (UTC); rows due at or before it are sent.

        Returns
        -------
        dict
            Counts ``delivered`` (acknowledged), ``failed`` (refused by the
            broker, or no readable packet) and ``retried`` (no answer; backed off).
        """
        now = now or datetime.now(UTC)
        return deliver_due(self.engine, self.destination, now, attempt_s=self.timeout_s,
                           deliver=lambda item: self._deliver(item, now), limit=self.batch_size)

    def _deliver(self, item: outbox.OutboxItem, now: datetime) -> str:
        try:
            with self.engine.connect() as conn:
                packet = self.load_packet(conn, item.resource_kid)
            ivorn = voevent.parse(packet).ivorn
        except (LookupError, voevent.VOEventError) as error:
            with self.engine.begin() as conn:
                outbox.mark_failed(conn, item.id, "unsendable", f"no packet to send: {error}")
            log.error("vtp %s: no packet to send for %s: %s", self.broker, item.resource_kid, error)
            return "failed"
        try:
            reply = send_event(self.broker, packet, ivorn, timeout_s=self.timeout_s)
        except VtpError as error:
            delay_s = self.retry.delay_s(item.attempts)
            with self.engine.begin() as conn:
                outbox.mark_retry(conn, item.id, now + timedelta(seconds=delay_s), "no answer", str(error))
            log.warning("vtp %s: %s not delivered (%s); next attempt in %g s", self.broker, ivorn, error, delay_s)
            return "retried"
        with self.engine.begin() as conn:
            if reply.role == "ack":
                outbox.mark_delivered(conn, item.id, "ack")
            else:
                outbox.mark_failed(conn, item.id, "nak", reply.result or "the broker gave no reason")
        if reply.role == "ack":
            log.info("vtp %s: %s acknowledged", self.broker, ivorn)
            return "delivered"
        log.warning("vtp %s: %s refused: %s", self.broker, ivorn, reply.result)
        return "failed"
