"""Hostile request shapes answer 4xx problem+json naming the parameter (or an OAI error element), never 500 (issue 14)."""

from __future__ import annotations

import errno
import io
import json

import pytest
from lxml import etree

from alert_support import post, sample_alert
from hydroserve.codecs import tokens
from hydroserve.samples import events
from support import AUTH, url

OAI = "{http://www.openarchives.org/OAI/2.0/}"
SAMPLE_CSV = (events.EXAMPLE_DIR / f"{events.TABLE_ID}.csv").read_bytes()
SAMPLE_META = (events.EXAMPLE_DIR / f"{events.TABLE_ID}.meta.json").read_bytes()


# tests of refused requests (nothing is written) share one catalog per engine (module_client); the tests that write
# (an accepted table, a package) have their own


def assert_problem(response, status: int, where: str) -> None:
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/problem+json" and where in response.json["detail"], response.json


@pytest.mark.parametrize("endpoint, values", [
    ("acoustic.Packages", [2**63, "DOM_808956920_CH1_1608751680", "newest"]),
    ("acoustic.Packages", [-(2**63) - 1, "DOM_808956920_CH1_1608751680", "newest"]),
    ("alerts.Alerts", [2**63]),
    ("registry.Resources", ["2020-01-01T00:00:00+00:00", "\ud800"]),
    ("events.Tables", ["\udfff"]),
])
def test_a_cursor_no_page_could_have_issued_is_a_400_naming_it(module_client, endpoint, values):
    response = module_client.get(url(module_client, endpoint), query_string={"cursor": tokens.encode(values)})
    assert_problem(response, 400, "'cursor'")


@pytest.mark.parametrize("query", [{"since": "0001-01-01T00:00:00+14:00"}, {"until": "9999-12-31T23:59:59-14:00"}])
def test_alert_filter_times_beyond_the_utc_calendar_are_a_400_naming_them(module_client, query):
    assert_problem(module_client.get(url(module_client, "alerts.Alerts"), query_string=query), 400, f"'{next(iter(query))}'")


@pytest.mark.parametrize("field", ["trigger_time", "alert_datetime"])
def test_posted_alert_times_beyond_the_utc_calendar_are_a_422_naming_them(module_client, field):
    assert_problem(post(module_client, sample_alert(**{field: "0001-01-01T00:00:00+14:00"})), 422, f"'{field}'")


def oai_error(client, **arguments) -> etree._Element:
    response = client.get(url(client, "oai.Oai"), query_string=arguments)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    [error] = etree.fromstring(response.data).iter(f"{OAI}error")
    return error


@pytest.mark.parametrize("arguments", [
    {"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:hydroserve.km3net.org:a\x01b"},
    {"verb": "ListRecords", "metadataPrefix": "oai_dc\x00"},
    {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "acoustic20_01_psd\x1b"},
    {"verb": "ListRecords", "resumptionToken": "WyJ\x02"},
    {"verb\x7f\x01": "Identify"},
])
def test_oai_arguments_with_control_characters_are_a_bad_argument_error(module_client, arguments):
    error = oai_error(module_client, **arguments)
    assert error.get("code") == "badArgument" and "which XML cannot carry" in error.text


@pytest.mark.parametrize("dates", [
    ("yesterday", "", "2020-01-01T00:00:00+00:00"),
    ("", "", "2020-01-01"),
    ("", "", "2020-01-01T00:00:00\ud800+00:00"),
])
def test_oai_resumption_tokens_with_dates_this_repository_never_writes_are_bad_tokens(module_client, dates):
    since, until, after = dates
    token = tokens.encode(["ListRecords", "oai_dc", "", since, until, after, "kid", 100])
    assert oai_error(module_client, verb="ListRecords", resumptionToken=token).get("code") == "badResumptionToken"


def test_oai_resumption_token_with_a_surrogate_in_its_position_is_a_bad_token(module_client):
    token = tokens.encode(["ListRecords", "oai_dc", "", "", "", "2020-01-01T00:00:00+00:00", "\ud800", 1])
    assert oai_error(module_client, verb="ListRecords", resumptionToken=token).get("code") == "badResumptionToken"


@pytest.mark.parametrize("body, message", [
    ("[" * 100_000 + "]" * 100_000, "Invalid JSON body: nested too deeply"),
    ('{"ra": ' + "9" * 5000 + "}", "Invalid JSON body: Exceeds the limit (4300 digits)"),
])
def test_json_python_cannot_hold_is_a_400_naming_the_body(module_client, body, message):
    response = module_client.post(url(module_client, "alerts.Post"), data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert_problem(response, 400, f"request body: {message}")


def publish(client, table: bytes, metadata: bytes):
    return client.post(url(client, "events.Tables"), headers=AUTH, content_type="multipart/form-data",
                       data={"table": (io.BytesIO(table), "t.csv"), "metadata": (io.BytesIO(metadata), "t.meta.json")})


def with_cell(line: int, column: str, value: str) -> bytes:
    """The sample CSV with one cell replaced (line 1 is the header)."""
    rows = SAMPLE_CSV.decode().split("\r\n")
    header = rows[0].split(",")
    cells = rows[line - 1].split(",")
    cells[header.index(column)] = value
    rows[line - 1] = ",".join(cells)
    return "\r\n".join(rows).encode()


@pytest.mark.parametrize("column, value, problem", [
    ("n_hits", "9" * 5000, "is not within the int"),
    ("n_hits", "-" + "0" * 30 + "12", None),  # leading zeros: a small number, accepted
    ("energy_gev", "1" + "0" * 5000, "(it would be infinite)"),
])
def test_numbers_beyond_a_column_are_refused_naming_line_and_column(client, column, value, problem):
    response = publish(client, with_cell(3, column, value), SAMPLE_META)
    if problem is None:
        assert response.status_code == 201
        return
    assert_problem(response, 422, f"line 3, column '{column}'")
    assert problem in response.json["detail"]


def test_metadata_python_cannot_hold_is_a_422(module_client):
    nested = b'{"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert_problem(publish(module_client, SAMPLE_CSV, nested), 422, "metadata: the document is nested too deeply")
    huge = b'{"id": ' + b"7" * 5000 + b"}"
    assert_problem(publish(module_client, SAMPLE_CSV, huge), 422, "metadata: unreadable document: Exceeds the limit (4300 digits)")


@pytest.mark.parametrize("endpoint", ["pictures.PsdPng", "pictures.SpectrogramPng"])
def test_pictures_on_a_full_disk_are_a_503_with_retry_after(app, client, archived, synthetic_files, monkeypatch, endpoint):
    archived(synthetic_files(n_frames=5))
    blobs = app.extensions["hydroserve"].products.blobs

    def full(key, chunks):
        raise OSError(errno.ENOSPC, "No space left on device", key)

    monkeypatch.setattr(blobs, "put", full)
    response = client.get(url(client, endpoint, package_id="DOM_808956920_CH1_1608751680"))
    assert_problem(response, 503, "no space left")
    assert response.headers["Retry-After"] == "60" and response.json["type"].endswith("storage-full")
    monkeypatch.undo()
    assert client.get(url(client, endpoint, package_id="DOM_808956920_CH1_1608751680")).status_code == 200


def test_other_os_errors_of_a_view_stay_a_logged_500(app, client, archived, synthetic_files, monkeypatch):
    archived(synthetic_files(n_frames=5))

    def broken(key, chunks):
        raise OSError(errno.EIO, "Input/output error", key)

    monkeypatch.setattr(app.extensions["hydroserve"].products.blobs, "put", broken)
    response = client.get(url(client, "pictures.PsdPng", package_id="DOM_808956920_CH1_1608751680"))
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    assert json.loads(response.data)["detail"] == "The server failed to answer this request; it has been logged."
