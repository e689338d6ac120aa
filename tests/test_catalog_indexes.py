"""The queries on the tables that grow without end use their indexes on PostgreSQL (checked with EXPLAIN).

A fresh PostgreSQL catalog is filled (by the catalog benchmark's generator) with enough packages, products,
resources and outbox rows that a sequential scan would cost the planner far more than the index, and
``ANALYZE``d. Each query is issued by the real code (a sensor's packages in a time range, a since-feed page, an
OAI-PMH ListRecords page with and without ``set`` and ``from``/``until``, the outbox claim, the catalog gauges of
``/metrics``); every statement it sends is captured and explained with the same parameters: no plan may scan
packages, products, resources or the outbox sequentially, and the main query must use the index named (the gauges
of ``/metrics`` read no package at all: the sensors' rows keep what they show).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from benchmarks import bench_catalog
from hydroserve.acoustics import catalog
from hydroserve.api import wiring
from hydroserve.api.config import load_settings
from hydroserve.api.web.metrics import CatalogCollector
from hydroserve.odc_sync import oai, outbox, registry
from support import sensor_state, sensor_state_of_packages

GROWING = {"packages", "products", "resources", "outbox"}
N_SENSORS, N_WINDOWS, N_PENDING_WINDOWS = 20, 400, 2
SENSOR = "DOM_808900007_CH1"
DAY_TICKS = 86400 * bench_catalog.TICKS_PER_SECOND
FIRST = datetime.fromtimestamp(bench_catalog.FIRST_S, UTC)


@pytest.fixture(scope="module")
def filled(postgres):
    """An engine on a catalog of 8,000 packages (20 sensors x 400 windows of 300 s) with their products,
    resources and outbox rows (the newest 2 windows' pending), copies of a real package's, analysed, and the template
    rows; made once for the module (its tests only read, or roll back)."""
    database_url = postgres.create_database()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, data_dir=tmp, database_url=database_url, public_url="https://h.example.org")
        engine = wiring.init_catalog(settings)
        template = bench_catalog.template(Path(tmp) / "template")
        bench_catalog.fill(engine, template, N_SENSORS, N_WINDOWS, N_PENDING_WINDOWS)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        yield engine, template
        engine.dispose()
    postgres.drop_database(database_url)


@contextmanager
def captured(engine):
    """The (statement, parameters) of every SELECT and UPDATE sent to ``engine`` inside the block."""
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE")):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def plans(engine, statements) -> list[list[dict]]:
    """The plan nodes of each statement (EXPLAIN, not run), with sequential scans priced out of the planner's choice.

    At this test's size (8,000 packages) a sequential scan of a table is a legitimate choice for a query that reads a
    fifth of it, and servers differ in which one they pick (a throwaway server did, the machine's did not); at detector
    size only an index keeps such a query short. With ``enable_seqscan`` off the planner still scans sequentially
    where no index serves the query, so what is checked is that one does.
    """
    result = []
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explained = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
            document = explained if isinstance(explained, list) else json.loads(explained)
            result.append(list(_nodes(document[0]["Plan"])))
    return result


def check(engine, statements, *main_indexes: str) -> None:
    """No statement scans a growing table sequentially; the first one reads through one of ``main_indexes``."""
    assert statements, "the code sent no query"
    explained = plans(engine, statements)
    for (statement, _), nodes in zip(statements, explained):
        sequential = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan" and n["Relation Name"] in GROWING]
        assert not sequential, f"sequential scan of {sequential} in:\n{statement}\n{nodes}"
    used = {n.get("Index Name") for n in explained[0]}
    assert used & set(main_indexes), f"none of {main_indexes} used by:\n{statements[0][0]}\n{explained[0]}"


def test_a_sensors_packages_in_a_time_range_read_the_sensor_time_index(filled):
    engine, template = filled
    start_tick = bench_catalog.FIRST_S * bench_catalog.TICKS_PER_SECOND + 10 * 300 * bench_catalog.TICKS_PER_SECOND
    for newest_first in (True, False):
        bounds = dict(sensor=SENSOR, start_tick=start_tick, end_tick=start_tick + DAY_TICKS, newest_first=newest_first)
        with engine.connect() as conn, captured(engine) as first_page:
            page = catalog.list_packages(conn, limit=101, **bounds)
        assert len(page) == 101 and {str(r.sensor) for r in page} == {SENSOR}
        assert all(set(r.products) == {p["kind"] for p in template["products"]} for r in page)
        check(engine, first_page, "packages_by_sensor_time")
        with engine.connect() as conn, captured(engine) as next_page:
            after = catalog.list_packages(conn, limit=101, after=(page[-1].boundary_tick, page[-1].package_id), **bounds)
        ticks = [r.boundary_tick for r in page + after]
        assert len(after) == 101 and ticks == sorted(ticks, reverse=newest_first) and len(set(ticks)) == 202
        check(engine, next_page, "packages_by_sensor_time")


def test_a_page_of_package_summaries_reads_its_products_from_an_index_alone(filled):
    engine, template = filled
    start_tick = bench_catalog.FIRST_S * bench_catalog.TICKS_PER_SECOND + 10 * 300 * bench_catalog.TICKS_PER_SECOND
    with engine.connect() as conn, captured(engine) as statements:
        page = catalog.list_package_summaries(conn, sensor=SENSOR, start_tick=start_tick, end_tick=start_tick + DAY_TICKS,
                                              limit=101)
    assert len(page) == 101 and {str(r.sensor) for r in page} == {SENSOR}
    for r in page:  # the template's products, but for the checksums, which are the package's own (bench_catalog._checksum)
        shown = {p["kind"]: (p["media_type"], p["size_bytes"], hashlib.sha256(f"{r.package_id} {p['kind']}".encode()).hexdigest())
                 for p in template["products"]}
        assert {kind: (p.media_type, p.size_bytes, p.sha256) for kind, p in r.products.items()} == shown
    assert {r.window_end_tick - r.boundary_tick for r in page} == {300 * bench_catalog.TICKS_PER_SECOND}
    check(engine, statements, "packages_by_sensor_time")
    products_plan = plans(engine, [s for s in statements if "FROM products" in s[0]])[0]
    assert any(n["Node Type"] == "Index Only Scan" and n["Index Name"] == "products_summary" for n in products_plan), products_plan


def test_one_since_feed_page_reads_the_feed_index(filled):
    engine, _ = filled
    since = FIRST + timedelta(days=1)
    with engine.connect() as conn, captured(engine) as statements:
        page = registry.feed(conn, since=since, limit=101)
        following = registry.feed(conn, since=since, after=(page[-1].modified, page[-1].kid), limit=101)
    assert len(page) == len(following) == 101 and page[-1].modified <= following[0].modified
    assert all(r.modified >= since for r in page)
    check(engine, statements, "resources_feed")
    check(engine, statements[1:], "resources_feed")


PACKAGE_STREAMS = 5
"""Streams with a resource per package (raw, wav, flac, mp3, psd); the sixth, hmd, has one per sensor-day."""


def _registered(since_s: float = 0, until_s: float = float("inf"), one_package_stream: bool = False) -> int:
    """Resources the generator registered in [since_s, until_s) after FIRST (of every stream, or of one with a
    resource per package): window k's at (k + 1) * 300 + 20 s (plus a millisecond per sensor), a sensor-day's HMD
    resource at its last window's time."""
    def inside(k: int) -> bool:
        return since_s <= (k + 1) * 300 + 20 < until_s

    windows = sum(1 for k in range(N_WINDOWS) if inside(k))
    if one_package_stream:
        return windows * N_SENSORS
    last_of_days = {min(N_WINDOWS, 288 * (k // 288 + 1)) - 1 for k in range(N_WINDOWS)}
    return windows * N_SENSORS * PACKAGE_STREAMS + sum(1 for k in last_of_days if inside(k)) * N_SENSORS


DAY_2 = 86400
OAI_HARVESTS = [  # arguments, records in the whole list
    ({}, _registered()),
    ({"set": "acoustic20_01_mp3"}, _registered(one_package_stream=True)),
    ({"from": "2025-01-02", "until": "2025-01-02"}, _registered(DAY_2, 2 * DAY_2)),
    ({"set": "acoustic20_01_psd", "from": "2025-01-02T06:00:00Z", "until": "2025-01-02T17:59:59Z"},
     _registered(DAY_2 + 6 * 3600, DAY_2 + 18 * 3600, one_package_stream=True)),
]
"""A set holds a quarter of the records: the planner may read it through the feed index, skipping the other
streams' records, or through the stream's."""


def _listing_first(statements):
    """The page's query first, then the others (the set lookup, the bounded count)."""
    page = [(s, p) for s, p in statements if "ORDER BY resources.modified" in s]
    return page + [(s, p) for s, p in statements if "ORDER BY resources.modified" not in s]


def test_one_oai_list_records_page_reads_an_index(filled):
    engine, _ = filled
    repository = oai.Repository("h.example.org", "https://h.example.org/oai", "a@h.example.org", 100, lambda kid: kid)
    for arguments, n_records in OAI_HARVESTS:
        indexes = ("resources_feed", "resources_by_stream") if "set" in arguments else ("resources_feed",)
        with captured(engine) as statements:
            document = oai.answer(engine, repository, {"verb": "ListRecords", "metadataPrefix": "oai_dc", **arguments},
                                  now=datetime.now(UTC))
        assert document.count(b"<record>") == 100 and n_records > 200
        size = f'completeListSize="{n_records}"'.encode() if n_records <= oai.COMPLETE_SIZE_LIMIT else b""
        assert (size in document) and (b"completeListSize" in document) == bool(size), document[-400:]
        check(engine, _listing_first(statements), *indexes)
        token = document.split(b"<resumptionToken")[1].split(b">")[1].split(b"<")[0].decode()
        with captured(engine) as next_statements:
            following = oai.answer(engine, repository, {"verb": "ListRecords", "resumptionToken": token}, now=datetime.now(UTC))
        assert following.count(b"<record>") == 100 and b'cursor="100"' in following
        check(engine, _listing_first(next_statements), *indexes)


def test_the_outbox_claim_reads_the_due_index(filled):
    engine, _ = filled
    now = datetime.now(UTC)
    with engine.connect() as conn, captured(engine) as statements:
        items = outbox.due(conn, outbox.ODC_DESTINATION, now, 50)
        assert outbox.claim(conn, items[0].id, now, now + timedelta(seconds=30))
        conn.rollback()
    assert len(items) == 50 and len({item.id for item in items}) == 50
    check(engine, statements, "outbox_due")


def test_the_oldest_pending_outbox_row_is_one_index_lookup(filled):
    engine, _ = filled
    with engine.connect() as conn, captured(engine) as statements:
        oldest = outbox.oldest_pending(conn, [outbox.ODC_DESTINATION, "vtp:nowhere.example.org:8099"])
    # the first pending window's packages were registered at its end plus 20 s, the first sensor's 1 ms later
    first_pending_end_s = bench_catalog.FIRST_S + (N_WINDOWS - N_PENDING_WINDOWS + 1) * 300
    assert oldest == {outbox.ODC_DESTINATION: datetime.fromtimestamp(first_pending_end_s + 20.001, UTC)}
    assert len(statements) == 2
    check(engine, statements, "outbox_pending_by_created")
    check(engine, statements[1:], "outbox_pending_by_created")


def test_the_catalog_gauges_of_metrics_read_no_growing_table_whole(filled):
    engine, template = filled
    with captured(engine) as statements:
        families = {family.name: family for family in CatalogCollector(engine).collect()}
    packages = {sample.labels["sensor"]: sample.value for sample in families["hydroserve_packages"].samples}
    assert len(packages) == N_SENSORS and set(packages.values()) == {N_WINDOWS}
    pending = {tuple(s.labels.values()): s.value for s in families["hydroserve_outbox_rows"].samples}
    # each package's resources of the newest windows, and each sensor's HMD day they end in
    assert pending == {("odc", "pending"): N_SENSORS * (N_PENDING_WINDOWS * len(template["outbox"]) + 1)}
    # every sensor's newest package (a copy of the template's) gives its frame time-stamp deviations
    deviation = template["products"][[p["kind"] for p in template["products"]].index("raw")]["details"]["input_timestamp_deviation"]
    largest = {s.labels["sensor"]: s.value for s in families["hydroserve_frame_timestamp_deviation_max_ns"].samples}
    assert largest == {sensor: deviation["max_abs_ns"] for sensor in packages}
    counted = [s.value for s in families["hydroserve_frame_timestamp_deviation_ns"].samples if s.name.endswith("_gcount")]
    assert counted == [N_SENSORS * sum(deviation["histogram_abs_ns"]["counts"])]  # one histogram: every sensor's frames
    # the sensors' rows say what their packages hold (as the generator left them: what the packages say), the
    # deviations of their newest packages included: the scrape reads neither packages nor products
    with engine.connect() as conn:
        assert sensor_state(conn) == sensor_state_of_packages(conn)
    read = {(n["Relation Name"], n.get("Index Name")) for nodes in plans(engine, statements) for n in nodes
            if n.get("Relation Name") in ("packages", "products")}
    assert read <= {("packages", "packages_pkey")}, read  # a damaged blob's package looked up by id, no more
