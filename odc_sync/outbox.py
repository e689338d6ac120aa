"""The outbox: one row per (destination, resource) still to deliver, and its state machine.

A row is *queued* (``pending``, due now) in the transaction that registers
its resource (:func:`.registry.register`); a deliverer takes the *due* rows,
*claims* each for one attempt (a lease: its next attempt moves past the
attempt's timeout, so no other deliverer sends it meanwhile, and a
deliverer that dies mid-attempt leaves it due again), and records the
outcome in its own short transaction:

* ``delivered``: final; never sent again unless queued anew;
* *retry*: still ``pending``, due again at a later time;
* ``failed``: the destination refused it; kept, with the status and error,
  until an operator requeues it (:func:`requeue_failed`).

Destinations are names: :data:`ODC_DESTINATION` for the Open Data Center
push, ``vtp:<host>:<port>`` for a VOEvent broker
(:attr:`.vtp.Broker.destination`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from hydroserve.codecs.times import as_utc

from .tables import metadata

ODC_DESTINATION = "odc"
"""The destination name of the Open Data Center push."""

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
LEASE_MARGIN_S = 5.0
"""A claimed row is due again this long after its attempt's timeout (the deliverer died mid-attempt)."""
MAX_ERROR_CHARS = 2000
MAX_STATUS_CHARS = 200
PENDING_ROWS = f"state = '{PENDING}'"
"""The rows the index ``outbox_pending_by_created`` holds, written out (a query bound to a parameter could not use it)."""

table = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("destination", String(200), nullable=False),
    Column("resource_kid", String(200), ForeignKey("resources.kid"), nullable=False),
    Column("state", String(16), nullable=False, comment="pending | delivered | failed"),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_status", String(MAX_STATUS_CHARS), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("destination", "resource_kid", name="outbox_once"),
    # the claim's scan (state, destination, due time, id) and the per-state counts of the metrics
    Index("outbox_due", "state", "destination", "next_attempt_at", "id"),
    # the oldest pending row of a destination, one index lookup (the metrics' age gauge); only pending rows are in it
    Index("outbox_pending_by_created", "destination", "created",
          postgresql_where=text(PENDING_ROWS), sqlite_where=text(PENDING_ROWS)),
)


@dataclass(frozen=True)
class OutboxItem:
    """A due row: what a deliverer needs for one attempt."""

    id: int
    destination: str
    resource_kid: str
    attempts: int


def queue(conn: Connection, destination: str, kid: str, now: datetime | None = None) -> None:
    """(Re)queue a resource for a destination: pending, no attempts yet, due ``now``."""
    now = now or datetime.now(UTC)
    reset = dict(state=PENDING, attempts=0, next_attempt_at=now, last_status=None, last_error=None, delivered_at=None)
    done = conn.execute(
        update(table).where(table.c.destination == destination, table.c.resource_kid == kid).values(**reset)
    )
    if done.rowcount == 0:
        conn.execute(insert(table).values(destination=destination, resource_kid=kid, created=now, **reset))


def due(conn: Connection, destination: str, now: datetime, limit: int = 50) -> list[OutboxItem]:
    """Pending rows of a destination whose next attempt is due, longest due first (then in queueing order).

    The order is the index ``outbox_due``'s, so a page costs ``limit`` rows however long the backlog is.
    """
    rows = conn.execute(
        select(table.c.id, table.c.destination, table.c.resource_kid, table.c.attempts)
        .where(table.c.state == PENDING, table.c.destination == destination, table.c.next_attempt_at <= now)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(limit)
    )
    return [OutboxItem(*row) for row in rows]


def claim(conn: Connection, item_id: int, now: datetime, lease_until: datetime) -> bool:
    """Take a due row for one attempt: push its next attempt to ``lease_until`` if it is still pending and due.

    Two deliverers (or a restarted one) never send the same row at once; if the
    attempt's outcome is never recorded (a crash), the row is due again after the lease.
    """
    taken = conn.execute(
        update(table)
        .where(table.c.id == item_id, table.c.state == PENDING, table.c.next_attempt_at <= now)
        .values(next_attempt_at=lease_until)
    )
    return taken.rowcount == 1


def _recordable(text: str | None, limit: int) -> str | None:
    """What a peer said (a status line, a response body) as the catalog can hold it on every engine: at most ``limit``
    characters, NUL (which PostgreSQL text refuses) replaced by U+FFFD."""
    return None if text is None else text.replace("\x00", "\ufffd")[:limit]


def mark_delivered(conn: Connection, item_id: int, status: str) -> None:
    """Record an accepted attempt: the row is delivered."""
    conn.execute(update(table).where(table.c.id == item_id).values(
        state=DELIVERED, attempts=table.c.attempts + 1, last_status=_recordable(status, MAX_STATUS_CHARS), last_error=None,
        delivered_at=datetime.now(UTC),
    ))


def mark_retry(conn: Connection, item_id: int, next_attempt_at: datetime, status: str | None, error: str) -> None:
    """Record an attempt without an answer: the row stays pending, due at ``next_attempt_at``."""
    conn.execute(update(table).where(table.c.id == item_id).values(
        attempts=table.c.attempts + 1, next_attempt_at=next_attempt_at, last_status=_recordable(status, MAX_STATUS_CHARS),
        last_error=_recordable(error, MAX_ERROR_CHARS),
    ))


def mark_failed(conn: Connection, item_id: int, status: str | None, error: str) -> None:
    """Record a refused attempt: the row is failed until an operator requeues it."""
    conn.execute(update(table).where(table.c.id == item_id).values(
        state=FAILED, attempts=table.c.attempts + 1, last_status=_recordable(status, MAX_STATUS_CHARS),
        last_error=_recordable(error, MAX_ERROR_CHARS),
    ))


def counts(conn: Connection, states: tuple[str, ...] = (PENDING, DELIVERED, FAILED)) -> dict[tuple[str, str], int]:
    """Rows per (destination, state) of the given states (delivered rows grow without end: counting them reads them all)."""
    rows = conn.execute(
        select(table.c.destination, table.c.state, func.count()).where(table.c.state.in_(states))
        .group_by(table.c.destination, table.c.state)
    )
    return {(destination, state): n for destination, state, n in rows}


def oldest_pending(conn: Connection, destinations: Iterable[str]) -> dict[str, datetime]:
    """When the oldest pending row of each of ``destinations`` was first queued (UTC); those without one are absent.
    One lookup in the index ``outbox_pending_by_created`` per destination, however long the backlog is."""
    oldest = {}
    for destination in destinations:
        created = conn.execute(
            select(func.min(table.c.created)).where(text(PENDING_ROWS), table.c.destination == destination)
        ).scalar()
        if created is not None:
            oldest[destination] = as_utc(created)
    return oldest


def failed_rows(conn: Connection, destination: str | None = None, limit: int = 100):
    """Failed rows (all columns), oldest first; of one destination if given."""
    query = select(table).where(table.c.state == FAILED).order_by(table.c.id).limit(limit)
    if destination is not None:
        query = query.where(table.c.destination == destination)
    return conn.execute(query).all()


def requeue_failed(conn: Connection, destination: str) -> int:
    """Make every failed row of a destination pending again (after the cause was fixed); return how many."""
    done = conn.execute(
        update(table).where(table.c.destination == destination, table.c.state == FAILED).values(
            state=PENDING, attempts=0, next_attempt_at=datetime.now(UTC)
        )
    )
    return done.rowcount
