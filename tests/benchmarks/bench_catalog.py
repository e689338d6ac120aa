"""``make bench-catalog``: the catalog's hot queries on a PostgreSQL catalog of detector size.

A database of its own (created here, dropped at the end unless ``--keep``) is
made by ``hydroserve db init`` and filled with ``--packages`` packages of
``--sensors`` sensors (300 s windows, continuous). The rows are today's real
ones: one 300 s package of synthetic 24-bit counts is archived first, by the
real ingest, into a SQLite catalog of its own (its package row, its six
products raw, wav, flac, mp3, psd, hmd, its five resources, their outbox rows
and its sensor-day's HMD resource); every generated package copies that
package's rows, its ids and times replaced (text that names a time, as a
resource's description, keeps the template's, of the same length), so each
table gets the real number of rows of the real size. Outbox rows are
delivered, but for the newest ``--pending`` windows'. Each sensor-day gets its
``hmd_days`` row (counted per chunk) and, after the load, its HMD resource and
outbox row as its last package left them (ingest updates them with every
package, leaving dead rows that VACUUM reclaims). The rows are generated
inside the server (``INSERT … SELECT generate_series``, the server-side form
of a COPY load: nothing crosses the wire) in chunks of windows, ``--jobs``
connections side by side, with the tables' secondary indexes and foreign keys
dropped during the load and made again after it (primary keys and unique
constraints stay; the foreign keys are checked when made again). Products and
their resources get checksums of their own, distinct per package, as real
ones. Then ``VACUUM ANALYZE``, the bytes per package of each table (with its
indexes and TOAST), and the p50/p99 of:

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
dropping the benchmark's own database. ``--tablespace`` makes the database in
a tablespace of the server, e.g. one on a compressing filesystem (the README's
Scaling out section shows one on btrfs with zstd, for a disk smaller than the
catalog). The bulk load's settings (:func:`_bulk_load`) need a superuser.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, create_engine, select, text
from sqlalchemy.engine import make_url

from hydroserve.acoustics import catalog
from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.api.serve import started_for_good
from hydroserve.api.web.metrics import CatalogCollector
from hydroserve.codecs import raw, raw_decoder
from hydroserve.odc_sync import oai, outbox, registry

from .common import BOUNDARY_TICK, generate_input, load_frames, machine, write_adf_files

URL_VARIABLE = "HYDROSERVE_BENCH_DATABASE_URL"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PUBLIC_URL = "https://hydroserve.example.org"
TICKS_PER_SECOND = raw.TICKS_PER_SECOND
INTERVAL_S = 300
FIRST_S = 1_735_689_600  # 2025-01-01T00:00:00Z, the first window
CHUNK_WINDOWS = 20
"""Windows (all sensors' packages of one 300 s boundary) generated per INSERT."""
FRAMES_PER_FILE = 96
"""Frames per ADF file of the template's input (about a minute: six files, its package's ``sources``)."""
GROWING = (catalog.packages, catalog.products, registry.resources, outbox.table)
"""The tables that grow with every package (their secondary indexes are made after the load)."""


def _database(admin_url: str, name: str, create: bool, tablespace: str | None = None) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TABLESPACE "{tablespace}"' if tablespace else "")))
    engine.dispose()


def template(directory: Path) -> dict:
    """The catalog rows of one real 300 s package, archived by the real ingest into a SQLite catalog in ``directory``:
    table name -> list of rows (column -> value), and the package's id and sensor."""
    directory.mkdir()
    generate_input(directory)
    files = write_adf_files(load_frames(directory), directory / "adf", frames_per_file=FRAMES_PER_FILE)
    settings = load_settings(env={}, data_dir=str(directory / "data"), public_url=PUBLIC_URL, spool_settle_s=0)
    engine = wiring.init_catalog(settings)
    ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=5)
    for path in files:
        ingestor.feed(raw.RawFileName.parse(path).sensor, raw_decoder.read_file(path, frame_length=settings.adf_frame_length))
    ingestor.flush()
    with engine.connect() as conn:
        package = conn.execute(select(catalog.packages).where(catalog.packages.c.boundary_tick == BOUNDARY_TICK)).one()._asdict()
        pid = package["package_id"]
        rows = {table.name: [row._asdict() for row in conn.execute(select(table))] for table in GROWING}
    engine.dispose()
    if len(rows["packages"]) != 1:
        raise RuntimeError(f"the template's ingest made {len(rows['packages'])} packages, not one")
    return {"package_id": pid, "sensor_id": package["sensor_id"], "boundary_tick": BOUNDARY_TICK, **rows,
            "hmd_resources": [r for r in rows["resources"] if r["subject_id"] != pid],
            "resources": [r for r in rows["resources"] if r["subject_id"] == pid],
            "outbox": [r for r in rows["outbox"] if pid in r["resource_kid"]],
            "hmd_outbox": [r for r in rows["outbox"] if pid not in r["resource_kid"]]}


PACKAGE_NAMES = (("template_package", "package_id"), ("template_sensor", "sensor_id"))
"""What a package's copy replaces in the template's text: (parameter holding the template's, SQL of the copy's)."""


def _template_table(conn, table, name: str, rows: list[dict]) -> Table:
    """A table ``name`` with ``table``'s columns (no keys; each named ``t_<column>``) and the position ``i``, holding
    ``rows``."""
    copy = Table(name, MetaData(), *(Column(f"t_{c.name}", c.type) for c in table.columns), Column("i", Integer))
    copy.create(conn)
    conn.execute(copy.insert(), [{**{f"t_{k}": v for k, v in row.items()}, "i": i} for i, row in enumerate(rows)])
    return copy


def _copies(conn, table, template_table: Table, overrides: dict[str, str | None], source: str, parameters: dict, *,
            names=PACKAGE_NAMES, conflict: str = "") -> None:
    """Insert a copy of every row of ``template_table`` for every row of ``source`` (in its order, each source row's
    copies together): each column ``overrides`` names gets its SQL expression (``t``: the template row; None: the
    column's default), every other one the template's value (``t.t_<column>``), with ``names`` replaced in its
    text."""
    columns, values = [], []
    for column in table.columns:
        expression = overrides.get(column.name, f"t.t_{column.name}")
        if expression is None:
            continue
        if column.name not in overrides and isinstance(column.type, String | JSON):
            replaced = f"t.t_{column.name}::text"
            for parameter, replacement in names:
                replaced = f"replace({replaced}, :{parameter}, {replacement})"
            expression = f"CAST({replaced} AS {column.type.compile(dialect=conn.dialect)})"
        columns.append(column.name)
        values.append(expression)
    conn.execute(text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source} "
        f"CROSS JOIN {template_table.name} t ORDER BY k, sensor_id, t.i {conflict}"), parameters)


def _secondary_indexes():
    return [index for table in GROWING for index in table.indexes if not index.unique]


def fill(engine, template_rows: dict, n_sensors: int, n_windows: int, n_pending_windows: int, n_jobs: int = 1) -> None:
    """Sensors, then ``n_windows`` windows of every sensor: copies of the template package's rows (``template_rows``:
    :func:`template`'s), in chunks of windows that ``n_jobs`` connections load side by side; the sensor-days, and the
    secondary indexes of the growing tables, made after the load."""
    sources = {"packages": catalog.packages, "products": catalog.products, "resources": registry.resources,
               "outbox": outbox.table, "hmd_resources": registry.resources, "hmd_outbox": outbox.table}
    with engine.begin() as conn:
        for index in _secondary_indexes():
            index.drop(conn)
        foreign_keys = _foreign_keys(conn)
        for table, name, _ in foreign_keys:
            conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        templates = {key: _template_table(conn, table, f"template_{key}", template_rows[key]) for key, table in sources.items()}
    package = template_rows["packages"][0]
    parameters = {"t": TICKS_PER_SECOND, "interval": INTERVAL_S, "first": FIRST_S, "window": n_windows - n_pending_windows,
                  "template_package": template_rows["package_id"], "template_sensor": template_rows["sensor_id"],
                  "start_offset": package["start_tick"] - template_rows["boundary_tick"],
                  "end_offset": package["end_tick"] - template_rows["boundary_tick"], "n_samples": package["n_samples"],
                  "template_day": f"{template_rows['hmd_resources'][0]['coverage_start']:%Y%m%d}"}
    if len(package["runs"]) != 1:
        raise RuntimeError("the template package has more than one run")
    first_tick, last_tick = FIRST_S * TICKS_PER_SECOND, (FIRST_S + (n_windows - 1) * INTERVAL_S) * TICKS_PER_SECOND
    raw_details = next(p["details"] for p in template_rows["products"] if p["kind"] == "raw")
    with engine.begin() as conn:  # each sensor's row as its packages leave it: the first and the last window's edges
        conn.execute(text("""
            INSERT INTO sensors (sensor_id, dom_id, channel, next_boundary_tick, n_packages, oldest_boundary_tick,
                                 oldest_start_tick, newest_boundary_tick, newest_end_tick, newest_package_id,
                                 newest_timestamp_deviation)
            SELECT 'DOM_' || (808900000 + j) || '_CH1', 808900000 + j, 1, :next, :n, :first_tick, :first_start,
                   :last_tick, :last_end, 'DOM_' || (808900000 + j) || '_CH1_' || :last_s, CAST(:deviation AS json)
            FROM generate_series(0, CAST(:s AS bigint) - 1) j
        """), {"s": n_sensors, "n": n_windows, "next": last_tick + INTERVAL_S * TICKS_PER_SECOND, "first_tick": first_tick,
               "first_start": first_tick + parameters["start_offset"], "last_tick": last_tick,
               "last_end": last_tick + parameters["end_offset"], "last_s": last_tick // TICKS_PER_SECOND,
               "deviation": json.dumps(raw_details["input_timestamp_deviation"])})
    started = time.perf_counter()
    chunks = [(k0, min(n_windows, k0 + CHUNK_WINDOWS)) for k0 in range(0, n_windows, CHUNK_WINDOWS)]

    def fill_chunk(chunk: tuple[int, int]) -> int:
        with engine.begin() as conn:
            _bulk_load(conn)
            _fill_chunk(conn, templates, {**parameters, "k0": chunk[0], "k1": chunk[1] - 1})
        return (chunk[1] - chunk[0]) * n_sensors

    done = 0
    with ThreadPoolExecutor(n_jobs) as jobs:  # the work is the server's: one connection per job
        for n_packages in jobs.map(fill_chunk, chunks):
            done += n_packages
            print(f"\r  {done:,} packages ({done / (time.perf_counter() - started):,.0f}/s)", end="", flush=True)
    with engine.begin() as conn:
        _fill_days(conn, templates, parameters)
    print(f"\n  loaded in {time.perf_counter() - started:.0f} s", flush=True)
    indexed = time.perf_counter()
    with engine.begin() as conn:
        _bulk_load(conn)
        for index in _secondary_indexes():
            index.create(conn)
        for table in templates.values():
            table.drop(conn)
    print(f"  secondary indexes made in {time.perf_counter() - indexed:.0f} s", flush=True)
    checked = time.perf_counter()
    with engine.begin() as conn:
        _bulk_load(conn)
        for table, name, definition in foreign_keys:  # each checked in one pass over the table
            conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    print(f"  foreign keys made again and checked in {time.perf_counter() - checked:.0f} s", flush=True)


def _foreign_keys(conn) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the growing tables' foreign keys: dropped for the load (a check per row inserted
    took half its time) and made again after it, which checks every row at once."""
    rows = conn.execute(text(
        "SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS definition "
        "FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(CAST(:tables AS regclass[])) ORDER BY 1, 2"),
        {"tables": [table.name for table in GROWING]})
    return [(row.table_name, row.conname, row.definition) for row in rows]


def _bulk_load(conn) -> None:
    """This transaction's settings for a bulk load (superuser): commits not waited for, full-page images in the WAL
    compressed (the server's checkpoints come often at the default ``max_wal_size``), memory for index builds."""
    conn.execute(text("SET LOCAL synchronous_commit = off; SET LOCAL wal_compression = zstd; "
                      "SET LOCAL maintenance_work_mem = '1GB'"))


def _fill_chunk(conn, templates: dict[str, Table], parameters: dict) -> None:
    # one package per (window k, sensor j); registered at the window's end plus j ms (one registry stamp each)
    conn.execute(text("""
        CREATE TEMPORARY TABLE chunk ON COMMIT DROP AS
        SELECT s.sensor_id, s.sensor_id || '_' || (:first + k * :interval) AS package_id, k,
               (:first + k * :interval)::bigint * :t AS boundary_tick,
               to_timestamp(:first + (k + 1) * :interval + 20) + j * interval '1 millisecond' AS stamp
        FROM generate_series(CAST(:k0 AS bigint), CAST(:k1 AS bigint)) k
        CROSS JOIN LATERAL (SELECT sensor_id, row_number() OVER (ORDER BY sensor_id) AS j FROM sensors) s
    """), parameters)
    # copies in ingest's order: window after window, each package's rows together
    _copies(conn, catalog.packages, templates["packages"], {
        "package_id": "package_id", "sensor_id": "sensor_id", "boundary_tick": "boundary_tick",
        "start_tick": "boundary_tick + :start_offset", "end_tick": "boundary_tick + :end_offset",
        "runs": "json_build_array(json_build_array(boundary_tick + :start_offset, 0, :n_samples))", "created_at": "stamp",
    }, "chunk", parameters)
    # checksums of their own (as real products have), so that the pages compress as real ones would on a compressing
    # filesystem: the same for a product and its resource (kind: the resource type's part after "acoustics.")
    _copies(conn, catalog.products, templates["products"], {"package_id": "package_id", "sha256": _checksum("t.t_kind")},
            "chunk", parameters)
    coverage = {"coverage_start": "to_timestamp((boundary_tick + :start_offset)::numeric / :t)",
                "coverage_end": "to_timestamp((boundary_tick + :end_offset)::numeric / :t)"}
    _copies(conn, registry.resources, templates["resources"], {
        **coverage, "created": "stamp + t.i * interval '1 microsecond'", "modified": "stamp + t.i * interval '1 microsecond'",
        "sha256": f"CASE WHEN t.t_sha256 IS NOT NULL THEN {_checksum('substr(t.t_ktype, 11)')} END",
    }, "chunk", parameters)
    _copies(conn, outbox.table, templates["outbox"], {"id": None, **_delivery()}, "chunk", parameters)


def _checksum(kind: str) -> str:
    """SQL of a package's product checksum: distinct per package and ``kind`` (SQL)."""
    return f"encode(sha256(convert_to(package_id || ' ' || {kind}, 'UTF8')), 'hex')"


def _fill_days(conn, templates: dict[str, Table], parameters: dict) -> None:
    """Every sensor-day's ``hmd_days`` row, HMD resource and outbox row, as its last package left them (ingest counts
    a revision per package); made once, after the load (chunks loaded side by side would contend for the days' rows,
    and rows updated before the indexes are made would leave them unusable to transactions older than them)."""
    conn.execute(text("""
        INSERT INTO hmd_days (sensor_id, day, revision, modified)
        SELECT sensor_id, to_timestamp(boundary_tick / :t)::date, count(*), max(created_at) FROM packages GROUP BY 1, 2
    """), parameters)
    days = ("(SELECT sensor_id, day, modified AS stamp, "
            "CAST(floor((extract(epoch FROM modified) - 20 - :first) / :interval) - 1 AS bigint) AS k FROM hmd_days) AS days")
    names = (("template_sensor", "sensor_id"), ("template_day", "to_char(day, 'YYYYMMDD')"))
    _copies(conn, registry.resources, templates["hmd_resources"], {
        "coverage_start": "day::timestamptz", "coverage_end": "day::timestamptz + interval '1 day'",
        "created": "stamp", "modified": "stamp",
    }, days, parameters, names=names)
    _copies(conn, outbox.table, templates["hmd_outbox"], {"id": None, **_delivery()}, days, parameters, names=names)


def _delivery() -> dict[str, str]:
    """The outbox columns of a row registered at ``stamp`` in window ``k``: delivered, but in the newest windows."""
    return {"state": "CASE WHEN k < :window THEN 'delivered' ELSE 'pending' END",
            "attempts": "CASE WHEN k < :window THEN 1 ELSE 0 END", "next_attempt_at": "stamp",
            "last_status": "CASE WHEN k < :window THEN '201 Created' END", "created": "stamp",
            "delivered_at": "CASE WHEN k < :window THEN stamp + interval '2 seconds' END", "last_error": "NULL"}


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


def measure(app, engine, streams: list[str], n_sensors: int, n_windows: int, n: int,
            rng: random.Random) -> list[tuple[str, float, float]]:
    """p50/p99 of each query through the app (HTTP, in this process) and of its catalog part alone."""
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
            catalog.list_package_summaries(conn, sensor=sensor(), start_tick=start_tick,
                                           end_tick=start_tick + 86400 * TICKS_PER_SECOND, limit=101)

    def feed(_):
        _get(client, "/api/v1/resources", since=moment().isoformat(), limit=100)

    def feed_query(_):
        with engine.connect() as conn:
            registry.feed(conn, since=moment(), limit=101)

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


def footprint(conn) -> str:
    """The database's size and, per growing table, its rows and bytes (heap, TOAST, indexes) per package. The rows are
    the statistics' (exact after the fill's VACUUM, which reads every page): a count(*) would read 10 million packages'
    tables whole, minutes each."""
    def rows_of(table: str) -> int:
        return int(conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table}).scalar())

    n_packages = rows_of("packages")
    lines = [f"database {conn.execute(text('SELECT pg_size_pretty(pg_database_size(current_database()))')).scalar()}, "
             f"{n_packages:,} packages; bytes per package (heap and TOAST + indexes):"]
    total = 0
    for table in ("packages", "products", "resources", "outbox", "hmd_days"):
        heap, indexes = conn.execute(text(f"SELECT pg_table_size('{table}'), pg_indexes_size('{table}')")).one()
        total += heap + indexes
        lines.append(f"  {table}: {rows_of(table):,} rows, {heap / n_packages:,.0f} + {indexes / n_packages:,.0f}")
    lines.append(f"  in all: {total / n_packages:,.0f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=10_000_000, help="packages in all (rounded up to whole windows)")
    parser.add_argument("--sensors", type=int, default=630, help="sensors (630: ARCA with 33 detection units)")
    parser.add_argument("--pending", type=int, default=2, help="windows whose outbox rows are still pending (the newest)")
    parser.add_argument("--requests", type=int, default=500, help="timed requests per query")
    parser.add_argument("--jobs", type=int, default=2, help="connections loading chunks side by side (default: 2)")
    parser.add_argument("--tablespace", help="make the database in this tablespace (e.g. on a compressed filesystem)")
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
        _database(admin_url, name, create=True, tablespace=args.tablespace)
    try:
        with tempfile.TemporaryDirectory(prefix="hydroserve-bench-catalog-") as tmp:
            settings = load_settings(env={}, data_dir=tmp, database_url=url, public_url=PUBLIC_URL)
            engine = wiring.init_catalog(settings)
            if not args.reuse:
                made = time.perf_counter()
                template_rows = template(Path(tmp) / "template")
                print(f"template package {template_rows['package_id']} archived in {time.perf_counter() - made:.0f} s: "
                      + ", ".join(f"{len(template_rows[t])} {t}" for t in ("products", "resources", "outbox")), flush=True)
                started = time.perf_counter()
                fill(engine, template_rows, args.sensors, n_windows, args.pending, args.jobs)
                filled = time.perf_counter() - started
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
                print(f"filled in {filled:.0f} s ({n_windows * args.sensors / filled:,.0f} packages/s), vacuumed and "
                      f"analysed in {time.perf_counter() - started - filled:.0f} s", flush=True)
            with engine.connect() as conn:
                print(footprint(conn) + "\n", flush=True)
                streams = [row.kid for row in registry.list_streams(conn)]
            results = measure(started_for_good(create_app(settings)), engine, streams, args.sensors, n_windows, args.requests, random.Random(15))
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
