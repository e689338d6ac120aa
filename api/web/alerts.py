"""Alert endpoints: post neutrino-candidate alerts, read them back as VOEvent 2.0 or JSON, list and filter them.

``POST /alerts`` stores an alert (or a revision of one) as an immutable
VOEvent packet, registers it as an open resource and queues it for the ODC
and every configured VTP broker, all in one transaction. The packet bytes
served by ``GET /alerts/<id>`` are exactly the bytes sent to brokers.
"""

from __future__ import annotations

import io

from flask import Response, abort, redirect, request, url_for

from hydroserve.api import urls
from hydroserve.api.alerts import filters, store, submission
from hydroserve.api.alerts.input import ALERT_ID_PATTERN, AlertInputSchema
from hydroserve.api.alerts.store import AlertRecord, EventState, make_alert_id
from hydroserve.api.alerts.submission import AlertConflict, AlertInvalid
from hydroserve.codecs import voevent
from hydroserve.codecs.times import rfc3339

from . import errors, http
from .alert_schemas import AlertPageSchema, AlertQuery, AlertSchema, RevisionsSchema
from .auth import require_token
from .blueprint import Blueprint
from .cursor import NEXT_LINK, next_page
from .http import accepts
from .lookup import load_or_404
from .services import services

bp = Blueprint("alerts", __name__, description="Neutrino-candidate alerts as VOEvent 2.0 packets (initial, updates, retractions)")

XML_TYPES = ("application/xml", "text/xml")
JSON_TYPE = "application/json"
ACCEPT_HEADER = {"in": "header", "name": "Accept", "required": False,
                 "schema": {"type": "string", "example": JSON_TYPE},
                 "description": f"content negotiation (RFC 9110 media ranges with q-values): {voevent.MEDIA_TYPE}, the "
                                f"default (also for no Accept or */*): the VOEvent packet; {JSON_TYPE}: its JSON synopsis; "
                                "neither acceptable: 406"}
VOEVENT_RESPONSE = {"description": "the VOEvent 2.0 packet (Accept: application/xml, the default) or its JSON synopsis "
                                   "(Accept: application/json)",
                    "content": {voevent.MEDIA_TYPE: {"schema": {"type": "string"}},
                                JSON_TYPE: {"schema": AlertSchema}}}


def _found(alert_id: str, load):
    """What ``load(engine, alert_id)`` finds for an alert id; 404 naming it when malformed or unknown."""
    example = (f"<event id>_r<revision>, e.g. ORCA24-0114-00873_r1 "
               f"(the revisions of an event: GET {url_for('alerts.Alerts')}?event=<event id>)")
    return load_or_404("alert", alert_id, ALERT_ID_PATTERN, lambda: load(services().engine, alert_id), example=example)


def alert_json(record: AlertRecord, state: EventState) -> dict:
    """The JSON synopsis of one packet."""
    l_deg, b_deg = record.galactic_deg
    latest = state.latest_alert_id
    cites = None
    if record.cites_alert_id is not None:
        cites = {"ivorn": record.cites_ivorn, "relation": "retraction" if record.alert_type == "retraction" else "supersedes",
                 "id": record.cites_alert_id, "url": url_for("alerts.Alert", alert_id=record.cites_alert_id, _external=True)}
    return {
        "id": record.alert_id,
        "ivorn": record.ivorn,
        "event_id": record.event_id,
        "revision": record.revision,
        "alert_type": record.alert_type,
        "role": record.role,
        "instrument": record.instrument,
        "trigger_time": rfc3339(record.trigger_time),
        "issued": rfc3339(record.issued),
        "received": rfc3339(record.received),
        "ra_deg": record.ra_deg,
        "dec_deg": record.dec_deg,
        "error_radius_50_deg": record.error_radius_50_deg,
        "error_radius_90_deg": record.error_radius_90_deg,
        "galactic_longitude_deg": l_deg,
        "galactic_latitude_deg": b_deg,
        "cites": cites,
        "superseded_by": make_alert_id(record.event_id, record.revision + 1) if record.revision < state.latest_revision else None,
        "latest": latest,
        "retracted": state.retracted,
        "packet_sha256": record.packet_sha256,
        "packet_size_bytes": len(record.packet),
        "alert": record.alert,
        "links": {
            "self": url_for("alerts.Alert", alert_id=record.alert_id, _external=True),
            "json": url_for("alerts.AlertJson", alert_id=record.alert_id, _external=True),
            "revisions": url_for("alerts.Revisions", alert_id=record.alert_id, _external=True),
            "latest": url_for("alerts.Alert", alert_id=latest, _external=True),
        },
    }


def _problem_at(status: int, error: AlertConflict | AlertInvalid, kind: str) -> Response:
    return errors.problem(status, str(error), kind=kind, errors={"json": {error.field: [str(error)]}})


@bp.route(urls.rule(urls.ALERTS), methods=["POST"], endpoint="Post")
@require_token
@accepts("application/json")
@bp.doc(security=[{"bearer": []}])
@bp.arguments(AlertInputSchema, location="json")
@bp.response(201, AlertSchema, headers={"Location": {"description": "URL of the VOEvent packet", "schema": {"type": "string"}}})
@bp.alt_response(200, schema=AlertSchema, description="The same alert was posted before: the stored revision, unchanged")
@bp.alt_response(401, description="No bearer token", **errors.PROBLEM)
@bp.alt_response(403, description="Token not accepted", **errors.PROBLEM)
@bp.alt_response(409, description="Contradicts the event's stored revisions (field named in errors)", **errors.PROBLEM)
@bp.alt_response(415, description="The body is not application/json", **errors.PROBLEM)
@bp.alt_response(422, description="Invalid alert (errors by field)", **errors.PROBLEM)
def post_alert(alert: dict):
    """Store an alert, an update or a retraction; queue it for the ODC and the VTP brokers.

    Idempotent: posting the same content again returns the stored revision
    (200). An update or retraction of event ``id`` becomes the next revision
    and cites the previous one.
    """
    try:
        made = submission.submit(services().writer, services().alert_settings, alert)
    except AlertInvalid as error:
        return _problem_at(422, error, "alert-invalid")
    except AlertConflict as error:
        return _problem_at(409, error, "alert-conflict")
    location = url_for("alerts.Alert", alert_id=made.record.alert_id, _external=True)
    return alert_json(made.record, made.state), 201 if made.created else 200, {"Location": location}


@bp.route(urls.rule(urls.ALERTS), methods=["GET"], endpoint="Alerts")
@bp.arguments(AlertQuery, location="query", as_kwargs=True)
@bp.response(200, AlertPageSchema, headers=NEXT_LINK)
@bp.alt_response(400, description="Invalid or unknown query parameter", **errors.PROBLEM)
def list_alerts(limit, cursor=None, **filter_values):
    """Alert packets (every revision), newest stored first; filter by time, role, detector, event, type, sky cone."""
    page = store.find_page(services().engine, filters.conditions(filter_values), before_seq=None if cursor is None else cursor[0],
                           limit=limit)
    next_url, headers = (None, {}) if page.next_before_seq is None else next_page("alerts.Alerts", [page.next_before_seq])
    return {"items": [alert_json(r, page.states[r.event_id]) for r in page.records], "next": next_url}, 200, headers


def _json_response(record: AlertRecord, state: EventState) -> Response:
    response = http.send_json(alert_json(record, state), max_age_s=0)  # changes when a later revision arrives
    response.vary.add("Accept")
    return response


def _xml_response(record: AlertRecord) -> Response:
    response = http.send_stream(io.BytesIO(record.packet), len(record.packet), media_type=voevent.MEDIA_TYPE,
                                etag=record.packet_sha256, last_modified=record.received, download_name=f"{record.alert_id}.xml")
    response.vary.add("Accept")
    return response


@bp.route(urls.rule(urls.ALERT), endpoint="Alert")
@bp.doc(parameters=[ACCEPT_HEADER, http.IF_NONE_MATCH_HEADER], responses={"200": VOEVENT_RESPONSE, "304": {"description": "not modified"}})
@bp.alt_response(404, description="No such alert", **errors.PROBLEM)
@bp.alt_response(406, description="Neither XML nor JSON is acceptable", **errors.PROBLEM)
def get_alert(alert_id: str):
    """One packet: the VOEvent 2.0 XML (immutable) or, with ``Accept: application/json``, its JSON synopsis."""
    record, state = _found(alert_id, store.find)
    if not request.accept_mimetypes:
        return _xml_response(record)
    best = request.accept_mimetypes.best_match([*XML_TYPES, JSON_TYPE])
    if best is None:
        abort(406, description=f"This alert is available as {voevent.MEDIA_TYPE} (VOEvent) or {JSON_TYPE} (synopsis).")
    return _json_response(record, state) if best == JSON_TYPE else _xml_response(record)


@bp.route(urls.rule(urls.ALERT_JSON), endpoint="AlertJson")
@bp.doc(responses={"200": {"description": "the JSON synopsis", "content": {JSON_TYPE: {"schema": AlertSchema}}},
                   "304": {"description": "not modified"}})
@bp.alt_response(404, description="No such alert", **errors.PROBLEM)
def get_alert_json(alert_id: str):
    """One packet's JSON synopsis: position, errors, revision links, the accepted alert fields."""
    return _json_response(*_found(alert_id, store.find))


@bp.route(urls.rule(urls.ALERT_REVISIONS), endpoint="Revisions")
@bp.response(200, RevisionsSchema)
@bp.alt_response(404, description="No such alert", **errors.PROBLEM)
def get_revisions(alert_id: str):
    """Every revision of the alert's event, oldest first (initial, updates, retraction)."""
    history, state = _found(alert_id, store.find_history)
    return {
        "event_id": state.event_id,
        "latest": state.latest_alert_id,
        "retracted": state.retracted,
        "items": [alert_json(r, state) for r in history],
    }


@bp.route(urls.rule(urls.ALERT_LATEST), endpoint="Latest")
@bp.doc(responses={"303": {"description": "Location: the latest revision of the event"}})
@bp.alt_response(404, description="No such alert", **errors.PROBLEM)
def get_latest(alert_id: str):
    """Redirect (303) to the latest revision of the alert's event (which may be a retraction)."""
    _, state = _found(alert_id, store.find)
    return redirect(url_for("alerts.Alert", alert_id=state.latest_alert_id, _external=True), 303)
