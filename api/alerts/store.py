"""The alert catalogue: one immutable row per VOEvent packet, and the ways to read it.

This module owns the ``alerts`` table. An *event* (the posted ``id``) has
one or more *revisions* (``record_number`` 1, 2, ...): the initial alert,
updates, and at most one retraction, which is the last. Every revision is
its own packet with its own IVORN (``ivo://<authority>/<stream>#<alert
id>``, alert id ``<event id>_r<revision>``) citing the one before it. Rows
are never updated or deleted; :mod:`.submission` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    case,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from hydroserve.codecs import sky
from hydroserve.codecs.times import as_utc
from hydroserve.odc_sync import registry

from .registration import KTYPE

metadata = MetaData()

alerts = Table(
    "alerts",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", String(80), nullable=False, unique=True),
    Column("event_id", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("alert_type", String(16), nullable=False, comment="initial | update | retraction"),
    Column("role", String(16), nullable=False, comment="observation | test"),
    Column("ivorn", String(300), nullable=False, unique=True),
    Column("instrument", String(32), nullable=False),
    Column("trigger_time", DateTime(timezone=True), nullable=False),
    Column("issued", DateTime(timezone=True), nullable=False, comment="Who/Date"),
    Column("received", DateTime(timezone=True), nullable=False),
    Column("ra_deg", Float, nullable=False),
    Column("dec_deg", Float, nullable=False),
    Column("x", Float, nullable=False, comment="unit vector of (ra, dec), for cone searches"),
    Column("y", Float, nullable=False),
    Column("z", Float, nullable=False),
    Column("error_radius_50_deg", Float, nullable=False),
    Column("error_radius_90_deg", Float, nullable=False),
    Column("cites_alert_id", String(80), nullable=True),
    Column("cites_ivorn", String(300), nullable=True),
    Column("content_sha256", String(64), nullable=False, comment="of the posted content without record_number"),
    Column("alert", JSON, nullable=False, comment="the accepted alert fields"),
    Column("packet", LargeBinary, nullable=False),
    Column("packet_sha256", String(64), nullable=False),
    UniqueConstraint("event_id", "revision", name="alerts_revision_once"),
    Index("alerts_by_time", "trigger_time"),
    Index("alerts_by_dec", "dec_deg"),
)


def make_alert_id(event_id: str, revision: int) -> str:
    return f"{event_id}_r{revision}"


@dataclass(frozen=True)
class AlertRecord:
    """One stored revision (a packet) of an event."""

    seq: int
    alert_id: str
    event_id: str
    revision: int
    alert_type: str
    role: str
    ivorn: str
    instrument: str
    trigger_time: datetime
    issued: datetime
    received: datetime
    ra_deg: float
    dec_deg: float
    error_radius_50_deg: float
    error_radius_90_deg: float
    cites_alert_id: str | None
    cites_ivorn: str | None
    content_sha256: str
    alert: dict
    packet: bytes
    packet_sha256: str

    @property
    def is_real_alert(self) -> bool:
        return self.role == "observation"

    @property
    def galactic_deg(self) -> tuple[float, float]:
        """Galactic longitude and latitude (deg): as posted, else computed from RA/Dec."""
        if "galactic_longitude" in self.alert:
            return self.alert["galactic_longitude"], self.alert["galactic_latitude"]
        return sky.equatorial_to_galactic(self.ra_deg, self.dec_deg)


@dataclass(frozen=True)
class EventState:
    """Where an event stands: its latest revision and whether it is retracted."""

    event_id: str
    latest_revision: int
    retracted: bool

    @property
    def latest_alert_id(self) -> str:
        return make_alert_id(self.event_id, self.latest_revision)


@dataclass(frozen=True)
class AlertPage:
    """One page of a search: the revisions, their events' states, and where the next page starts (None: last page)."""

    records: list[AlertRecord]
    states: dict[str, EventState]
    next_before_seq: int | None


def _record(row) -> AlertRecord:
    return AlertRecord(
        seq=row.seq, alert_id=row.alert_id, event_id=row.event_id, revision=row.revision, alert_type=row.alert_type,
        role=row.role, ivorn=row.ivorn, instrument=row.instrument, trigger_time=as_utc(row.trigger_time),
        issued=as_utc(row.issued), received=as_utc(row.received), ra_deg=row.ra_deg, dec_deg=row.dec_deg,
        error_radius_50_deg=row.error_radius_50_deg, error_radius_90_deg=row.error_radius_90_deg,
        cites_alert_id=row.cites_alert_id, cites_ivorn=row.cites_ivorn, content_sha256=row.content_sha256, alert=row.alert, packet=row.packet,
        packet_sha256=row.packet_sha256,
    )


def revisions(conn: Connection, event_id: str) -> list[AlertRecord]:
    """Every revision of an event, oldest first."""
    return [_record(row) for row in conn.execute(select(alerts).where(alerts.c.event_id == event_id).order_by(alerts.c.revision))]


def event_states(conn: Connection, event_ids: set[str]) -> dict[str, EventState]:
    """Where each of the events stands, by event id (events without revisions are absent)."""
    if not event_ids:
        return {}
    rows = conn.execute(
        select(alerts.c.event_id, func.max(alerts.c.revision),
               func.max(case((alerts.c.alert_type == "retraction", 1), else_=0)))
        .where(alerts.c.event_id.in_(sorted(event_ids)))
        .group_by(alerts.c.event_id)
    )
    return {event_id: EventState(event_id, latest, bool(retracted)) for event_id, latest, retracted in rows}


def _get(conn: Connection, alert_id: str) -> AlertRecord | None:
    row = conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).first()
    return None if row is None else _record(row)


def find(engine: Engine, alert_id: str) -> tuple[AlertRecord, EventState] | None:
    """The revision ``alert_id`` and where its event stands; None if there is no such revision."""
    with engine.connect() as conn:
        record = _get(conn, alert_id)
        return None if record is None else (record, event_states(conn, {record.event_id})[record.event_id])


def find_history(engine: Engine, alert_id: str) -> tuple[list[AlertRecord], EventState] | None:
    """Every revision of the event of ``alert_id``, oldest first, and where the event stands; None if no such revision."""
    with engine.connect() as conn:
        record = _get(conn, alert_id)
        if record is None:
            return None
        return revisions(conn, record.event_id), event_states(conn, {record.event_id})[record.event_id]


def find_page(engine: Engine, conditions: list[ColumnElement], *, before_seq: int | None, limit: int) -> AlertPage:
    """At most ``limit`` revisions matching every condition, newest stored first, stored before ``before_seq`` (keyset paging)."""
    if limit < 1:
        raise ValueError(f"{limit=} must be at least 1")
    query = select(alerts).where(*conditions)
    if before_seq is not None:
        query = query.where(alerts.c.seq < before_seq)
    with engine.connect() as conn:
        found = [_record(row) for row in conn.execute(query.order_by(alerts.c.seq.desc()).limit(limit + 1))]
        records = found[:limit]
        states = event_states(conn, {record.event_id for record in records})
    return AlertPage(records, states, records[-1].seq if len(found) > limit else None)


def packet_for_resource(conn: Connection, resource_kid: str) -> bytes:
    """The packet a registry resource points to (what a VTP deliverer sends); LookupError if none."""
    alert_id = registry.subject_id(conn, resource_kid, KTYPE)
    row = None if alert_id is None else conn.execute(select(alerts.c.packet).where(alerts.c.alert_id == alert_id)).first()
    if row is None:
        raise LookupError(f"no alert packet for resource {resource_kid!r}")
    return row.packet
