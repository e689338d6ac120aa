"""The alerts as open resources: their collection, their VOEvent stream and one resource record per packet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from hydroserve.api import urls
from hydroserve.codecs import voevent
from hydroserve.codecs.times import rfc3339
from hydroserve.odc_sync import registry

from .settings import AlertSettings

if TYPE_CHECKING:
    from .store import AlertRecord

KTYPE = "alerts.voevent"

_KINDS = {"initial": "Alert", "update": "Update", "retraction": "Retraction"}


def ensure_alert_registry(reader: Engine, writer: Engine, settings: AlertSettings) -> None:
    """Create the alert collection and its VOEvent stream if missing."""
    registry.ensure_registered(
        reader,
        writer,
        registry.Collection(
            settings.collection,
            "Neutrino alerts",
            "Neutrino-candidate alerts of the KM3NeT detectors as VOEvent 2.0 packets, with their updates and retractions.",
            publisher=settings.publisher,
        ),
        [registry.Stream(
            settings.stream_kid, settings.collection, KTYPE, "Neutrino alerts as VOEvent",
            "One VOEvent 2.0 packet per alert revision (initial, update, retraction), as sent to VOEvent brokers.",
            voevent.MEDIA_TYPE,
        )],
    )


def alert_resource(settings: AlertSettings, record: AlertRecord) -> registry.Resource:
    """The resource record of one packet: the packet's URL, its checksum, where and when the event was seen."""
    stream = settings.stream_kid
    kind = _KINDS[record.alert_type]
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
        access_url=urls.absolute(settings.public_url, urls.ALERT, alert_id=record.alert_id),
        size_bytes=len(record.packet),
        sha256=record.packet_sha256,
        coverage_start=record.trigger_time,
        coverage_end=record.trigger_time,
        subject_id=record.alert_id,
        info_url=urls.absolute(settings.public_url, urls.ALERT_JSON, alert_id=record.alert_id),
        provenance=({"id": "hydroserve:voevent", "description": "online reconstruction output annotated as a VOEvent 2.0 packet",
                     "parameters": {"ivorn": record.ivorn, "cites": record.cites_ivorn}},),
        creator=settings.publisher,
        publisher=settings.publisher,
        extra={"ivorn": record.ivorn, "event_id": record.event_id, "revision": record.revision, "alert_type": record.alert_type,
               "role": record.role, "instrument": record.instrument, "ra_deg": record.ra_deg, "dec_deg": record.dec_deg,
               "error_radius_90_deg": record.error_radius_90_deg},
    )
