"""The open-data resource registry: collections, streams and resources (KM3OpenResource).

This module owns the registry's tables. It is generic: a *collection* groups
*streams*; a stream groups *resources* of one data type (``ktype``); a
resource (KM3OpenResource) describes one product with Dublin-Core-like
metadata and where to get it. Acoustic packages, event tables and alerts all
register here.

Registration runs inside the caller's transaction (the transactional
outbox): the resources, and one :mod:`.outbox` row per resource and
destination, commit together with whatever produced them, or not at all.

Words: a *stream* here is always a registry stream (a KM3ResourceStream,
named by its ``stream_kid``), never a sensor's sample stream; a feed
*position* is the ``(modified, kid)`` of the last record a reader has seen.

Deletions: a resource whose bytes were deleted (retention) is never dropped from
the registry. :func:`tombstone` marks it (``deleted_at``, ``deletion_reason``),
moves its ``modified`` like any change and queues it again, so feeds, OAI-PMH
(``status="deleted"``) and the ODC all see the deletion.

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
    String,
    Table,
    Text,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hydroserve.codecs import SOFTWARE_VERSION
from hydroserve.codecs.times import as_utc

from . import outbox
from .tables import metadata

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
    Column("deleted_at", DateTime(timezone=True), nullable=True, comment="set when the bytes were deleted: a tombstone"),
    Column("deletion_reason", String(500), nullable=True),
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
    deleted_at: datetime | None = None
    deletion_reason: str | None = None

    @property
    def deleted(self) -> bool:
        """Whether this is a tombstone: the resource's bytes were deleted (``deleted_at``, ``deletion_reason``)."""
        return self.deleted_at is not None


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
    if row is None:  # the first registration ever; several writers (ingest workers) may try it at once
        try:
            with conn.begin_nested():
                conn.execute(insert(registry_clock).values(id=1, last_modified=now))
            return now
        except IntegrityError:  # another writer made the row first: queue for its lock like every later registration
            return _tick_clock(conn)
    stamp = max(now, as_utc(row.last_modified) + timedelta(microseconds=1))
    conn.execute(update(registry_clock).where(registry_clock.c.id == 1).values(last_modified=stamp))
    return stamp


def register(conn: Connection, items: list[Resource], *, destinations: tuple[str, ...]) -> datetime:
    """Insert or update resources and queue them for every destination, in the caller's transaction.

    A resource registered again with the same kid is updated (``created``
    kept, ``modified`` new; a tombstone becomes a live record again) and
    queued again. Returns the ``modified`` stamp.
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
            "modified": stamp, "deleted_at": None, "deletion_reason": None,
        }
        exists = conn.execute(select(resources.c.kid).where(resources.c.kid == item.kid)).first() is not None
        if exists:
            conn.execute(update(resources).where(resources.c.kid == item.kid).values(**values))
        else:
            conn.execute(insert(resources).values(created=stamp, **values))
        for destination in destinations:
            outbox.queue(conn, destination, item.kid, stamp)
    return stamp


def tombstone(conn: Connection, kids: list[str], *, deleted_at: datetime, reason: str,
              destinations: tuple[str, ...]) -> datetime:
    """Mark the resources ``kids`` deleted, in the caller's transaction: ``deleted_at`` and ``reason`` recorded,
    ``modified`` moved to a new stamp (see the ordering rule above), queued again for every destination. Unknown kids
    and resources that are tombstones already are left alone. Returns the ``modified`` stamp."""
    stamp = _tick_clock(conn)
    for kid in kids:
        done = conn.execute(update(resources).where(resources.c.kid == kid, resources.c.deleted_at.is_(None))
                            .values(deleted_at=deleted_at, deletion_reason=reason, modified=stamp))
        if done.rowcount:
            for destination in destinations:
                outbox.queue(conn, destination, kid, stamp)
    return stamp


def _resource(row) -> Resource:
    return Resource(
        kid=row.kid, stream_kid=row.stream_kid, ktype=row.ktype, title=row.title, description=row.description,
        media_type=row.media_type, access_url=row.access_url, size_bytes=row.size_bytes, sha256=row.sha256,
        coverage_start=as_utc(row.coverage_start), coverage_end=as_utc(row.coverage_end), subject_id=row.subject_id,
        info_url=row.info_url, provenance=tuple(row.provenance), creator=row.creator, publisher=row.publisher,
        license=row.license, software_version=row.software_version, extra=row.extra,
        created=as_utc(row.created), modified=as_utc(row.modified), deleted_at=as_utc(row.deleted_at),
        deletion_reason=row.deletion_reason,
    )


def get_resource(conn: Connection, kid: str) -> Resource | None:
    row = conn.execute(select(resources).where(resources.c.kid == kid)).first()
    return None if row is None else _resource(row)


def resources_for_subject(conn: Connection, subject_id: str) -> list[Resource]:
    rows = conn.execute(select(resources).where(resources.c.subject_id == subject_id).order_by(resources.c.kid))
    return [_resource(row) for row in rows]


def subject_id(conn: Connection, kid: str, ktype: str) -> str | None:
    """What the resource ``kid`` is a product of (a package, table or alert id), if it is a resource of
    ``ktype``; None when there is no such resource or it names no subject."""
    return conn.execute(select(resources.c.subject_id).where(resources.c.kid == kid, resources.c.ktype == ktype)).scalar()


def _in_window(query, since: datetime | None, until: datetime | None, stream_kids: list[str] | None):
    """``query`` limited to resources modified in [since, until) of the given streams (None: no limit)."""
    if since is not None:
        query = query.where(resources.c.modified >= since)
    if until is not None:
        query = query.where(resources.c.modified < until)
    if stream_kids is not None:
        query = query.where(resources.c.stream_kid.in_(stream_kids))
    return query


def feed(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    stream_kids: list[str] | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[Resource]:
    """Resources by (modified, kid) ascending: modified >= since, < until, after the position ``after``."""
    query = _in_window(select(resources), since, until, stream_kids)
    if after is not None:
        # a row comparison, so the index (modified, kid) or (stream_kid, modified, kid) starts the scan at the position
        query = query.where(tuple_(resources.c.modified, resources.c.kid) > tuple_(*after))
    rows = conn.execute(query.order_by(resources.c.modified, resources.c.kid).limit(limit))
    return [_resource(row) for row in rows]


def count(conn: Connection, *, since: datetime | None = None, until: datetime | None = None,
          stream_kids: list[str] | None = None, at_most: int) -> int | None:
    """How many resources :func:`feed` lists with these bounds, over all its pages; None if more than ``at_most``
    (the count reads at most ``at_most + 1`` index entries, so it stays cheap in a registry of any size)."""
    members = _in_window(select(resources.c.kid), since, until, stream_kids).limit(at_most + 1).subquery()
    n = conn.execute(select(func.count()).select_from(members)).scalar()
    return None if n > at_most else n


def earliest_modified(conn: Connection) -> datetime | None:
    """The oldest modification time of any resource (UTC); None while the registry is empty."""
    return as_utc(conn.execute(select(func.min(resources.c.modified))).scalar())


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

