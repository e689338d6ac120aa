"""Two API nodes on one catalog answer alike: nothing of importance is kept per process.

Two real gunicorn servers (two workers each) on two ports share one PostgreSQL catalog and one blob store and name
the same public URL (the reverse proxy's). Every endpoint is asked of both, interleaved (A, B, then B, A), and the
answers compare equal: status, body, ETag, Link, Last-Modified, Content-Type, Cache-Control. Then writes through one
node (an alert POSTed to A, an event table published through B, a package record changed in the catalog the way a
reprocessing would) are seen at once by the other, and the answers still compare equal.
"""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import create_engine, update

from alert_support import sample_alert
from event_support import files_of, sky_table
from hydroserve.acoustics import catalog
from support import AUTH, url

PUBLIC_URL = "https://hydroserve.example.org"
HEADERS = ("ETag", "Link", "Location", "Last-Modified", "Content-Type", "Cache-Control", "Content-Length", "Content-Range")
CATALOG_GAUGES = ("hydroserve_packages{", "hydroserve_skipped_windows{", "hydroserve_outbox_rows{",
                  "hydroserve_frame_timestamp_deviation_ns", "hydroserve_damaged_")
"""The deterministic lines of /metrics (request counters are each node's own, lags move with the clock)."""


@pytest.fixture
def database_url(postgres_url):
    """The shared catalog: PostgreSQL only (many nodes on one SQLite file is not a deployment)."""
    return postgres_url


def _comparable(path: str, response: requests.Response) -> tuple:
    body, headers = response.content, HEADERS
    if path.startswith("/oai"):
        body = re.sub(rb"<responseDate>[^<]*</responseDate>", b"", body)
    if path == "/metrics":
        body = b"\n".join(line for line in body.splitlines() if line.decode().startswith(CATALOG_GAUGES))
    if body is not response.content:
        headers = tuple(name for name in HEADERS if name != "Content-Length")
    return response.status_code, body, {name: response.headers.get(name) for name in headers}


def _first_difference(a: bytes, b: bytes) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"bodies differ at byte {at}: {a[max(0, at - 80):at + 80]!r}\n{' ' * 26}{b[max(0, at - 80):at + 80]!r}"


def assert_alike(nodes: list[str], paths: list[str], **request_headers) -> dict[str, requests.Response]:
    """Ask both nodes for every path (A then B, then B then A for the next path) and compare; the answers of A."""
    answers = {}
    for i, path in enumerate(paths):
        order = nodes if i % 2 == 0 else nodes[::-1]
        got = {node: requests.get(node + path, headers=request_headers, timeout=60, allow_redirects=False) for node in order}
        first, second = (_comparable(path, got[node]) for node in nodes)
        assert first[0] < 500, (path, got[nodes[0]].text[:500])
        assert first == second, f"{path}: the nodes differ\n{first[0]} {first[2]}\n{second[0]} {second[2]}\n" + \
            _first_difference(first[1], second[1])
        answers[path] = got[nodes[0]]
    return answers


def _paths(app, package_ids: list[str], sensor: str, alert_id: str | None, table_id: str | None) -> list[str]:
    pid = package_ids[0]
    paths = [
        url(app, "index.Index"), url(app, "acoustic.Sensors"), url(app, "acoustic.Sensor", sensor=sensor),
        url(app, "acoustic.Packages", limit=2), url(app, "acoustic.Packages", limit=2, order="oldest", sensor=sensor),
        url(app, "pictures.BandLevelsPng", sensor=sensor),
        url(app, "registry.Collections"), url(app, "registry.Collection", kid="acoustic20_01"),
        url(app, "registry.Stream", kid="acoustic20_01_psd", limit=1), url(app, "registry.Resources", limit=3),
        url(app, "oai.Oai", verb="Identify"), url(app, "oai.Oai", verb="ListSets"),
        url(app, "oai.Oai", verb="ListRecords", metadataPrefix="oai_dc"),
        url(app, "oai.Oai", verb="ListIdentifiers", metadataPrefix="oai_dc", set="acoustic20_01_wav"),
        url(app, "alerts.Alerts"), url(app, "events.Tables"),
        url(app, "pages.index"), url(app, "pages.sensor", sensor=sensor), url(app, "metrics.metrics"),
        url(app, "api-docs.openapi_json"), "/healthz", "/readyz",
    ]
    for package_id in package_ids:
        paths += [url(app, "acoustic.Package", package_id=package_id), url(app, "acoustic.Info", package_id=package_id),
                  url(app, "pages.package", package_id=package_id)]
    for endpoint in ("acoustic.Raw", "acoustic.Wav", "acoustic.Mp3", "acoustic.Psd", "pictures.PsdPng",
                     "pictures.SpectrogramPng"):
        paths.append(url(app, endpoint, package_id=pid))
    paths.append(url(app, "acoustic.Psd", package_id=pid, fmin=100, fmax=2000))
    if alert_id is not None:
        paths += [url(app, endpoint, alert_id=alert_id) for endpoint in
                  ("alerts.Alert", "alerts.AlertJson", "alerts.Latest", "alerts.Revisions")]
    if table_id is not None:
        paths += [url(app, endpoint, table_id=table_id) for endpoint in
                  ("events.Table", "events.Csv", "events.Hdf5", "events.Meta", "events.Votable")]
        paths.append(url(app, "events.Scs", table_id=table_id, RA=10, DEC=20, SR=5))
    return paths


def _follow(nodes: list[str], first_path: str, key: str) -> list[str]:
    """Follow a list's ``next`` links page by page on alternating nodes; the items' ``key`` in order."""
    seen, path, i = [], first_path, 0
    while path:
        answers = assert_alike(nodes[i % 2:] + nodes[:i % 2], [path])
        document = answers[path].json()
        seen += [item[key] for item in document.get("items") or document.get("members")]
        path = document["next"] and document["next"].removeprefix(PUBLIC_URL)
        i += 1
    return seen


def test_two_nodes_answer_alike_before_and_after_writes(app, settings, archived, synthetic_files, gunicorn_server):
    archived(synthetic_files(n_frames=24))
    nodes = [gunicorn_server(workers=2, public_url=PUBLIC_URL) for _ in range(2)]
    assert nodes[0] != nodes[1]
    listing = requests.get(nodes[0] + url(app, "acoustic.Packages", limit=100), timeout=30).json()
    package_ids = [item["package_id"] for item in listing["items"]]
    assert len(package_ids) >= 3
    sensor = listing["items"][0]["sensor"]

    before = assert_alike(nodes, _paths(app, package_ids, sensor, None, None))
    assert before[url(app, "acoustic.Psd", package_id=package_ids[0])].headers["ETag"]
    assert _follow(nodes, url(app, "acoustic.Packages", limit=1), "package_id") == package_ids
    resources = _follow(nodes, url(app, "registry.Resources", limit=2), "kid")
    assert len(resources) == 5 * len(package_ids) + 1 == len(set(resources))  # raw, wav, flac, mp3, psd; the day's HMD

    # writes through one node, read through both
    posted = requests.post(nodes[0] + url(app, "alerts.Post"), json=sample_alert(), headers=AUTH, timeout=30)
    assert posted.status_code == 201, posted.text
    alert_id = posted.json()["id"]
    table = sky_table(n_events=500)
    csv_bytes, meta_bytes = files_of(table)
    published = requests.post(nodes[1] + url(app, "events.Tables"), headers=AUTH, timeout=60,
                              files={"table": ("sky_test.csv", csv_bytes, "text/csv"),
                                     "metadata": ("sky_test.meta.json", meta_bytes, "application/json")})
    assert published.status_code == 201, published.text
    table_id = published.json()["id"]
    # a package's record changes in the catalog (as reprocessing changes it): no node may keep the old one
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(update(catalog.packages).where(catalog.packages.c.package_id == package_ids[0])
                     .values(software_version="9.9.9-reprocessed"))
    engine.dispose()

    after = assert_alike(nodes, _paths(app, package_ids, sensor, alert_id, table_id))
    assert alert_id in after[url(app, "alerts.Alerts")].text
    assert table_id in after[url(app, "events.Tables")].text
    assert after[url(app, "acoustic.Info", package_id=package_ids[0])].text.count("9.9.9-reprocessed") >= 1
    later = _follow(nodes, url(app, "registry.Resources", limit=2), "kid")
    assert later[:len(resources)] == resources and len(later) > len(resources)
    assert any(alert_id in kid for kid in later[len(resources):])
    psd = url(app, "acoustic.Psd", package_id=package_ids[0])
    etag_of_a = after[psd].headers["ETag"]
    assert requests.get(nodes[1] + psd, headers={"If-None-Match": etag_of_a}, timeout=30).status_code == 304
    other = url(app, "acoustic.Psd", package_id=package_ids[1])
    assert requests.get(nodes[1] + other, headers={"If-None-Match": etag_of_a}, timeout=30).status_code == 200
