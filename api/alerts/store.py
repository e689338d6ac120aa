"""The alert catalogue: one immutable row per VOEvent packet, registered as an open resource.

This module owns the ``alerts`` table. An *event* (the posted ``id``) has
one or more *revisions* (``record_number`` 1, 2, ...): the initial alert,
updates, and at most one retraction, which is the last. Every revision is
its own packet with its own IVORN (``ivo://<authority>/<stream>#<alert
id>``, alert id ``<event id>_r<revision>``) citing the one before it. Rows
are never updated or deleted.

Posting is idempotent: the same content for the same event (and, when
given, the same ``record_number``) returns the stored revision instead of
making a new one. Content that contradicts what is stored is refused with
:class:`AlertConflict`.

Storing a revision is one transaction: the registry resource and its
outbox rows (``odc`` and one per VTP broker) first (which serialises
writers on the registry clock), then the row with the packet bytes. So a
packet is visible, harvestable and queued for brokers together, or not at
all, and ``seq`` grows in commit order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

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
    insert,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from hydroserve.api.config import Settings
from hydroserve.codecs import sky, voevent
from hydroserve.codecs.times import as_utc, rfc3339
from hydroserve.odc_sync import registry
from hydroserve.odc_sync.outbox import ODC_DESTINATION

from . import packets as alert_packets

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

KTYPE = "alerts.voevent"


class AlertConflict(Exception):
    """The post contradicts the stored revisions of its event (HTTP 409); ``field`` names the input at fault."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class AlertInvalid(ValueError):
    """The post cannot be turned into a packet (HTTP 422); ``field`` names the input at fault."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


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


@dataclass(frozen=True)
class EventState:
    """Where an event stands: its latest revision and whether it is retracted."""

    latest_revision: int
    retracted: bool


def make_alert_id(event_id: str, revision: int) -> str:
    return f"{event_id}_r{revision}"


def stream_kid(settings: Settings) -> str:
    return f"{settings.alert_collection}_voevent"


def author_ivorn(settings: Settings) -> str:
    return f"ivo://{settings.alert_ivorn_authority}/{settings.alert_ivorn_stream}"


def destinations(settings: Settings) -> tuple[str, ...]:
    """Where every new packet is queued: the ODC and each configured VTP broker."""
    return (ODC_DESTINATION, *(broker.destination for broker in settings.vtp_brokers))


def ensure_alert_registry(reader: Engine, writer: Engine, settings: Settings) -> None:
    """Create the alert collection and its VOEvent stream if missing."""
    registry.ensure_registered(
        reader,
        writer,
        registry.Collection(
            settings.alert_collection,
            "Neutrino alerts",
            "Neutrino-candidate alerts of the KM3NeT detectors as VOEvent 2.0 packets, with their updates and retractions.",
            publisher=settings.alert_publisher,
        ),
        [registry.Stream(
            stream_kid(settings), settings.alert_collection, KTYPE, "Neutrino alerts as VOEvent",
            "One VOEvent 2.0 packet per alert revision (initial, update, retraction), as sent to VOEvent brokers.",
            voevent.MEDIA_TYPE,
        )],
    )


def observatory_for(settings: Settings, instrument: str) -> voevent.Observatory:
    """The configured site whose name starts the instrument's (case-insensitive)."""
    for site in settings.alert_observatories:
        if instrument.upper().startswith(site.name.upper()):
            return site
    names = ", ".join(site.name for site in settings.alert_observatories) or "none"
    raise AlertInvalid(f"No configured site for detector {instrument!r}: its name must start with one of {names} "
                       f"(configuration key alert_observatories).", "instrument")


def canonical(alert: dict) -> dict:
    """The accepted alert as JSON-ready values (times as RFC 3339 UTC)."""
    return {key: rfc3339(value) if isinstance(value, datetime) else value for key, value in sorted(alert.items())}


def content_sha256(document: dict) -> str:
    """Hash of the content that makes a revision (everything but ``record_number``)."""
    content = {key: value for key, value in document.items() if key != "record_number"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _record(row) -> AlertRecord:
    return AlertRecord(
        seq=row.seq, alert_id=row.alert_id, event_id=row.event_id, revision=row.revision, alert_type=row.alert_type,
        role=row.role, ivorn=row.ivorn, instrument=row.instrument, trigger_time=as_utc(row.trigger_time),
        issued=as_utc(row.issued), received=as_utc(row.received), ra_deg=row.ra_deg, dec_deg=row.dec_deg,
        error_radius_50_deg=row.error_radius_50_deg, error_radius_90_deg=row.error_radius_90_deg,
        cites_alert_id=row.cites_alert_id, cites_ivorn=row.cites_ivorn, content_sha256=row.content_sha256, alert=row.alert, packet=row.packet,
        packet_sha256=row.packet_sha256,
    )


def get(conn: Connection, alert_id: str) -> AlertRecord | None:
    row = conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).first()
    return None if row is None else _record(row)


def revisions(conn: Connection, event_id: str) -> list[AlertRecord]:
    """Every revision of an event, oldest first."""
    return [_record(row) for row in conn.execute(select(alerts).where(alerts.c.event_id == event_id).order_by(alerts.c.revision))]


def search(conn: Connection, conditions: list, *, before_seq: int | None = None, limit: int = 50) -> list[AlertRecord]:
    """Revisions matching every condition, newest stored first, older than ``before_seq`` (keyset paging)."""
    query = select(alerts).where(*conditions)
    if before_seq is not None:
        query = query.where(alerts.c.seq < before_seq)
    return [_record(row) for row in conn.execute(query.order_by(alerts.c.seq.desc()).limit(limit))]


def event_states(conn: Connection, event_ids: set[str]) -> dict[str, EventState]:
    if not event_ids:
        return {}
    rows = conn.execute(
        select(alerts.c.event_id, func.max(alerts.c.revision),
               func.max(case((alerts.c.alert_type == "retraction", 1), else_=0)))
        .where(alerts.c.event_id.in_(sorted(event_ids)))
        .group_by(alerts.c.event_id)
    )
    return {event_id: EventState(latest, bool(retracted)) for event_id, latest, retracted in rows}


def packet_for_resource(conn: Connection, resource_kid: str) -> bytes:
    """The packet a registry resource points to (what a VTP deliverer sends); LookupError if none."""
    alert_id = registry.subject_id(conn, resource_kid, KTYPE)
    row = None if alert_id is None else conn.execute(select(alerts.c.packet).where(alerts.c.alert_id == alert_id)).first()
    if row is None:
        raise LookupError(f"no alert packet for resource {resource_kid!r}")
    return row.packet


def alert_resource(settings: Settings, record: AlertRecord) -> registry.Resource:
    base = f"{settings.public_url}/api/v1/alerts/{record.alert_id}"
    stream = stream_kid(settings)
    kind = {"initial": "Alert", "update": "Update", "retraction": "Retraction"}[record.alert_type]
    return registry.Resource(
        kid=f"{stream}_{record.alert_id}",
        stream_kid=stream,
        ktype=KTYPE,
        title=f"{kind} {record.alert_id} of neutrino event {record.event_id}" + ("" if record.is_real_alert else " (test)"),
        description=(
            f"VOEvent 2.0 packet {record.ivorn} ({record.alert_type}, role {record.role}) of event {record.event_id} seen by "
            f"{record.instrument} at {rfc3339(record.trigger_time)}: RA {record.ra_deg:.4f} deg, Dec {record.dec_deg:.4f} deg, "
            f"90 % radius {record.error_radius_90_deg:g} deg"
        ),
        media_type=voevent.MEDIA_TYPE,
        access_url=base,
        size_bytes=len(record.packet),
        sha256=record.packet_sha256,
        coverage_start=record.trigger_time,
        coverage_end=record.trigger_time,
        subject_id=record.alert_id,
        info_url=f"{base}.json",
        provenance=({"id": "hydroserve:voevent", "description": "online reconstruction output annotated as a VOEvent 2.0 packet",
                     "parameters": {"ivorn": record.ivorn, "cites": record.cites_ivorn}},),
        creator=settings.alert_publisher,
        publisher=settings.alert_publisher,
        extra={"ivorn": record.ivorn, "event_id": record.event_id, "revision": record.revision, "alert_type": record.alert_type,
               "role": record.role, "instrument": record.instrument, "ra_deg": record.ra_deg, "dec_deg": record.dec_deg,
               "error_radius_90_deg": record.error_radius_90_deg},
    )


def submit(engine: Engine, settings: Settings, alert: dict, now: datetime | None = None) -> tuple[AlertRecord, bool]:
    """Store an accepted alert as a new revision, or find the identical one stored before.

    Parameters
    ----------
    engine : Engine
        The writer engine.
    settings : Settings
        IVORN, authorship, sites, brokers.
    alert : dict
        Loaded by ``AlertInputSchema``.
    now : datetime, optional
        Reception time (UTC), also ``Who/Date`` when ``alert_datetime`` is absent.

    Returns
    -------
    (AlertRecord, bool)
        The revision, and whether it was created by this call.

    Raises
    ------
    AlertConflict
        The post contradicts the event's stored revisions.
    AlertInvalid
        The detector has no configured site.
    """
    now = now or datetime.now(UTC)
    try:
        with engine.begin() as conn:
            return _submit(conn, settings, alert, now)
    except IntegrityError:
        # a concurrent post took the same revision (possible on PostgreSQL): decide again, against it
        with engine.begin() as conn:
            return _submit(conn, settings, alert, now)


def _existing(stored: list[AlertRecord], alert: dict, digest: str) -> AlertRecord | None:
    """The stored revision this post repeats, if any; AlertConflict if it contradicts one."""
    event_id, number = alert["id"], alert.get("record_number")
    if number is None:
        return next((record for record in stored if record.content_sha256 == digest), None)
    if number <= len(stored):
        record = stored[number - 1]
        if record.content_sha256 == digest:
            return record
        raise AlertConflict(f"Revision {number} of event {event_id!r} is stored ({record.alert_id}) with other content; "
                            f"a new revision is record_number {len(stored) + 1}.", "record_number")
    if number != len(stored) + 1:
        raise AlertConflict(f"record_number {number} would leave a gap: event {event_id!r} has {len(stored)} revision(s), "
                            f"the next is {len(stored) + 1}.", "record_number")
    return None


def _check_revision(stored: list[AlertRecord], alert: dict) -> AlertRecord | None:
    """The revision a new packet cites (None for an initial alert); AlertConflict if it may not be made."""
    event_id, kind = alert["id"], alert["alert_type"]
    if not stored:
        if kind != "initial":
            raise AlertConflict(f"There is no alert {event_id!r} to {'retract' if kind == 'retraction' else 'update'}: "
                                f"an event's first alert has alert_type initial.", "alert_type")
        return None
    last = stored[-1]
    if kind == "initial":
        raise AlertConflict(f"Event {event_id!r} already has its initial alert ({stored[0].alert_id}) with other content; "
                            f"post an update or a retraction.", "alert_type")
    if last.alert_type == "retraction":
        raise AlertConflict(f"Event {event_id!r} was retracted by {last.alert_id}; it takes no more revisions.", "id")
    if "is_real_alert" in alert and alert["is_real_alert"] != last.is_real_alert:
        raise AlertConflict(f"Event {event_id!r} is {'a real alert' if last.is_real_alert else 'a test'}; "
                            f"its revisions keep is_real_alert={str(last.is_real_alert).lower()}.", "is_real_alert")
    if kind == "update" and alert["instrument"] != last.instrument:
        raise AlertConflict(f"Event {event_id!r} was seen by {last.instrument}; its updates keep that instrument.", "instrument")
    return last


def _submit(conn: Connection, settings: Settings, alert: dict, now: datetime) -> tuple[AlertRecord, bool]:
    document = canonical(alert)
    digest = content_sha256(document)
    stored = revisions(conn, alert["id"])
    found = _existing(stored, alert, digest)
    if found is not None:
        return found, False
    previous = _check_revision(stored, alert)
    revision = len(stored) + 1
    alert_id = make_alert_id(alert["id"], revision)
    ivorn = f"{author_ivorn(settings)}#{alert_id}"
    issued = alert.get("alert_datetime", now).astimezone(UTC)
    retraction = alert["alert_type"] == "retraction"
    packet = alert_packets.build_packet(
        alert,
        ivorn=ivorn,
        revision=revision,
        issued=issued,
        authorship=alert_packets.Authorship(author_ivorn(settings), settings.alert_publisher, settings.alert_contact_name,
                                            settings.alert_contact_email),
        observatory=None if retraction else observatory_for(settings, alert["instrument"]),
        previous=None if previous is None else alert_packets.Predecessor(previous.ivorn, previous.instrument,
                                                                         previous.is_real_alert),
    )
    xml = voevent.build(packet)
    # a retraction is catalogued where and when the alert it retracts was
    where = previous if retraction else None
    ra_deg = where.ra_deg if where else alert["ra"]
    dec_deg = where.dec_deg if where else alert["dec"]
    x, y, z = sky.unit_vector(ra_deg, dec_deg)
    record = AlertRecord(
        seq=0, alert_id=alert_id, event_id=alert["id"], revision=revision, alert_type=alert["alert_type"], role=packet.role,
        ivorn=ivorn, instrument=where.instrument if where else alert["instrument"],
        trigger_time=where.trigger_time if where else alert["trigger_time"].astimezone(UTC), issued=issued, received=now,
        ra_deg=ra_deg, dec_deg=dec_deg,
        error_radius_50_deg=where.error_radius_50_deg if where else alert["src_error_50"],
        error_radius_90_deg=where.error_radius_90_deg if where else alert["ra_dec_error"],
        cites_alert_id=None if previous is None else previous.alert_id,
        cites_ivorn=None if previous is None else previous.ivorn, content_sha256=digest,
        alert={**document, "record_number": revision}, packet=xml, packet_sha256=hashlib.sha256(xml).hexdigest(),
    )
    registry.register(conn, [alert_resource(settings, record)], destinations=destinations(settings))
    values = {name: getattr(record, name) for name in record.__dataclass_fields__ if name != "seq"}
    seq = conn.execute(insert(alerts).values(x=x, y=y, z=z, **values)).inserted_primary_key[0]
    return AlertRecord(**{**values, "seq": seq}), True
