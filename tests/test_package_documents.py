"""The package documents of the API (``/api/v1/packages`` pages and ``/api/v1/packages/<id>``) checked from the
outside: every page item is the package's own document, every document says what the catalog's rows say (read with
plain SQL, the times, gaps and URLs worked out here by hand), the documents are what their OpenAPI schemas give, and
every product link serves the bytes the document describes (410 once retention deleted them)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from urllib.parse import urlsplit

import pytest
from sqlalchemy import JSON, BigInteger, DateTime, String, text

from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.web.acoustic_schemas import PackagePageSchema, PackageSchema
from hydroserve.codecs.raw import TICKS_PER_SECOND, SensorId
from support import REAL_START_TICK, SENSOR, archive_files, synthetic_adf, tick_text_by_hand, time_text_by_hand

TICKS_PER_SAMPLE = 320  # 16 ns ticks per sample at 195312.5 Hz: 1 s / 195312.5 = 5.12 us
OTHER = SensorId(808956921, 2)
QUERIES = [{}, {"limit": 2}, {"limit": 1, "order": "oldest"}, {"sensor": str(SENSOR), "limit": 2},
           {"sensor": str(OTHER), "order": "oldest"}, {"start": "2020-12-23T19:28:02Z", "end": "2020-12-23T20:28:04Z", "limit": 2}]


@pytest.fixture(scope="module")
def archive(module_settings):
    """Three 2 s packages of SENSOR (the last with a gap: frame 8 dropped) whose MP3s retention deleted, then three of
    OTHER an hour later (frame 2 dropped), on each engine."""
    settings = module_settings
    made = archive_files(settings, synthetic_adf(settings.data_dir.parent / "adf", n_frames=11, drop_frames={8}))
    assert made.packages_made == [f"{SENSOR}_{s}" for s in (1608751680, 1608751682, 1608751684)]
    expiring = dataclasses.replace(settings, retention_days={"mp3": 30})
    engine = wiring.open_existing_catalog(expiring)
    wiring.build_retention(expiring, engine).run(now=datetime.now(UTC) + timedelta(days=100))
    engine.dispose()
    made = archive_files(settings, synthetic_adf(settings.data_dir.parent / "adf-other", OTHER, n_frames=9, frames_per_file=3,
                                                 drop_frames={2}, seed=3, start_tick=REAL_START_TICK + 3600 * TICKS_PER_SECOND))
    assert made.packages_made == [f"{OTHER}_{s}" for s in (1608755280, 1608755282, 1608755284)]
    return settings


@pytest.fixture(scope="module")
def client(archive):
    return create_app(archive).test_client()


@pytest.fixture(scope="module")
def rows(archive):
    """The catalog's package rows (newest first), and the product and expiry rows by package, read with plain SQL."""
    engine = wiring.open_existing_catalog(archive)
    with engine.connect() as conn:
        packages = conn.execute(text(
            "SELECT package_id, sensor_id, boundary_tick, n_expected, runs, settings, created_at FROM packages "
            "ORDER BY boundary_tick DESC, package_id DESC").columns(
            package_id=String, sensor_id=String, boundary_tick=BigInteger, n_expected=BigInteger, runs=JSON, settings=JSON,
            created_at=DateTime(timezone=True))).all()
        products, expired = {}, {}
        for row in conn.execute(text("SELECT package_id, kind, media_type, size_bytes, sha256 FROM products ORDER BY kind")):
            products.setdefault(row.package_id, []).append(row)
        for row in conn.execute(text("SELECT package_id, kind, expired_at, reason FROM expired_products").columns(
                expired_at=DateTime(timezone=True))):
            expired.setdefault(row.package_id, {})[row.kind] = row
    engine.dispose()
    return packages, products, expired


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def pages(client, query: dict) -> list:
    """The items of every page of a listing, following ``next`` (and checking the Link header says the same)."""
    items, response = [], client.get("/api/v1/packages", query_string=query)
    while True:
        assert response.status_code == 200 and response.mimetype == "application/json"
        body = response.get_json()
        items += body["items"]
        if body["next"] is None:
            assert "Link" not in response.headers
            return items
        assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
        response = client.get(path_of(body["next"]))


def listed(packages, query: dict) -> list[str]:
    """The ids a listing with ``query`` holds, from the rows: window start in [start, end), of the sensor, in order."""
    bound = {key: (datetime.fromisoformat(query[key]) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000 // 16
             for key in ("start", "end") if key in query}
    kept = [row.package_id for row in packages if row.sensor_id == query.get("sensor", row.sensor_id)
            and bound.get("start", row.boundary_tick) <= row.boundary_tick < bound.get("end", row.boundary_tick + 1)]
    return kept[::-1] if query.get("order") == "oldest" else kept


@pytest.mark.parametrize("query", QUERIES)
def test_every_listing_page_holds_the_packages_own_documents(client, rows, query):
    items = pages(client, query)
    assert [item["package_id"] for item in items] == listed(rows[0], query) != []
    for item in items:
        assert client.get(path_of(item["links"]["self"])).get_json() == item


def expected_document(row, products: list, expired: dict, public_url: str) -> dict:
    """The document of a package worked out from its rows: times from ticks by hand, gaps where the runs leave time
    of the window uncovered (:func:`check_gaps` checks those the document gives), URLs from the public URL."""
    runs = row.runs
    n_samples = sum(n for _, _, n in runs)
    window_ticks = Fraction(row.settings["snippet_duration_s"]) * TICKS_PER_SECOND
    base = f"{public_url}/api/v1/packages/{row.package_id}"

    def link(product):
        described = {"url": f"{base}/{product.kind}", "media_type": product.media_type, "size_bytes": product.size_bytes,
                     "sha256": product.sha256}
        if product.kind in expired:
            gone = expired[product.kind]
            described["expired"] = {"expired_at": time_text_by_hand(gone.expired_at), "reason": gone.reason}
        return described

    return {
        "package_id": f"{row.sensor_id}_{row.boundary_tick // TICKS_PER_SECOND}",
        "sensor": row.sensor_id,
        "window_start": tick_text_by_hand(row.boundary_tick),
        "start": tick_text_by_hand(runs[0][0]),
        "end": tick_text_by_hand(runs[-1][0] + runs[-1][2] * TICKS_PER_SAMPLE),
        "duration_s": float(window_ticks / TICKS_PER_SECOND),
        "n_samples": n_samples,
        "n_expected": row.n_expected,
        "coverage": n_samples / row.n_expected,
        "created": time_text_by_hand(row.created_at),
        "products": {p.kind: link(p) for p in products},
        "links": {"self": base, "info": f"{base}/info", **{p.kind: f"{base}/{p.kind}" for p in products}},
    }


def check_gaps(gaps: list[dict], row) -> None:
    """The gaps are the window's time the runs leave uncovered: between runs that do not join, before the first run
    when a sample period or more of the window precedes it, after the last run up to the window end; ``at_sample``
    counts the samples before each; its times in text, Unix nanoseconds and seconds agree."""
    runs = [(start, start + n * TICKS_PER_SAMPLE, first, n) for start, first, n in row.runs]
    window_end = row.boundary_tick + int(Fraction(row.settings["snippet_duration_s"]) * TICKS_PER_SECOND)
    expected, cursor, before = [], row.boundary_tick, 0
    for index, (start, end, _, n) in enumerate(runs):
        if start - cursor >= (TICKS_PER_SAMPLE if index == 0 else 1):
            expected.append((cursor, start, before))
        cursor, before = end, before + n
    if window_end > cursor:
        expected.append((cursor, window_end, before))
    assert [(g["start_unix_ns"] // 16, g["end_unix_ns"] // 16, g["at_sample"]) for g in gaps] == expected
    for gap, (start, end, _) in zip(gaps, expected):
        assert (gap["start"], gap["end"]) == (tick_text_by_hand(start), tick_text_by_hand(end))
        assert gap["duration_s"] == (end - start) / TICKS_PER_SECOND and gap["start_unix_ns"] == start * 16


def test_package_documents_say_what_the_catalog_rows_say(archive, client, rows):
    packages, products, expired = rows
    documents = pages(client, {"limit": 1000})
    assert len(documents) == len(packages) == 6
    with_gaps = set()
    for row, document in zip(packages, documents):
        gaps = document.pop("gaps")
        assert document == expected_document(row, products[row.package_id], expired.get(row.package_id, {}), archive.public_url)
        assert list(document["products"]) == sorted(document["products"]) and len(document["products"]) == 6
        check_gaps(gaps, row)
        if gaps:
            with_gaps.add((row.package_id, len(row.runs)))
    # the dropped frames split a package in two runs; OTHER's data end before its last window does
    assert with_gaps == {(f"{SENSOR}_1608751684", 2), (f"{OTHER}_1608755280", 2), (f"{OTHER}_1608755284", 1)}
    assert {package_id: set(kinds) for package_id, kinds in expired.items()} == {
        f"{SENSOR}_{s}": {"mp3"} for s in (1608751680, 1608751682, 1608751684)}


def test_documents_are_what_their_schemas_dump(client):
    """The documents are sent as built: dumping them by the schemas the OpenAPI document shows changes nothing, not even
    the order of their members."""
    for query in QUERIES:
        page = client.get("/api/v1/packages", query_string=query).get_json()
        assert json.dumps(PackagePageSchema().dump(page)) == json.dumps(page)
        for item in page["items"]:
            assert json.dumps(PackageSchema().dump(item)) == json.dumps(item)


def test_product_links_serve_the_bytes_the_documents_describe(client, rows):
    for document in pages(client, {"limit": 1000}):
        for kind, product in document["products"].items():
            response = client.get(path_of(product["url"]))
            assert response.headers.get("Content-Encoding") is None
            if "expired" in product:
                assert response.status_code == 410 and response.mimetype == "application/problem+json"
                continue
            assert response.status_code == 200 and response.mimetype == product["media_type"]
            assert len(response.data) == product["size_bytes"]
            assert hashlib.sha256(response.data).hexdigest() == product["sha256"]
