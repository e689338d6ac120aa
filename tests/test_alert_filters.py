"""The alert filters, checked by value: every example value of the filter table against a real catalogue; through
GET /alerts, sky cones across RA 0/360 and around the poles, times, roles, paging, and 400s naming the parameter."""

from __future__ import annotations

import pytest

from alert_support import post, sample_alert
from hydroserve.api import wiring
from hydroserve.api.alerts import filters, store, submission
from hydroserve.api.alerts.input import AlertInputSchema
from hydroserve.api.db import writer
from hydroserve.codecs import sky
from support import url

SAMPLE = "ORCA24-0114-00873"  # the sample alert (a test of ORCA24 at 2025-01-14T03:11:58Z), updated and then retracted
# every example value of every filter: the alerts it selects from EXAMPLE_CATALOGUE
EXAMPLE_RESULTS = {
    ("since", "2025-01-01T00:00:00Z"): {"crab_r1", "south_r1", "pole_r1", f"{SAMPLE}_r1", f"{SAMPLE}_r2", f"{SAMPLE}_r3"},
    ("since", "2025-01-01"): {"crab_r1", "south_r1", "pole_r1", f"{SAMPLE}_r1", f"{SAMPLE}_r2", f"{SAMPLE}_r3"},  # midnight UTC
    ("since", "2025-01-14T03:00:00+01:00"): {"south_r1", "pole_r1", f"{SAMPLE}_r1", f"{SAMPLE}_r2", f"{SAMPLE}_r3"},
    ("until", "2025-02-01T00:00:00Z"): {"early_r1", "crab_r1", "south_r1", f"{SAMPLE}_r1", f"{SAMPLE}_r2", f"{SAMPLE}_r3"},
    ("role", "observation"): {"early_r1", "crab_r1", "south_r1"},
    ("role", "test"): {"pole_r1", f"{SAMPLE}_r1", f"{SAMPLE}_r2", f"{SAMPLE}_r3"},
    ("detector", "ORCA24"): {"early_r1", "south_r1", f"{SAMPLE}_r1", f"{SAMPLE}_r2", f"{SAMPLE}_r3"},
    ("detector", "ARCA21"): {"crab_r1", "pole_r1"},  # pole was posted as arca21
    ("event", SAMPLE): {f"{SAMPLE}_r1", f"{SAMPLE}_r2", f"{SAMPLE}_r3"},
    ("alert_type", "initial"): {"early_r1", "crab_r1", "south_r1", "pole_r1", f"{SAMPLE}_r1"},
    ("alert_type", "update"): {f"{SAMPLE}_r2"},
    ("alert_type", "retraction"): {f"{SAMPLE}_r3"},
    ("latest", "true"): {"early_r1", "crab_r1", "south_r1", "pole_r1", f"{SAMPLE}_r3"},
    ("latest", "false"): {f"{SAMPLE}_r1", f"{SAMPLE}_r2"},
    ("cone", "83.63,22.01,3"): {"crab_r1"},  # 0.77 deg from the Crab
    ("cone", "359.5,-10,2"): {"south_r1"},  # 1.1 deg away, across RA 0/360
    ("cone", "0,90,5"): {"pole_r1"},  # 3 deg from the north pole
}
# name: (ra_deg, dec_deg, trigger_time, instrument, is_real_alert)
EXAMPLE_CATALOGUE = {
    "early": (120.0, 40.0, "2024-12-31T23:00:00Z", "ORCA24", True),
    "crab": (83.0, 22.5, "2025-01-10T00:00:00Z", "ARCA21", True),
    "south": (0.5, -10.5, "2025-01-20T00:00:00Z", "ORCA24", True),
    "pole": (200.0, 87.0, "2025-02-03T00:00:00Z", "arca21", False),
}

# name: (ra_deg, dec_deg, trigger_time, instrument, is_real_alert)
SKY = {
    "A": (359.8, 0.0, "2025-01-01T00:00:00Z", "ORCA24", True),
    "B": (0.3, 0.5, "2025-01-02T00:00:00Z", "ORCA24", False),
    "C": (180.0, 0.0, "2025-01-03T00:00:00Z", "ARCA21", True),
    "D": (10.0, 89.5, "2025-01-04T00:00:00Z", "ARCA21", False),
    "E": (190.0, 89.2, "2025-01-05T00:00:00Z", "arca21", True),
    "F": (100.0, -89.9, "2025-01-06T00:00:00Z", "ORCA24", True),
}


def test_every_example_value_of_every_filter_selects_what_it_says(settings):
    assert set(EXAMPLE_RESULTS) == {(f.key, value) for f in filters.FILTERS.values() for value in f.example_values}
    engine = wiring.init_catalog(settings)
    alert_settings = wiring.alert_settings(settings)
    posts = [sample_alert(id=name, ra=ra, dec=dec, trigger_time=time, instrument=instrument, is_real_alert=real,
                          ra_dec_error=0.5, src_error_50=0.2, alert_datetime=None)
             for name, (ra, dec, time, instrument, real) in EXAMPLE_CATALOGUE.items()]
    posts += [sample_alert(), sample_alert(alert_type="update", record_number=2, ra=231.5),
              {"id": SAMPLE, "alert_type": "retraction"}]
    for alert in posts:
        assert submission.submit(writer(engine), alert_settings, AlertInputSchema().load(alert)).created
    for (key, text), expected in EXAMPLE_RESULTS.items():
        page = store.find_page(engine, filters.conditions({key: filters.FILTERS[key].parse(text)}), before_seq=None, limit=100)
        assert {record.alert_id for record in page.records} == expected, (key, text)


def test_unknown_filter_keys_are_refused():
    with pytest.raises(ValueError, match="no alert filter is called ra"):
        filters.conditions({"ra": 10.0})


def post_sky(client):
    for name, (ra, dec, time, instrument, real) in SKY.items():
        alert = sample_alert(id=f"ev-{name}", ra=ra, dec=dec, trigger_time=time, instrument=instrument, is_real_alert=real,
                             ra_dec_error=0.5, src_error_50=0.2, alert_datetime=None)
        assert post(client, alert).status_code == 201
    return client


@pytest.fixture
def catalogue(client):
    """A client of a fresh catalogue of the SKY alerts, for a test that adds to it."""
    return post_sky(client)


@pytest.fixture(scope="module")
def read_only_catalogue(module_client):
    """A client of one catalogue of the SKY alerts per module and engine, for the tests that only read it."""
    return post_sky(module_client)


def names(client, query: str) -> list[str]:
    response = client.get(f"{url(client, 'alerts.Alerts')}?{query}")
    assert response.status_code == 200, response.get_json()
    return sorted(item["event_id"].removeprefix("ev-") for item in response.get_json()["items"])


@pytest.mark.parametrize(
    ("cone", "expected"),
    [
        ("0,0,1", ["A", "B"]),  # A is 0.2 deg away across RA 0/360, B 0.583 deg
        ("359.9,0,0.25", ["A"]),
        ("360,0,0.1999", []),  # A is exactly 0.2 deg from (0, 0)
        ("360,0,0.2001", ["A"]),
        ("0,90,1", ["D", "E"]),  # 0.5 and 0.8 deg from the north pole, on opposite sides
        ("10,89.5,1.2", ["D"]),  # E is 1.3 deg away over the pole (the RA difference is 180 deg)
        ("10,89.5,1.4", ["D", "E"]),
        ("280,-90,0.2", ["F"]),
        ("180,0,179.75", ["B", "C", "D", "E", "F"]),  # near-antipodal: A is 179.8 deg away, B 179.417 deg
    ],
)
def test_cone_uses_true_angular_distance(read_only_catalogue, cone, expected):
    ra, dec, radius = (float(v) for v in cone.split(","))
    by_distance = sorted(n for n, (r, d, *_) in SKY.items() if sky.angular_distance_deg(ra, dec, r, d) <= radius)
    assert names(read_only_catalogue, f"cone={cone}") == expected == by_distance


def test_time_role_detector_and_type_filters(catalogue):
    assert names(catalogue, "since=2025-01-03T00:00:00Z") == ["C", "D", "E", "F"]
    assert names(catalogue, "until=2025-01-03T00:00:00Z") == ["A", "B"]
    assert names(catalogue, "since=2025-01-02T01:00:00%2B01:00&until=2025-01-05T00:00:00.000001Z") == ["B", "C", "D", "E"]
    assert names(catalogue, "role=test") == ["B", "D"]
    assert names(catalogue, "role=observation&detector=ARCA21") == ["C", "E"]
    assert names(catalogue, "detector=arca21&cone=0,90,1") == ["D", "E"]
    assert names(catalogue, "event=ev-C") == ["C"]
    assert names(catalogue, "alert_type=update") == []
    post(catalogue, {"id": "ev-C", "alert_type": "retraction"})
    assert names(catalogue, "alert_type=retraction") == ["C"]
    assert names(catalogue, "latest=false") == ["C"]
    latest = catalogue.get(url(catalogue, "alerts.Alerts", latest="true", event="ev-C")).get_json()["items"]
    assert [(item["id"], item["alert_type"]) for item in latest] == [("ev-C_r2", "retraction")]


def test_pages_follow_the_cursor_without_gaps_or_repeats(read_only_catalogue):
    catalogue = read_only_catalogue
    seen, page_url, pages = [], url(catalogue, "alerts.Alerts", limit=4, role="observation"), 0
    while page_url:
        response = catalogue.get(page_url)
        page = response.get_json()
        seen += [item["event_id"] for item in page["items"]]
        assert response.headers.get("Link") == (f'<{page["next"]}>; rel="next"' if page["next"] else None)
        page_url, pages = page["next"], pages + 1
    assert seen == ["ev-F", "ev-E", "ev-C", "ev-A"] and pages == 1
    seen, page_url = [], url(catalogue, "alerts.Alerts", limit=2)
    while page_url:
        page = catalogue.get(page_url).get_json()
        assert len(page["items"]) <= 2
        seen += [item["event_id"] for item in page["items"]]
        page_url = page["next"]
    assert seen == [f"ev-{n}" for n in "FEDCBA"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("cone=1,2", "cone"),
        ("cone=1,2,0", "cone"),
        ("cone=1,95,2", "cone"),
        ("cone=a,b,c", "cone"),
        ("since=2025-01-01T00:00:00", "since"),
        ("since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z", "until"),
        ("role=retraction", "role"),
        ("latest=maybe", "latest"),
        ("limit=0", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("ra=10", "ra"),
    ],
)
def test_bad_or_unknown_parameters_are_400_naming_them(read_only_catalogue, query, parameter):
    client = read_only_catalogue
    response = client.get(f"{url(client, 'alerts.Alerts')}?{query}")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert f"'{parameter}'" in response.get_json()["detail"]
