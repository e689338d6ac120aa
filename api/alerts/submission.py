"""Posting an alert: a new revision of its event (one immutable packet), or the identical revision stored before.

Posting is idempotent: the same content for the same event (and, when
given, the same ``record_number``) returns the stored revision instead of
making a new one. Content that contradicts what is stored is refused with
:class:`AlertConflict`.

Storing a revision is one transaction: the registry resource and its
outbox rows (one per destination: the ODC and every VTP broker) first
(which serialises writers on the registry clock), then the row with the
packet bytes. So a packet is visible, harvestable and queued for brokers
together, or not at all, and ``seq`` grows in commit order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from hydroserve.codecs import sky, voevent
from hydroserve.codecs.times import rfc3339
from hydroserve.odc_sync import registry

from . import packets
from .registration import alert_resource
from .settings import AlertSettings
from .store import AlertRecord, EventState, alerts, event_states, make_alert_id, revisions


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
class Submission:
    """What a post made: the revision, where its event stands now, and whether this post created the revision."""

    record: AlertRecord
    state: EventState
    created: bool


def observatory_for(settings: AlertSettings, instrument: str) -> voevent.Observatory:
    """The configured site whose name starts the instrument's (case-insensitive)."""
    for site in settings.observatories:
        if instrument.upper().startswith(site.name.upper()):
            return site
    names = ", ".join(site.name for site in settings.observatories) or "none"
    raise AlertInvalid(f"No configured site for detector {instrument!r}: its name must start with one of {names} "
                       f"(configuration key alert_observatories).", "instrument")


def canonical(alert: dict) -> dict:
    """The accepted alert as JSON-ready values (times as RFC 3339 UTC)."""
    return {key: rfc3339(value) if isinstance(value, datetime) else value for key, value in sorted(alert.items())}


def content_sha256(document: dict) -> str:
    """Hash of the content that makes a revision (everything but ``record_number``)."""
    content = {key: value for key, value in document.items() if key != "record_number"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def submit(engine: Engine, settings: AlertSettings, alert: dict, now: datetime | None = None) -> Submission:
    """Store an accepted alert as a new revision, or find the identical one stored before.

    Parameters
    ----------
    engine : Engine
        The writer engine.
    settings : AlertSettings
        IVORN, authorship, sites, destinations, public URL.
    alert : dict
        Loaded by ``AlertInputSchema``.
    now : datetime, optional
        Reception time (UTC), also ``Who/Date`` when ``alert_datetime`` is absent.

    Returns
    -------
    Submission
        The revision, its event's state, and whether it was created by this call.

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


def _submit(conn: Connection, settings: AlertSettings, alert: dict, now: datetime) -> Submission:
    document = canonical(alert)
    digest = content_sha256(document)
    stored = revisions(conn, alert["id"])
    found = _existing(stored, alert, digest)
    if found is not None:
        return Submission(found, event_states(conn, {found.event_id})[found.event_id], created=False)
    previous = _check_revision(stored, alert)
    revision = len(stored) + 1
    alert_id = make_alert_id(alert["id"], revision)
    ivorn = f"{settings.author_ivorn}#{alert_id}"
    issued = alert.get("alert_datetime", now).astimezone(UTC)
    retraction = alert["alert_type"] == "retraction"
    packet = packets.build_packet(
        alert,
        ivorn=ivorn,
        revision=revision,
        issued=issued,
        authorship=settings.authorship,
        observatory=None if retraction else observatory_for(settings, alert["instrument"]),
        previous=None if previous is None else packets.Predecessor(previous.ivorn, previous.instrument, previous.is_real_alert),
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
    registry.register(conn, [alert_resource(settings, record)], destinations=settings.destinations)
    values = {name: getattr(record, name) for name in record.__dataclass_fields__ if name != "seq"}
    seq = conn.execute(insert(alerts).values(x=x, y=y, z=z, **values)).inserted_primary_key[0]
    return Submission(AlertRecord(**{**values, "seq": seq}), EventState(record.event_id, revision, retraction), created=True)
