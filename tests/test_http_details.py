"""HTTP details (issue 14, item 6): If-Match, Range as RFC 9110 says, and every URL on the configured public_url."""

from __future__ import annotations

import json

import pytest

from alert_support import post, sample_alert
from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.api.demo import publish_samples
from hydroserve.samples import events
from support import url

PUBLIC_URL = "https://acoustics.example.org/hydro"
FOREIGN_HOST = {"Host": "attacker.example:8443", "X-Forwarded-Host": "attacker.example", "X-Forwarded-Proto": "http"}


@pytest.fixture
def public_client(tmp_path):
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), public_url=PUBLIC_URL, snippet_duration_s="2",
                             snippet_interval_s=2, min_coverage=0.6)
    publish_samples(settings, wiring.init_catalog(settings))
    return create_app(settings).test_client()


def published_csv(client) -> str:
    """Publish the sample event table (and alert) through the client's app; the table's CSV URL."""
    publish_samples(client.application.extensions["hydroserve"].settings, client.application.extensions["hydroserve"].engine)
    return url(client, "events.Csv", table_id=events.TABLE_ID)


@pytest.fixture
def csv_url(client):
    return published_csv(client)


@pytest.fixture(scope="module")
def read_only_csv_url(module_client):
    """The CSV URL of the sample table published once per module and engine, for the tests that only read it."""
    return published_csv(module_client)


def test_if_match_with_another_tag_is_412_with_an_empty_body(module_client, read_only_csv_url):
    whole = module_client.get(read_only_csv_url)
    refused = module_client.get(read_only_csv_url, headers={"If-Match": '"another", "tag"'})
    assert refused.status_code == 412 and refused.data == b"" and refused.headers["ETag"] == whole.headers["ETag"]
    ranged = module_client.get(read_only_csv_url, headers={"If-Match": '"another"', "Range": "bytes=0-9"})
    assert ranged.status_code == 412 and ranged.data == b""  # the precondition comes before the range
    for header in (whole.headers["ETag"], "*", f'"x", {whole.headers["ETag"]}'):
        kept = module_client.get(read_only_csv_url, headers={"If-Match": header})
        assert kept.status_code == 200 and kept.data == whole.data


def test_if_match_on_a_json_document(client, csv_url):
    alert = post(client, sample_alert()).json
    document = url(client, "alerts.AlertJson", alert_id=alert["id"])
    assert client.get(document, headers={"If-Match": '"old"'}).status_code == 412
    assert client.get(document, headers={"If-Match": '"old"'}).data == b""


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "items=0-5", "bytes=abc", "bytes=9-2", "bytes 0-5", "bytes=--1"])
def test_a_range_the_server_does_not_support_is_ignored(module_client, read_only_csv_url, header):
    whole = module_client.get(read_only_csv_url)
    response = module_client.get(read_only_csv_url, headers={"Range": header})
    assert response.status_code == 200 and response.data == whole.data and "Content-Range" not in response.headers
    assert response.headers["Accept-Ranges"] == "bytes"


def test_only_a_well_formed_range_beyond_the_end_is_416(module_client, read_only_csv_url):
    size = len(module_client.get(read_only_csv_url).data)
    beyond = module_client.get(read_only_csv_url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    last = module_client.get(read_only_csv_url, headers={"Range": f"bytes={size - 3}-{size + 100}"})
    assert last.status_code == 206 and last.headers["Content-Range"] == f"bytes {size - 3}-{size - 1}/{size}"


def test_every_absolute_url_is_on_the_public_url_whatever_the_host_header(public_client):
    client = public_client
    # paths as the proxy in front passes them on (it strips public_url's /hydro); url_for would add the prefix
    index = client.get("/api/v1", headers=FOREIGN_HOST).json
    tables = client.get("/api/v1/events/tables", query_string={"limit": 1}, headers=FOREIGN_HOST).json
    alerts = client.get("/api/v1/alerts", query_string={"limit": 1}, headers=FOREIGN_HOST)
    oai = client.get("/oai", query_string={"verb": "Identify"}, headers=FOREIGN_HOST).data.decode()
    packages = client.get("/api/v1/packages", headers=FOREIGN_HOST).json
    written = json.dumps([index, tables, alerts.json, packages]) + oai
    assert "attacker" not in written and "localhost" not in written
    assert f"<baseURL>{PUBLIC_URL}/oai</baseURL>" in oai
    assert index["links"]["packages"] == f"{PUBLIC_URL}/api/v1/packages"
    assert tables["items"][0]["links"]["self"] == f"{PUBLIC_URL}/api/v1/events/tables/{events.TABLE_ID}"


def test_next_page_links_are_on_the_public_url(public_client, synthetic_files):
    client = public_client
    settings = client.application.extensions["hydroserve"].settings
    from hydroserve.api.wiring import build_archive, build_ingestor
    from hydroserve.codecs import raw, raw_decoder

    ingestor = build_ingestor(settings, build_archive(settings, client.application.extensions["hydroserve"].engine), retry_for_s=5)
    for path in synthetic_files(n_frames=8):
        ingestor.feed(raw.RawFileName.parse(path).sensor, raw_decoder.read_file(path, frame_length=settings.adf_frame_length))
    ingestor.flush()
    page = client.get("/api/v1/packages", query_string={"limit": 1}, headers=FOREIGN_HOST)
    assert page.json["next"].startswith(f"{PUBLIC_URL}/api/v1/packages?limit=1&cursor=")
    assert page.headers["Link"] == f'<{page.json["next"]}>; rel="next"'
