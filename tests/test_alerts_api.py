"""The alert endpoints through the Flask test client: packets checked against the VOEvent 2.0 XSD and by value."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from lxml import etree
from sqlalchemy import select

from alert_support import assert_xsd_valid, post, public_url, sample_alert
from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.codecs import voevent, voevent_reader
from hydroserve.odc_sync import outbox, registry
from support import TOKEN, url

EVENT = "ORCA24-0114-00873"
FIRST = f"{EVENT}_r1"
HOSTILE = 'a</Param><Param name="evil" value="1"/>"}],"x":{"y":"\\u0000 & <script>\''


def packet_of(client, alert_id: str) -> voevent.Packet:
    response = client.get(url(client, "alerts.Alert", alert_id=alert_id))
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert_xsd_valid(response.data)
    return voevent_reader.parse(response.data)


def test_sample_alert_is_accepted_as_is_and_served_as_a_valid_voevent(client):
    response = post(client, sample_alert())
    assert response.status_code == 201
    assert response.headers["Location"] == url(client, "alerts.Alert", alert_id=FIRST, _external=True)
    synopsis = response.get_json()
    assert synopsis["id"] == FIRST and synopsis["ivorn"] == f"ivo://km3net.org/alerts#{FIRST}"
    assert (synopsis["role"], synopsis["alert_type"], synopsis["revision"]) == ("test", "initial", 1)
    assert synopsis["trigger_time"] == "2025-01-14T03:11:58.337512Z" and synopsis["issued"] == "2025-01-14T03:12:09.500000Z"
    assert (synopsis["error_radius_50_deg"], synopsis["error_radius_90_deg"]) == (0.7, 1.6)

    packet = packet_of(client, FIRST)
    assert (packet.ivorn, packet.role) == (synopsis["ivorn"], "test")
    assert packet.who == voevent.Who("ivo://km3net.org/alerts", datetime(2025, 1, 14, 3, 12, 9, 500000, tzinfo=UTC),
                                     "KM3NeT Collaboration")
    where = packet.where_when
    assert where.time == datetime(2025, 1, 14, 3, 11, 58, 337512, tzinfo=UTC)
    assert (where.ra_deg, where.dec_deg, where.error_radius_deg) == (231.2, -12.8, 1.6)  # Error2Radius = the 90 % radius
    assert where.observatory == voevent.Observatory("ORCA", 6.0333, 42.8, -2450.0)
    params = voevent.params(packet)
    values = {name: (p.value, p.unit) for name, p in params.items()}
    assert values["src_error_50"] == (0.7, "deg") and values["src_error_90"] == (1.6, "deg")
    assert values["energy"] == (23.5, "TeV") and values["far"] == (3.2e-08, "Hz")
    assert values["is_real_alert"] == (0, None) and params["is_real_alert"].data_type == "int"
    assert values["number_of_events"] == (1, None) and values["ranking"] == (2, None)
    assert (values["prob_neutrino"][0], values["p_astro"][0], values["reconstruction_quality"][0]) == (0.97, 0.31, 1.07)
    # astropy: SkyCoord(231.2 deg, -12.8 deg, frame="fk5").galactic = (350.86595, 35.42817) deg
    assert (values["galactic_longitude"][0], values["galactic_latitude"][0]) == (pytest.approx(350.86595, abs=1e-4),
                                                                                 pytest.approx(35.42817, abs=1e-4))
    assert [values[k][0] for k in ("event_id", "instrument", "flavor", "neutrino_type", "alert_topology")] == [
        EVENT, "ORCA24", "muon", "unknown", "Track"]
    assert {p.data_type for p in params.values()} <= {"string", "float", "int"}
    assert packet.why.importance == 0.31 and [i.probability for i in packet.why.inferences] == [0.97, 0.31]
    assert "JTRIGGER3DMUON, JTRIGGERMXSHOWER" in packet.how.descriptions[0]
    assert packet.citations == ()


def test_posting_the_same_alert_again_returns_the_stored_revision(client, app):
    first = post(client, sample_alert())
    again = post(client, sample_alert())
    without_number = post(client, sample_alert(record_number=None))
    assert (first.status_code, again.status_code, without_number.status_code) == (201, 200, 200)
    assert again.get_json()["packet_sha256"] == first.get_json()["packet_sha256"] == without_number.get_json()["packet_sha256"]
    listing = client.get(url(client, "alerts.Alerts")).get_json()
    assert [item["id"] for item in listing["items"]] == [FIRST]
    with app.extensions["hydroserve"].engine.connect() as conn:
        assert outbox.counts(conn) == {("odc", "pending"): 1}


def test_update_and_retraction_are_new_packets_citing_their_predecessor(client):
    post(client, sample_alert())
    update = post(client, sample_alert(alert_type="update", record_number=2, ra=231.5, dec=-12.6, ra_dec_error=0.9,
                                       src_error_50=0.4, alert_datetime="2025-01-14T03:40:00Z"))
    assert update.status_code == 201
    retraction = post(client, {"id": EVENT, "alert_type": "retraction", "additional_info": "a burst of bioluminescence"})
    assert retraction.status_code == 201
    second, third = update.get_json(), retraction.get_json()
    assert (second["id"], third["id"]) == (f"{EVENT}_r2", f"{EVENT}_r3")

    updated = packet_of(client, f"{EVENT}_r2")
    assert updated.citations == (voevent.Citation(f"ivo://km3net.org/alerts#{FIRST}", "supersedes"),)
    assert (updated.where_when.ra_deg, updated.where_when.error_radius_deg) == (231.5, 0.9)
    assert voevent.params(updated)["record_number"].value == 2

    retracted = packet_of(client, f"{EVENT}_r3")
    assert retracted.citations == (voevent.Citation(f"ivo://km3net.org/alerts#{EVENT}_r2", "retraction"),)
    assert retracted.where_when is None and retracted.role == "test"  # no position: nothing to follow up
    assert "a burst of bioluminescence" in retracted.citations_description
    assert {name: p.value for name, p in voevent.params(retracted).items()} == {
        "event_id": EVENT, "record_number": 3, "alert_type": "retraction", "mission": "KM3NeT", "instrument": "ORCA24",
        "is_real_alert": 0}
    # the first packet is untouched; the synopsis now points forward
    original = client.get(url(client, "alerts.AlertJson", alert_id=FIRST)).get_json()
    assert original["superseded_by"] == f"{EVENT}_r2" and original["latest"] == f"{EVENT}_r3" and original["retracted"] is True
    assert third["cites"] == {"ivorn": f"ivo://km3net.org/alerts#{EVENT}_r2", "relation": "retraction", "id": f"{EVENT}_r2",
                              "url": url(client, "alerts.Alert", alert_id=f"{EVENT}_r2", _external=True)}
    # catalogued where the retracted alert was
    assert (third["ra_deg"], third["dec_deg"], third["trigger_time"]) == (231.5, -12.6, "2025-01-14T03:11:58.337512Z")

    history = client.get(url(client, "alerts.Revisions", alert_id=FIRST)).get_json()
    assert [(r["id"], r["alert_type"]) for r in history["items"]] == [
        (FIRST, "initial"), (f"{EVENT}_r2", "update"), (f"{EVENT}_r3", "retraction")]
    assert (history["latest"], history["retracted"]) == (f"{EVENT}_r3", True)
    latest = client.get(url(client, "alerts.Latest", alert_id=FIRST))
    assert latest.status_code == 303
    assert latest.headers["Location"] == url(client, "alerts.Alert", alert_id=f"{EVENT}_r3", _external=True)
    newest = client.get(url(client, "alerts.Alerts", event=EVENT, limit=1)).get_json()
    assert [item["id"] for item in newest["items"]] == [f"{EVENT}_r3"]


@pytest.mark.parametrize(
    ("posts", "field", "detail"),
    [
        ([sample_alert(), sample_alert(ra=100.0)], "record_number", "Revision 1 of event 'ORCA24-0114-00873' is stored"),
        ([sample_alert(), sample_alert(ra=100.0, record_number=None)], "alert_type", "already has its initial alert"),
        ([sample_alert(alert_type="update", record_number=None)], "alert_type", "There is no alert 'ORCA24-0114-00873' to update"),
        ([sample_alert(), sample_alert(alert_type="update", record_number=3)], "record_number", "would leave a gap"),
        ([sample_alert(), sample_alert(alert_type="update", record_number=2, is_real_alert=True)], "is_real_alert",
         "is a test; its revisions keep is_real_alert=false"),
        ([sample_alert(), sample_alert(alert_type="update", record_number=2, instrument="ORCA23")], "instrument",
         "was seen by ORCA24"),
        ([sample_alert(), {"id": EVENT, "alert_type": "retraction"}, sample_alert(alert_type="update", record_number=None)],
         "id", "was retracted by ORCA24-0114-00873_r2"),
    ],
)
def test_contradicting_posts_are_409_naming_the_field(client, posts, field, detail):
    for alert in posts[:-1]:
        assert post(client, alert).status_code == 201
    response = post(client, posts[-1])
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"].endswith("/alert-conflict") and detail in problem["detail"]
    assert list(problem["errors"]["json"]) == [field]
    assert len(client.get(url(client, "alerts.Alerts")).get_json()["items"]) == len(posts) - 1


def test_posting_needs_an_accepted_bearer_token(client):
    missing = post(client, sample_alert(), headers={})
    assert missing.status_code == 401 and missing.mimetype == "application/problem+json"
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="hydroserve"'
    assert "needs a bearer token" in missing.get_json()["detail"]
    wrong = post(client, sample_alert(), headers={"Authorization": "Bearer not-" + TOKEN})
    assert wrong.status_code == 403 and wrong.get_json()["detail"] == "The bearer token is not accepted."
    assert post(client, {"ra": "bad"}, headers={}).status_code == 401  # authentication comes before validation
    assert client.get(url(client, "alerts.Alerts")).get_json()["items"] == []


@pytest.mark.parametrize(
    ("alert", "errors"),
    [
        ({"is_real_alert": True}, {"id", "instrument", "trigger_time", "ra", "dec", "ra_dec_error", "src_error_50"}),
        (sample_alert(ra="231.2", is_real_alert="yes", record_number=1.5), {"ra", "is_real_alert", "record_number"}),
        (sample_alert(ra=360.0, dec=-90.5, ra_dec_error=0.0), {"ra", "dec", "ra_dec_error"}),
        (sample_alert(src_error_50=2.0), {"src_error_50"}),
        (sample_alert(trigger_time="2025-01-14T03:11:58"), {"trigger_time"}),
        (sample_alert(event_name="nul\u0000byte", id="has space"), {"event_name", "id"}),
        (sample_alert(colour="blue"), {"colour"}),
        (sample_alert(energy=None), {"energy_unit"}),
        (sample_alert(galactic_longitude=10.0, galactic_latitude=20.0), {"galactic_longitude"}),
        (sample_alert(galactic_longitude=350.8659), {"galactic_latitude"}),
        ({"id": EVENT, "alert_type": "retraction", "ra": 1.0, "trigger_time": "2025-01-14T03:11:58Z"}, {"ra", "trigger_time"}),
    ],
)
def test_invalid_alerts_are_422_naming_every_field(module_client, alert, errors):
    response = post(module_client, alert)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert set(response.get_json()["errors"]["json"]) == errors
    # the module's catalog only ever receives these refused posts: it stays empty
    assert module_client.get(url(module_client, "alerts.Alerts")).get_json()["items"] == []


def test_detector_without_a_configured_site_is_422(client):
    response = post(client, sample_alert(instrument="ANTARES12"))
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["errors"] == {"json": {"instrument": [problem["detail"]]}}
    assert "must start with one of ARCA, ORCA" in problem["detail"]


def test_galactic_coordinates_given_consistently_are_kept(client):
    response = post(client, sample_alert(galactic_longitude=350.866, galactic_latitude=35.428))
    assert response.status_code == 201
    assert (response.get_json()["galactic_longitude_deg"], response.get_json()["galactic_latitude_deg"]) == (350.866, 35.428)


def test_markup_and_json_in_fields_are_escaped_in_xml_and_json(client):
    response = post(client, sample_alert(additional_info=HOSTILE.replace("\\u0000", ""), event_name="<b>\"KM3\"</b>&"))
    assert response.status_code == 201
    raw = client.get(url(client, "alerts.Alert", alert_id=FIRST)).data
    assert_xsd_valid(raw)
    assert b'<Param name="evil"' not in raw and b"<b>" not in raw
    packet = voevent_reader.parse(raw)
    assert packet.description == HOSTILE.replace("\\u0000", "")
    assert voevent.params(packet)["event_name"].value == "<b>\"KM3\"</b>&"
    assert "evil" not in {p.get("name") for p in etree.fromstring(raw).iter("Param")}
    synopsis = json.loads(client.get(url(client, "alerts.AlertJson", alert_id=FIRST)).data)
    assert synopsis["alert"]["additional_info"] == HOSTILE.replace("\\u0000", "") and "x" not in synopsis


def test_packet_or_synopsis_by_accept_header(client):
    post(client, sample_alert())
    xml = client.get(url(client, "alerts.Alert", alert_id=FIRST), headers={"Accept": "text/html,application/xml;q=0.9,*/*;q=0.8"})
    assert xml.mimetype == "application/xml" and xml.headers["Vary"] == "Accept"
    assert xml.headers["Content-Disposition"] == f"inline; filename={FIRST}.xml"
    assert "immutable" in xml.headers["Cache-Control"]
    synopsis = client.get(url(client, "alerts.Alert", alert_id=FIRST), headers={"Accept": "application/json"})
    assert synopsis.mimetype == "application/json" and synopsis.get_json()["id"] == FIRST
    assert synopsis.get_json() == client.get(url(client, "alerts.AlertJson", alert_id=FIRST)).get_json()
    assert client.get(url(client, "alerts.Alert", alert_id=FIRST), headers={"If-None-Match": xml.headers["ETag"]}).status_code == 304
    assert xml.headers["ETag"] == f'"{synopsis.get_json()["packet_sha256"]}"'
    refused = client.get(url(client, "alerts.Alert", alert_id=FIRST), headers={"Accept": "image/png"})
    assert refused.status_code == 406 and "application/xml" in refused.get_json()["detail"]


def test_the_synopsis_is_never_answered_304_after_a_later_revision(client):
    # the synopsis of r1 says whether r1 is the latest revision: it changes when a retraction arrives
    post(client, sample_alert())
    before = client.get(url(client, "alerts.AlertJson", alert_id=FIRST))
    assert before.get_json()["latest"] == FIRST and before.get_json()["superseded_by"] is None
    assert "Last-Modified" not in before.headers
    post(client, {"id": EVENT, "alert_type": "retraction"})
    since = client.get(url(client, "alerts.AlertJson", alert_id=FIRST), headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert since.status_code == 200 and since.get_json()["retracted"] is True
    assert since.get_json()["latest"] == since.get_json()["superseded_by"] == f"{EVENT}_r2"
    changed = client.get(url(client, "alerts.AlertJson", alert_id=FIRST), headers={"If-None-Match": before.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != before.headers["ETag"]


@pytest.mark.parametrize(("endpoint", "alert_id"), [("alerts.Alert", f"{EVENT}_r9"), ("alerts.Alert", EVENT),
                                                   ("alerts.AlertJson", f"{EVENT}_r9"), ("alerts.Revisions", f"{EVENT}_r9"),
                                                   ("alerts.Latest", f"{EVENT}_r9")])
def test_unknown_alerts_are_404_problems(client, endpoint, alert_id):
    post(client, sample_alert())
    response = client.get(url(client, endpoint, alert_id=alert_id))
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert EVENT in response.get_json()["detail"]


def test_each_packet_is_an_open_resource_queued_for_the_odc_and_every_broker(tmp_path, database_url):
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=database_url, api_tokens=TOKEN,
                             vtp_brokers="127.0.0.1:8098,broker.example.org:8098", public_url="https://alerts.example.org")
    wiring.init_catalog(settings).dispose()
    app = create_app(settings)
    synopsis = post(app.test_client(), sample_alert()).get_json()
    engine = app.extensions["hydroserve"].engine
    with engine.connect() as conn:
        resource = registry.get_resource(conn, f"alerts_01_voevent_{FIRST}")
        queued = conn.execute(select(outbox.table.c.destination, outbox.table.c.state)
                              .where(outbox.table.c.resource_kid == resource.kid)).all()
        stream = registry.get_stream(conn, "alerts_01_voevent")
    assert (stream.collection_kid, stream.ktype, stream.media_type) == ("alerts_01", "alerts.voevent", "application/xml")
    assert resource.access_url == public_url(app, "alerts.Alert", alert_id=FIRST)
    assert resource.info_url == public_url(app, "alerts.AlertJson", alert_id=FIRST)
    assert resource.access_url.startswith("https://alerts.example.org/") and resource.info_url == f"{resource.access_url}.json"
    assert (resource.sha256, resource.size_bytes) == (synopsis["packet_sha256"], synopsis["packet_size_bytes"])
    assert resource.coverage_start == resource.coverage_end == datetime(2025, 1, 14, 3, 11, 58, 337512, tzinfo=UTC)
    assert resource.extra["ivorn"] == synopsis["ivorn"] and resource.subject_id == FIRST
    assert sorted(queued) == [("odc", "pending"), ("vtp:127.0.0.1:8098", "pending"), ("vtp:broker.example.org:8098", "pending")]


def test_openapi_documents_the_alert_endpoints_and_filters(client):
    spec = client.get(url(client, "api-docs.openapi_json")).get_json()
    assert {"/api/v1/alerts", "/api/v1/alerts/{alert_id}", "/api/v1/alerts/{alert_id}.json",
            "/api/v1/alerts/{alert_id}/revisions", "/api/v1/alerts/{alert_id}/latest"} <= set(spec["paths"])
    parameters = {p["name"]: p for p in spec["paths"]["/api/v1/alerts"]["get"]["parameters"]}
    assert set(parameters) == {"since", "until", "role", "detector", "event", "alert_type", "latest", "cone", "limit", "cursor"}
    assert "true angular distance" in parameters["cone"]["description"] and parameters["cone"]["schema"] == {"type": "string", "example": "83.63,22.01,3"}
    assert spec["paths"]["/api/v1/alerts"]["post"]["security"] == [{"bearer": []}]
