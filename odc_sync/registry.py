"""The open-data resource registry: collections, streams, resources and the outbox.

This module owns the registry schema. It is generic: a *collection* groups
*streams*; a stream groups *resources* of one data type (``ktype``); a
resource (KM3OpenResource) describes one product with Dublin-Core-like
metadata and where to get it. Acoustic packages, event tables and alerts all
register here.

Registration runs inside the caller's transaction (the transactional
outbox): the resources, and one outbox row per resource and destination,
commit together with whatever produced them, or not at all.

Ordering for harvesters: every registering transaction takes the
``registry_clock`` row (a row lock on PostgreSQL, the database lock on
SQLite) and stamps its resources with ``modified = max(now, last + 1 us)``.
Writers are therefore serialised and ``(modified, kid)`` grows in commit
order, so a cursor on ``(modified, kid)`` never skips a record that commits
later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from hydroserve.codecs import SOFTWARE_VERSION
from hydroserve.codecs.times import as_utc

metadata = MetaData()

collections = Table(
    "collections",
    metadata,
    Column("kid", String(96), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("publisher", String(200), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

streams = Table(
    "streams",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("collection_kid", String(96), ForeignKey("collections.kid"), nullable=False),
    Column("ktype", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

resources = Table(
    "resources",
    metadata,
    Column("kid", String(200), primary_key=True),
    Column("stream_kid", String(128), ForeignKey("streams.kid"), nullable=False),
    Column("ktype", String(64), nullable=False),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("creator", String(200), nullable=False),
    Column("publisher", String(200), nullable=False),
    Column("license", String(100), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("access_url", String(1000), nullable=False),
    Column("size_bytes", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("coverage_start", DateTime(timezone=True), nullable=True),
    Column("coverage_end", DateTime(timezone=True), nullable=True),
    Column("subject_id", String(200), nullable=True, comment="package id, table id, alert id ..."),
    Column("info_url", String(1000), nullable=True),
    Column("provenance", JSON, nullable=False),
    Column("software_version", String(32), nullable=False),
    Column("extra", JSON, nullable=False, comment="type-specific metadata"),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("modified", DateTime(timezone=True), nullable=False),
    Index("resources_feed", "modified", "kid"),
    Index("resources_by_stream", "stream_kid", "modified", "kid"),
    Index("resources_by_subject", "subject_id"),
)

registry_clock = Table(
    "registry_clock",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_modified", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("destination", String(200), nullable=False),
    Column("resource_kid", String(200), ForeignKey("resources.kid"), nullable=False),
    Column("state", String(16), nullable=False, comment="pending | delivered | failed"),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_status", String(200), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("destination", "resource_kid", name="outbox_once"),
    Index("outbox_due", "destination", "state", "next_attempt_at"),
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
LEASE_MARGIN_S = 5.0
"""A claimed row is due again this long after its attempt's timeout (the deliverer died mid-attempt)."""


@dataclass(frozen=True)
class Collection:
    """A KM3ResourceCollection."""

    kid: str
    title: str
    description: str
    publisher: str = "KM3NeT Collaboration"


@dataclass(frozen=True)
class Stream:
    """A KM3ResourceStream: the resources of one data type."""

    kid: str
    collection_kid: str
    ktype: str
    title: str
    description: str
    media_type: str


@dataclass(frozen=True)
class Resource:
    """A KM3OpenResource: one product, described and located.

    ``coverage_start``/``coverage_end`` give the temporal coverage;
    ``subject_id`` the thing the resource is a product of (a package id, a
    table id, an alert id); ``extra`` type-specific metadata (e.g. sensor).
    """

    kid: str
    stream_kid: str
    ktype: str
    title: str
    description: str
    media_type: str
    access_url: str
    size_bytes: int | None = None
    sha256: str | None = None
    coverage_start: datetime | None = None
    coverage_end: datetime | None = None
    subject_id: str | None = None
    info_url: str | None = None
    provenance: tuple[dict, ...] = ()
    creator: str = "KM3NeT Collaboration"
    publisher: str = "KM3NeT Collaboration"
    license: str = "CC-BY-4.0"
    software_version: str = SOFTWARE_VERSION
    extra: dict = field(default_factory=dict)
    created: datetime | None = None
    modified: datetime | None = None


def ensure_collection(conn: Connection, collection: Collection) -> None:
    """Create the collection if it does not exist (existing ones are left unchanged)."""
    if conn.execute(select(collections.c.kid).where(collections.c.kid == collection.kid)).first() is None:
        conn.execute(insert(collections).values(
            kid=collection.kid, title=collection.title, description=collection.description,
            publisher=collection.publisher, created=datetime.now(UTC),
        ))


def ensure_stream(conn: Connection, stream: Stream) -> None:
    """Create the stream if it does not exist (its collection must exist)."""
    if conn.execute(select(streams.c.kid).where(streams.c.kid == stream.kid)).first() is None:
        conn.execute(insert(streams).values(
            kid=stream.kid, collection_kid=stream.collection_kid, ktype=stream.ktype, title=stream.title,
            description=stream.description, media_type=stream.media_type, created=datetime.now(UTC),
        ))


def ensure_registered(reader, writer, collection: Collection, stream_list: list[Stream]) -> None:
    """Create a collection and its streams where missing: a read on ``reader`` decides, so ``writer``
    (the write-transaction engine) takes the write lock only when something is missing, not on every start."""
    with reader.connect() as conn:
        known = {row.kid for row in conn.execute(select(streams.c.kid).where(streams.c.kid.in_([s.kid for s in stream_list])))}
        complete = len(known) == len(stream_list) and get_collection(conn, collection.kid) is not None
    if complete:
        return
    with writer.begin() as conn:
        ensure_collection(conn, collection)
        for stream in stream_list:
            ensure_stream(conn, stream)


def _tick_clock(conn: Connection) -> datetime:
    """Serialise registering transactions and return this one's ``modified`` stamp."""
    now = datetime.now(UTC)
    row = conn.execute(select(registry_clock.c.last_modified).where(registry_clock.c.id == 1).with_for_update()).first()
    if row is None:
        conn.execute(insert(registry_clock).values(id=1, last_modified=now))
        return now
    stamp = max(now, as_utc(row.last_modified) + timedelta(microseconds=1))
    conn.execute(update(registry_clock).where(registry_clock.c.id == 1).values(last_modified=stamp))
    return stamp


def register(conn: Connection, items: list[Resource], *, destinations: tuple[str, ...]) -> datetime:
    """Insert or update resources and queue them for every destination, in the caller's transaction.

    A resource registered again with the same kid is updated (``created``
    kept, ``modified`` new) and queued again. Returns the ``modified`` stamp.
    """
    stamp = _tick_clock(conn)
    for item in items:
        values = {
            "kid": item.kid, "stream_kid": item.stream_kid, "ktype": item.ktype, "title": item.title,
            "description": item.description, "creator": item.creator, "publisher": item.publisher,
            "license": item.license, "media_type": item.media_type, "access_url": item.access_url,
            "size_bytes": item.size_bytes, "sha256": item.sha256, "coverage_start": item.coverage_start,
            "coverage_end": item.coverage_end, "subject_id": item.subject_id, "info_url": item.info_url,
            "provenance": list(item.provenance), "software_version": item.software_version, "extra": item.extra,
            "modified": stamp,
        }
        exists = conn.execute(select(resources.c.kid).where(resources.c.kid == item.kid)).first() is not None
        if exists:
            conn.execute(update(resources).where(resources.c.kid == item.kid).values(**values))
        else:
            conn.execute(insert(resources).values(created=stamp, **values))
        for destination in destinations:
            queue(conn, destination, item.kid, stamp)
    return stamp


def queue(conn: Connection, destination: str, kid: str, now: datetime | None = None) -> None:
    """(Re)queue a resource for a destination: pending, due now."""
    now = now or datetime.now(UTC)
    reset = dict(state=PENDING, attempts=0, next_attempt_at=now, last_status=None, last_error=None, delivered_at=None)
    done = conn.execute(
        update(outbox).where(outbox.c.destination == destination, outbox.c.resource_kid == kid).values(**reset)
    )
    if done.rowcount == 0:
        conn.execute(insert(outbox).values(destination=destination, resource_kid=kid, created=now, **reset))


def _resource(row) -> Resource:
    return Resource(
        kid=row.kid, stream_kid=row.stream_kid, ktype=row.ktype, title=row.title, description=row.description,
        media_type=row.media_type, access_url=row.access_url, size_bytes=row.size_bytes, sha256=row.sha256,
        coverage_start=as_utc(row.coverage_start), coverage_end=as_utc(row.coverage_end), subject_id=row.subject_id,
        info_url=row.info_url, provenance=tuple(row.provenance), creator=row.creator, publisher=row.publisher,
        license=row.license, software_version=row.software_version, extra=row.extra,
        created=as_utc(row.created), modified=as_utc(row.modified),
    )


def get_resource(conn: Connection, kid: str) -> Resource | None:
    row = conn.execute(select(resources).where(resources.c.kid == kid)).first()
    return None if row is None else _resource(row)


def resources_for_subject(conn: Connection, subject_id: str) -> list[Resource]:
    rows = conn.execute(select(resources).where(resources.c.subject_id == subject_id).order_by(resources.c.kid))
    return [_resource(row) for row in rows]


def feed(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    stream_kids: list[str] | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[Resource]:
    """Resources by (modified, kid) ascending: modified >= since, < until, after the keyset ``after``."""
    query = select(resources)
    if since is not None:
        query = query.where(resources.c.modified >= since)
    if until is not None:
        query = query.where(resources.c.modified < until)
    if stream_kids is not None:
        query = query.where(resources.c.stream_kid.in_(stream_kids))
    if after is not None:
        stamp, kid = after
        query = query.where(or_(resources.c.modified > stamp, and_(resources.c.modified == stamp, resources.c.kid > kid)))
    rows = conn.execute(query.order_by(resources.c.modified, resources.c.kid).limit(limit))
    return [_resource(row) for row in rows]


def latest(conn: Connection, *, stream_kids: list[str], limit: int = 10) -> list[Resource]:
    """The most recently modified resources of the given streams, newest first."""
    query = select(resources).where(resources.c.stream_kid.in_(stream_kids))
    rows = conn.execute(query.order_by(resources.c.modified.desc(), resources.c.kid.desc()).limit(limit))
    return [_resource(row) for row in rows]


def get_collection(conn: Connection, kid: str):
    return conn.execute(select(collections).where(collections.c.kid == kid)).first()


def list_collections(conn: Connection):
    return conn.execute(select(collections).order_by(collections.c.kid)).all()


def get_stream(conn: Connection, kid: str):
    return conn.execute(select(streams).where(streams.c.kid == kid)).first()


def list_streams(conn: Connection, collection_kid: str | None = None):
    query = select(streams).order_by(streams.c.kid)
    if collection_kid is not None:
        query = query.where(streams.c.collection_kid == collection_kid)
    return conn.execute(query).all()


def member_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(resources.c.stream_kid, func.count()).group_by(resources.c.stream_kid))
    return {kid: n for kid, n in rows}


@dataclass(frozen=True)
class OutboxItem:
    id: int
    destination: str
    resource_kid: str
    attempts: int


def due(conn: Connection, destination: str, now: datetime, limit: int = 50) -> list[OutboxItem]:
    """Pending rows of a destination whose next attempt is due, oldest first."""
    rows = conn.execute(
        select(outbox.c.id, outbox.c.destination, outbox.c.resource_kid, outbox.c.attempts)
        .where(outbox.c.destination == destination, outbox.c.state == PENDING, outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [OutboxItem(*row) for row in rows]


def claim(conn: Connection, item_id: int, now: datetime, lease_until: datetime) -> bool:
    """Take a due row for one attempt: push its next attempt to ``lease_until`` if it is still pending and due.

    Two deliverers (or a restarted one) never send the same row at once; if the
    attempt's outcome is never recorded (a crash), the row is due again after the lease.
    """
    taken = conn.execute(
        update(outbox)
        .where(outbox.c.id == item_id, outbox.c.state == PENDING, outbox.c.next_attempt_at <= now)
        .values(next_attempt_at=lease_until)
    )
    return taken.rowcount == 1


def mark_delivered(conn: Connection, item_id: int, status: str) -> None:
    conn.execute(update(outbox).where(outbox.c.id == item_id).values(
        state=DELIVERED, attempts=outbox.c.attempts + 1, last_status=status, last_error=None,
        delivered_at=datetime.now(UTC),
    ))


def mark_retry(conn: Connection, item_id: int, next_attempt_at: datetime, status: str | None, error: str) -> None:
    conn.execute(update(outbox).where(outbox.c.id == item_id).values(
        attempts=outbox.c.attempts + 1, next_attempt_at=next_attempt_at, last_status=status, last_error=error[:2000],
    ))


def mark_failed(conn: Connection, item_id: int, status: str | None, error: str) -> None:
    conn.execute(update(outbox).where(outbox.c.id == item_id).values(
        state=FAILED, attempts=outbox.c.attempts + 1, last_status=status, last_error=error[:2000],
    ))


def outbox_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Rows per (destination, state)."""
    rows = conn.execute(select(outbox.c.destination, outbox.c.state, func.count()).group_by(outbox.c.destination, outbox.c.state))
    return {(destination, state): n for destination, state, n in rows}


def failed_items(conn: Connection, destination: str | None = None, limit: int = 100):
    query = select(outbox).where(outbox.c.state == FAILED).order_by(outbox.c.id).limit(limit)
    if destination is not None:
        query = query.where(outbox.c.destination == destination)
    return conn.execute(query).all()


def requeue_failed(conn: Connection, destination: str) -> int:
    """Make every failed row of a destination pending again (after the cause was fixed); return how many."""
    done = conn.execute(
        update(outbox).where(outbox.c.destination == destination, outbox.c.state == FAILED).values(
            state=PENDING, attempts=0, next_attempt_at=datetime.now(UTC)
        )
    )
    return done.rowcount
