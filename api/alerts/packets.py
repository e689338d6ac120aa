"""A posted neutrino alert as a VOEvent 2.0 packet (the mapping; the XML is codecs.voevent_writer's).

Sections:

* ``Who``: the author IVORN ``ivo://<authority>/<stream>``, the issue date,
  the publisher and contact from the configuration.
* ``What``: every property as a typed ``Param`` with unit and UCD (the
  50 % and the 90 % error radius both), the triggers as a ``Group``;
  booleans are int 0/1.
* ``WhereWhen``: event time (UTC), RA/Dec (deg) with ``Error2Radius`` =
  the 90 % radius, and the detector's site.
* ``How``: which pipeline, detector and triggers; ``Why``: the probability
  of being a neutrino and of astrophysical origin (``importance`` =
  ``p_astro`` when known).
* ``Citations``: an update *supersedes* the previous revision; a
  retraction *retracts* it and carries only ``Who``, a short ``What`` and
  the reason (no position, so that no telescope follows it up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hydroserve.codecs import sky, voevent
from hydroserve.codecs.voevent import Param


@dataclass(frozen=True)
class Authorship:
    """Who publishes: from the configuration."""

    author_ivorn: str
    publisher: str
    contact_name: str | None
    contact_email: str | None


@dataclass(frozen=True)
class Predecessor:
    """The revision a new packet supersedes or retracts."""

    ivorn: str
    instrument: str
    is_real_alert: bool


def _optional(alert: dict, name: str, *, unit: str | None = None, ucd: str | None = None, description: str | None = None) -> list[Param]:
    return [Param(name, alert[name], unit, ucd, description)] if alert.get(name) is not None else []


def _identity(alert: dict, revision: int, instrument: str, is_real_alert: bool) -> list[Param]:
    return [
        Param("event_id", alert["id"], ucd="meta.id", description="event identifier (shared by every revision)"),
        Param("record_number", revision, ucd="meta.number", description="revision of the event's alerts: 1 initial, 2, 3 ... later"),
        Param("alert_type", alert["alert_type"], ucd="meta.code", description="initial, update or retraction"),
        Param("mission", alert.get("mission", "KM3NeT"), ucd="meta.id"),
        Param("instrument", instrument, ucd="meta.id;instr.tel", description="detector"),
        Param("is_real_alert", int(is_real_alert), ucd="meta.code", description="1: real alert, 0: test"),
    ]


def _what(alert: dict, revision: int) -> tuple:
    l_deg, b_deg = sky.equatorial_to_galactic(alert["ra"], alert["dec"])
    items: list = _identity(alert, revision, alert["instrument"], alert["is_real_alert"])
    items += _optional(alert, "event_name", ucd="meta.id", description="public name of the event")
    items += _optional(alert, "messenger", ucd="meta.code")
    items += _optional(alert, "alert_tense", ucd="meta.code", description="GCN alert tense")
    items += _optional(alert, "notice_type", ucd="meta.code", description="issuing pipeline")
    items += [
        Param("src_error_50", alert["src_error_50"], "deg", "stat.error;pos.eq", "radius of the 50 % containment circle"),
        Param("src_error_90", alert["ra_dec_error"], "deg", "stat.error;pos.eq",
              "radius of the 90 % containment circle (= Error2Radius)"),
        Param("galactic_longitude", alert.get("galactic_longitude", l_deg), "deg", "pos.galactic.lon"),
        Param("galactic_latitude", alert.get("galactic_latitude", b_deg), "deg", "pos.galactic.lat"),
    ]
    items += _optional(alert, "flavor", ucd="meta.code", description="reconstructed neutrino flavour")
    items += _optional(alert, "neutrino_type", ucd="meta.code", description="neutrino or antineutrino")
    items += _optional(alert, "alert_topology", ucd="meta.code", description="event topology")
    items += _optional(alert, "number_of_events", ucd="meta.number", description="multiplicity: events in the alert")
    if alert.get("energy") is not None:
        items.append(Param("energy", alert["energy"], alert.get("energy_unit", "GeV"), "phys.energy", "reconstructed energy"))
    items += _optional(alert, "reconstruction_quality", ucd="stat.fit.goodness", description="quality of the direction fit")
    items += _optional(alert, "prob_neutrino", ucd="stat.probability", description="probability of being a neutrino")
    items += _optional(alert, "p_astro", ucd="stat.probability", description="probability of astrophysical origin")
    items += _optional(alert, "ranking", ucd="meta.code.class", description="alert class, 1 = most significant")
    items += _optional(alert, "far", unit="Hz", ucd="stat.falsealarm", description="false alarm rate")
    items += _optional(alert, "p_value", ucd="stat.probability", description="probability of a background alert this significant")
    if alert.get("trigger_types"):
        items.append(voevent.Group("trigger_types", tuple(Param("trigger", name, ucd="meta.code") for name in alert["trigger_types"]),
                                   "triggers that fired"))
    return tuple(items)


def _how(alert: dict) -> voevent.How:
    text = f"{alert.get('mission', 'KM3NeT')} {alert['instrument']} online reconstruction: neutrino-candidate selection"
    if alert.get("notice_type"):
        text += f" by pipeline {alert['notice_type']}"
    if alert.get("trigger_types"):
        text += f"; triggers {', '.join(alert['trigger_types'])}"
    return voevent.How((text + ".",))


def _why(alert: dict) -> voevent.Why | None:
    inferences = []
    if alert.get("prob_neutrino") is not None:
        inferences.append(voevent.Inference(alert["prob_neutrino"], "neutrino candidate", description="the event is a neutrino"))
    if alert.get("p_astro") is not None:
        inferences.append(voevent.Inference(alert["p_astro"], "astrophysical neutrino",
                                            description="the neutrino is of astrophysical origin"))
    return voevent.Why(alert.get("p_astro"), tuple(inferences)) if inferences else None


def build_packet(
    alert: dict,
    *,
    ivorn: str,
    revision: int,
    issued: datetime,
    authorship: Authorship,
    observatory: voevent.Observatory | None,
    previous: Predecessor | None,
) -> voevent.Packet:
    """The packet of one alert revision.

    Parameters
    ----------
    alert : dict
        The accepted alert (see ``AlertInputSchema``).
    ivorn : str
        This packet's IVORN.
    revision : int
        Its record number.
    issued : datetime
        ``Who/Date``.
    authorship : Authorship
        Author IVORN, publisher, contact.
    observatory : Observatory or None
        The detector's site (None for a retraction, which has no WhereWhen).
    previous : Predecessor or None
        The revision this one supersedes or retracts; None for an initial alert.
    """
    who = voevent.Who(authorship.author_ivorn, issued, authorship.publisher, None,
                      authorship.contact_name, authorship.contact_email)
    retraction = alert["alert_type"] == "retraction"
    citations = ()
    if previous is not None:
        citations = (voevent.Citation(previous.ivorn, "retraction" if retraction else "supersedes"),)
    if retraction and previous is None:
        raise ValueError(f"alert {alert['id']!r}: a retraction needs the revision it retracts")
    role = "observation" if (previous.is_real_alert if retraction else alert["is_real_alert"]) else "test"
    if retraction:
        reason = alert.get("additional_info") or "no reason given"
        return voevent.Packet(
            ivorn=ivorn, role=role, who=who,
            what=tuple(_identity(alert, revision, previous.instrument, previous.is_real_alert)),
            citations=citations,
            citations_description=f"Retraction of {previous.ivorn}: {reason}",
            description=f"The alert {previous.ivorn} is retracted: {reason}",
        )
    if observatory is None:
        raise ValueError(f"alert {alert['id']!r}: an observation packet needs the detector's observatory")
    return voevent.Packet(
        ivorn=ivorn, role=role, who=who,
        what=_what(alert, revision),
        where_when=voevent.WhereWhen(alert["trigger_time"], alert["ra"], alert["dec"], alert["ra_dec_error"], observatory),
        how=_how(alert),
        why=_why(alert),
        citations=citations,
        citations_description=f"Update of {previous.ivorn}" if previous is not None else None,
        description=alert.get("additional_info"),
    )
