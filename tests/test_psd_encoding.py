"""/psd as sent: no catalog query for a poll while the package does not change, the same bytes gzipped for a client
that accepts gzip (its own weak ETag, 304 on it), identity otherwise, ``Vary: Accept-Encoding`` on every answer; a real
client (requests against gunicorn) reads it as the identity document. One archive per engine for the module (the tests
change nothing the others read)."""

from __future__ import annotations

import gzip

import pytest
import requests
from sqlalchemy import create_engine, event, update

from hydroserve.acoustics import catalog

from support import archive_two_second_package, url

PID = "DOM_808956920_CH1_1608751680"


@pytest.fixture(scope="module")
def settings(module_settings):
    return module_settings


@pytest.fixture(scope="module")
def package(settings):
    return archive_two_second_package(settings)


def test_gzip_is_sent_to_clients_that_accept_it_with_its_own_etag(app, client, package):
    path = url(app, "acoustic.Psd", package_id=PID)
    sha256 = package.products["psd"].sha256
    plain = client.get(path)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert plain.headers["ETag"] == f'"{sha256}"' and "Accept-Encoding" in plain.headers["Vary"]
    zipped = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data and len(zipped.data) < len(plain.data) / 2
    assert zipped.headers["ETag"] == f'W/"{sha256}-gzip"' and "Accept-Encoding" in zipped.headers["Vary"]
    assert int(zipped.headers["Content-Length"]) == len(zipped.data)
    assert client.head(path, headers={"Accept-Encoding": "gzip"}).headers["Content-Length"] == str(len(zipped.data))
    for encoding in ("identity", "gzip;q=0", "br"):
        assert client.get(path, headers={"Accept-Encoding": encoding}).data == plain.data, encoding
    not_modified = client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.data == b"" and "Accept-Encoding" in not_modified.headers["Vary"]
    assert client.get(path, headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304
    # the other representation's tag is not this one's
    assert client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": plain.headers["ETag"]}).status_code == 200
    assert client.get(path, headers={"If-Match": zipped.headers["ETag"], "Accept-Encoding": "gzip"}).status_code == 412


def test_bands_are_gzipped_too_and_named_apart(app, client, package):
    band = url(app, "acoustic.Psd", package_id=PID, fmin=1000, fmax=2000)
    plain, zipped = client.get(band), client.get(band, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == zipped.status_code == 200 and gzip.decompress(zipped.data) == plain.data
    assert plain.json["frequency_hz"][0] >= 1000 and plain.json["frequency_hz"][-1] <= 2000
    assert zipped.headers["ETag"] == "W/" + plain.headers["ETag"][:-1] + '-gzip"'
    assert plain.headers["ETag"] != f'"{package.products["psd"].sha256}"'


def _queries_of(engine, action) -> list[str]:
    """The statements ``action()`` sends through ``engine`` (but SQLite's explicit BEGIN, db.py)."""
    statements = []

    def count(conn, cursor, statement, *rest):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return [statement for statement in statements if statement != "BEGIN"]


def test_a_poll_reads_nothing_through_the_engine_until_the_catalog_changes_the_package(app, client, settings, package):
    path = url(app, "acoustic.Psd", package_id=PID)
    client.get(path)  # the document, and the package's current PSD, are now kept by this process
    engine = app.extensions["hydroserve"].engine

    def poll():
        assert client.get(path, headers={"Accept-Encoding": "gzip"}).status_code == 200

    assert _queries_of(engine, poll) == []
    other = create_engine(settings.database_url)  # any writer, through a connection of its own
    with other.begin() as conn:
        conn.execute(update(catalog.packages).where(catalog.packages.c.package_id == PID).values(software_version="9"))
    other.dispose()
    queries = _queries_of(engine, poll)
    assert len(queries) == 1 and "expired_products" in queries[0]
    assert _queries_of(engine, poll) == []


@pytest.mark.parametrize(("endpoint", "query", "encoding"), [
    ("acoustic.Psd", {"package_id": PID}, "gzip"), ("acoustic.Psd", {"package_id": PID}, "identity"),
    ("registry.Resources", {}, "gzip")])
def test_an_answer_written_at_once_has_the_headers_werkzeugs_conditional_handling_gives(app, client, package, endpoint,
                                                                                         query, encoding):
    """A GET without conditional headers gets its headers written at once (http.send_json_bytes); one whose condition
    holds goes through werkzeug's conditional handling: the same answer but for its Date."""
    path = url(app, endpoint, **query)
    at_once = client.get(path, headers={"Accept-Encoding": encoding})
    conditional = client.get(path, headers={"Accept-Encoding": encoding,
                                            "If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert at_once.status_code == conditional.status_code == 200 and at_once.data == conditional.data
    assert {k: v for k, v in at_once.headers.items() if k != "Date"} == {k: v for k, v in conditional.headers.items() if k != "Date"}
    assert "Date" in at_once.headers and "ETag" in at_once.headers


@pytest.mark.slow
def test_a_real_client_gets_the_document_gzipped_and_revalidates_it(settings, package, gunicorn_server):
    base = gunicorn_server(workers=1)
    psd = f"{base}/api/v1/packages/{PID}/psd"
    first = requests.get(psd, timeout=30)  # requests asks for gzip and decodes it
    assert first.headers["Content-Encoding"] == "gzip" and first.headers["ETag"].startswith('W/"')
    identity = requests.get(psd, headers={"Accept-Encoding": "identity"}, timeout=30)
    assert first.json() == identity.json() and first.content == identity.content
    again = requests.get(psd, headers={"If-None-Match": first.headers["ETag"]}, timeout=30)
    assert again.status_code == 304
