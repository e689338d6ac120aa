"""``make bench-catalog``: the catalog's hot queries on a PostgreSQL catalog of detector size.

A database of its own (created here, dropped at the end unless ``--keep``) is
made by ``hydroserve db init`` and filled with ``--packages`` packages of
``--sensors`` sensors (300 s windows, continuous), each with its four products
(raw, wav, mp3, psd), its four resources and their ODC outbox rows (delivered,
but for the newest ``--pending`` packages'). The rows are generated inside the
server (``INSERT … SELECT generate_series``, the server-side form of a COPY
load: nothing crosses the wire) in chunks, with realistic sizes: the same
settings, provenance and product details a real package carries, ids and times
in the real formats. Then ``VACUUM ANALYZE``, and the p50/p99 of:

* a sensor's packages in a one-day range (``/api/v1/packages?sensor=&start=&end=``, 100 per page);
* one since-feed page (``/api/v1/resources?since=``, 100 records);
* one OAI-PMH ListRecords page (100 records), cycling: no argument, ``set``,
  ``from``/``until``, ``set`` with ``from``/``until``, a resumption token;
* the outbox claim of the sync worker (the due rows, then one claimed, rolled back);
* ``/metrics``.

The HTTP requests go through the app in this process (Flask's test client):
the figures are the application's and the database's, without a network.

    HYDROSERVE_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        python -m tests.benchmarks.bench_catalog --packages 10000000

The URL names the server and a database to connect to while creating and
dropping the benchmark's own database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.acoustics import catalog
from hydroserve.api.web.metrics import CatalogCollector
from hydroserve.odc_sync import oai, outbox, registry

from .common import machine

URL_VARIABLE = "HYDROSERVE_BENCH_DATABASE_URL"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TICKS_PER_SECOND = 62_500_000
INTERVAL_S = 300
FIRST_S = 1_735_689_600  # 2025-01-01T00:00:00Z, the first window
KINDS = {"raw": ("application/km3net-acoustic", 234_442_480), "wav": ("audio/wav", 234_375_080),
         "mp3": ("audio/mpeg", 1_801_404), "psd": ("application/json", 118_311)}
SETTINGS = {"snippet_duration_s": "300", "snippet_interval_s": 300, "min_coverage": 0.5, "timing_tolerance_ticks": 4,
            "adf_frame_length": 123260, "mp3_bit_rate_kbps": 128, "mp3_quality": 2, "mp3_reference_db": 120.0,
            "mp3_limiter_threshold": 0.891, "psd_nfft": 8192, "psd_overlap": 0.5, "psd_window": "hann",
            "psd_quantiles": ["median", "p75", "p95"], "flac": False}
DETAILS = {"raw": {"frames": 476, "frame_length": 123260, "input_timestamp_deviation": {
               "max_abs_ns": 16, "sum_abs_ns": 3808, "histogram_abs_ns": {
                   "le": [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, "+Inf"],
                   "counts": [238, 238, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}}},
           "wav": {"subtype": "FLOAT", "header_rate_hz": 195312, "data_offset": 80},
           "mp3": {"rate_hz": 48000, "bit_rate_kbps": 128, "gain_db": -23.5, "limited_fraction": 0.0012,
                   "encoder_delay_samples": 1105, "padding_samples": 1523, "lame_tag": True},
           "psd": {"nfft": 8192, "segments": 14304, "unit": "dB re 1 uPa^2/Hz", "window": "hann", "overlap": 0.5}}
CHUNK_WINDOWS = 20
"""Windows (all sensors' packages of one 300 s boundary) generated per INSERT."""


def _database(admin_url: str, name: str, create: bool) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def fill(engine, settings, n_sensors: int, n_windows: int, n_pending_windows: int) -> None:
    """Sensors, then ``n_windows`` windows of every sensor: packages, products, resources, outbox rows."""
    collection, public = settings.collection, settings.public_url
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO sensors (sensor_id, dom_id, channel, next_boundary_tick, n_packages) "
            "SELECT 'DOM_' || (808900000 + j) || '_CH1', 808900000 + j, 1, :next, :n FROM generate_series(0, CAST(:s AS bigint) - 1) j"),
            {"s": n_sensors, "n": n_windows, "next": (FIRST_S + n_windows * INTERVAL_S) * TICKS_PER_SECOND})
    parameters = {"t": TICKS_PER_SECOND, "interval": INTERVAL_S, "first": FIRST_S, "settings": json.dumps(SETTINGS),
                  "collection": collection, "public": public, "window": n_windows - n_pending_windows,
                  "odc": outbox.ODC_DESTINATION}
    started = time.perf_counter()
    for k0 in range(0, n_windows, CHUNK_WINDOWS):
        k1 = min(n_windows, k0 + CHUNK_WINDOWS)
        with engine.begin() as conn:
            _fill_chunk(conn, {**parameters, "k0": k0, "k1": k1 - 1})
        done = k1 * n_sensors
        rate = done / (time.perf_counter() - started)
        print(f"\r  {done:,} packages ({rate:,.0f}/s)", end="", flush=True)
    print()


def _fill_chunk(conn, parameters: dict) -> None:
    # one package per (window k, sensor j); registered at the window's end plus j ms (one registry stamp each)
    conn.execute(text("""
        CREATE TEMPORARY TABLE chunk ON COMMIT DROP AS
        SELECT s.sensor_id, s.sensor_id || '_' || (:first + k * :interval) AS package_id, k,
               (:first + k * :interval)::bigint * :t AS boundary_tick,
               to_timestamp(:first + (k + 1) * :interval + 20) + j * interval '1 millisecond' AS stamp
        FROM generate_series(CAST(:k0 AS bigint), CAST(:k1 AS bigint)) k
        CROSS JOIN LATERAL (SELECT sensor_id, row_number() OVER (ORDER BY sensor_id) AS j FROM sensors) s
    """), parameters)
    conn.execute(text("""
        INSERT INTO packages (package_id, sensor_id, boundary_tick, start_tick, end_tick, n_samples, n_expected, runs,
                              window_size, samples_key, sources, settings, software_version, created_at)
        SELECT package_id, sensor_id, boundary_tick, boundary_tick + 7360, boundary_tick + 300 * CAST(:t AS bigint) - 320 + 7360,
               58593750, 58593750, json_build_array(json_build_array(boundary_tick + 7360, 0, 58593750)), 131072,
               'packages/' || sensor_id || '/' || to_char(stamp, 'YYYY/MM/DD') || '/' || package_id || '/samples.f32',
               json_build_array(sensor_id || '_' || (:first + k * :interval - 17) || '.bin',
                                sensor_id || '_' || (:first + k * :interval + 283) || '.bin'),
               CAST(:settings AS json), '0.9.0', stamp
        FROM chunk
    """), parameters)
    for kind, (media_type, size) in KINDS.items():
        blob = "NULL" if kind in ("raw", "wav") else f"'packages/' || sensor_id || '/' || package_id || '/{kind}'"
        conn.execute(text(f"""
            INSERT INTO products (package_id, kind, media_type, size_bytes, sha256, blob_key, details)
            SELECT package_id, CAST(:kind AS text), CAST(:media_type AS text), :size, md5(package_id || CAST(:kind AS text)) || md5(CAST(:kind AS text) || package_id), {blob},
                   CAST(:details AS json)
            FROM chunk
        """), {"kind": kind, "media_type": media_type, "size": size, "details": json.dumps(DETAILS[kind])})
        conn.execute(text("""
            INSERT INTO resources (kid, stream_kid, ktype, title, description, creator, publisher, license, media_type,
                                   access_url, size_bytes, sha256, coverage_start, coverage_end, subject_id, info_url,
                                   provenance, software_version, extra, created, modified)
            SELECT CAST(:collection AS text) || '_' || CAST(:kind AS text) || '_' || package_id, CAST(:collection AS text) || '_' || CAST(:kind AS text), 'acoustics.' || CAST(:kind AS text),
                   'Acoustic data (' || CAST(:kind AS text) || '): ' || package_id,
                   CAST(:kind AS text) || ' product of acoustic data package ' || package_id || ': sensor ' || sensor_id
                       || ', 300 s from ' || to_char(to_timestamp(boundary_tick / :t), 'YYYY-MM-DD"T"HH24:MI:SS+00:00')
                       || ', coverage 1.0000',
                   'KM3NeT Collaboration', 'KM3NeT Collaboration', 'CC-BY-4.0', CAST(:media_type AS text),
                   CAST(:public AS text) || '/api/v1/packages/' || package_id || '/' || CAST(:kind AS text), :size,
                   md5(package_id || CAST(:kind AS text)) || md5(CAST(:kind AS text) || package_id),
                   to_timestamp(boundary_tick / :t), to_timestamp(boundary_tick / :t + 300),
                   package_id, CAST(:public AS text) || '/api/v1/packages/' || package_id || '/info',
                   json_build_array(
                       json_build_object('id', 'hydroserve:cut', 'description',
                                         'fixed-interval sample-exact cutting of the ADF stream',
                                         'sources', json_build_array(package_id || '.bin'), 'parameters', CAST(:settings AS json)),
                       json_build_object('id', 'hydroserve:' || CAST(:kind AS text), 'description', CAST(:kind AS text) || ' product',
                                         'parameters', CAST(:details AS json))),
                   '0.9.0',
                   json_build_object('package_id', package_id, 'sensor', sensor_id, 'coverage_fraction', 1.0, 'n_gaps', 0),
                   stamp, stamp
            FROM chunk
        """), {**parameters, "kind": kind, "media_type": media_type, "size": size, "details": json.dumps(DETAILS[kind])})
        conn.execute(text("""
            INSERT INTO outbox (destination, resource_kid, state, attempts, next_attempt_at, last_status, created,
                                delivered_at)
            SELECT CAST(:odc AS text), CAST(:collection AS text) || '_' || CAST(:kind AS text) || '_' || package_id,
                   CASE WHEN k < :window THEN 'delivered' ELSE 'pending' END, CASE WHEN k < :window THEN 1 ELSE 0 END,
                   stamp, CASE WHEN k < :window THEN '201 Created' END, stamp,
                   CASE WHEN k < :window THEN stamp + interval '2 seconds' END
            FROM chunk
        """), {**parameters, "kind": kind})


def _percentiles(samples_s: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_s, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def _timed(label: str, n: int, request) -> tuple[str, float, float]:
    request(0)  # warm: connection pool, first-use imports
    durations = []
    for i in range(n):
        started = time.perf_counter()
        request(i)
        durations.append(time.perf_counter() - started)
    p50, p99 = _percentiles(durations)
    return label, p50, p99


def _get(client, path: str, **query) -> bytes:
    response = client.get(path, query_string=query)
    if response.status_code != 200:
        raise RuntimeError(f"{path} {query}: {response.status_code} {response.get_data(as_text=True)[:300]}")
    return response.get_data()


def measure(app, engine, n_sensors: int, n_windows: int, n: int, rng: random.Random) -> list[tuple[str, float, float]]:
    """p50/p99 of each query through the app (HTTP, in this process) and of its catalog part alone."""
    settings = app.extensions["hydroserve"].settings
    client = app.test_client()
    first, last = datetime.fromtimestamp(FIRST_S, UTC), datetime.fromtimestamp(FIRST_S + n_windows * INTERVAL_S, UTC)
    span_s = (last - first).total_seconds()

    def sensor() -> str:
        return f"DOM_{808900000 + rng.randrange(n_sensors)}_CH1"

    def moment() -> datetime:
        return first + timedelta(seconds=rng.uniform(0, span_s))

    def packages(_):
        start = moment().replace(microsecond=0)
        _get(client, "/api/v1/packages", sensor=sensor(), start=start.isoformat(),
             end=(start + timedelta(days=1)).isoformat(), limit=100)

    def packages_query(_):
        start_tick = int(moment().timestamp()) * TICKS_PER_SECOND
        with engine.connect() as conn:
            catalog.list_packages(conn, sensor=sensor(), start_tick=start_tick, end_tick=start_tick + 86400 * TICKS_PER_SECOND,
                                  limit=101)

    def feed(_):
        _get(client, "/api/v1/resources", since=moment().isoformat(), limit=100)

    def feed_query(_):
        with engine.connect() as conn:
            registry.feed(conn, since=moment(), limit=101)

    streams = [f"{settings.collection}_{kind}" for kind in KINDS]
    token = {}

    def oai_page(i):
        day = moment().date()
        variants = ({}, {"set": rng.choice(streams)}, {"from": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()},
                    {"set": rng.choice(streams), "from": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()})
        if i % 5 == 4 and token.get("next"):
            body = _get(client, "/oai", verb="ListRecords", resumptionToken=token["next"])
        else:
            body = _get(client, "/oai", verb="ListRecords", metadataPrefix="oai_dc", **variants[i % 5 % 4])
        text_body = body.decode()
        start = text_body.find('<resumptionToken')
        if start >= 0:
            token["next"] = text_body[text_body.index(">", start) + 1:text_body.index("</resumptionToken>", start)]

    def claim(_):
        now = datetime.now(UTC)
        with engine.connect() as conn:
            items = outbox.due(conn, outbox.ODC_DESTINATION, now, 50)
            if not items or not outbox.claim(conn, items[0].id, now, now + timedelta(seconds=35)):
                raise RuntimeError("no due outbox row to claim")
            conn.rollback()

    def oai_query(i):
        day = moment().replace(hour=0, minute=0, second=0, microsecond=0)
        window = [{}, {"stream_kids": [rng.choice(streams)]}, {"since": day, "until": day + timedelta(days=1)},
                  {"stream_kids": [rng.choice(streams)], "since": day, "until": day + timedelta(days=1)}][i % 4]
        with engine.connect() as conn:
            registry.feed(conn, limit=101, **window)
            registry.count(conn, at_most=oai.COMPLETE_SIZE_LIMIT, **window)

    def metrics(_):
        _get(client, "/metrics")

    def metrics_query(_):
        list(CatalogCollector(engine).collect())

    n_metrics = max(20, n // 10)
    return [
        _timed("a sensor's packages in one day (100 per page): HTTP", n, packages),
        _timed("    the catalog query alone", n, packages_query),
        _timed("one since-feed page (100 resources): HTTP", n, feed),
        _timed("    the catalog query alone", n, feed_query),
        _timed("one OAI-PMH ListRecords page (100 records): HTTP", n, oai_page),
        _timed("    the catalog queries alone (page and bounded count)", n, oai_query),
        _timed("the outbox claim (50 due rows, one claimed)", n, claim),
        _timed(f"/metrics ({n_sensors} sensors): HTTP", n_metrics, metrics),
        _timed("    the catalog gauges alone", n_metrics, metrics_query),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=10_000_000, help="packages in all (rounded up to whole windows)")
    parser.add_argument("--sensors", type=int, default=630, help="sensors (630: ARCA with 33 detection units)")
    parser.add_argument("--pending", type=int, default=2, help="windows whose outbox rows are still pending (the newest)")
    parser.add_argument("--requests", type=int, default=500, help="timed requests per query")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure again on a database kept with --keep (same sizes)")
    args = parser.parse_args()
    admin_url = os.environ.get(URL_VARIABLE, DEFAULT_URL)
    name = args.reuse or f"hydroserve_bench_catalog_{os.getpid()}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    n_windows = -(-args.packages // args.sensors)
    print(f"machine: {machine()}\ncatalog: {name} on {make_url(admin_url).host}; "
          f"{n_windows * args.sensors:,} packages = {args.sensors} sensors x {n_windows:,} windows of {INTERVAL_S} s\n", flush=True)
    if not args.reuse:
        _database(admin_url, name, create=True)
    try:
        with tempfile.TemporaryDirectory(prefix="hydroserve-bench-catalog-") as tmp:
            settings = load_settings(env={}, data_dir=tmp, database_url=url, public_url="https://hydroserve.example.org")
            engine = wiring.init_catalog(settings)
            started = time.perf_counter()
            if not args.reuse:
                fill(engine, settings, args.sensors, n_windows, args.pending)
            filled = time.perf_counter() - started
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if not args.reuse:
                    conn.execute(text("VACUUM ANALYZE"))
                size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
                counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                          for table in ("packages", "products", "resources", "outbox")}
            print(f"filled in {filled:.0f} s, vacuumed and analysed in {time.perf_counter() - started - filled:.0f} s; "
                  f"database {size}; rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()) + "\n", flush=True)
            results = measure(create_app(settings), engine, args.sensors, n_windows, args.requests, random.Random(15))
            engine.dispose()
        print("| query | p50 (ms) | p99 (ms) |\n|---|---:|---:|")
        for label, p50, p99 in results:
            print(f"| {label} | {p50:.1f} | {p99:.1f} |")
    finally:
        if args.keep or args.reuse:
            print(f"kept database {name}")
        else:
            _database(admin_url, name, create=False)


if __name__ == "__main__":
    main()
