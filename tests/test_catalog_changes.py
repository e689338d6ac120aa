"""What an API process keeps about a package (its current PSD) is forgotten as soon as the catalog changes it, whoever
writes: the change watches on both engines (SQLite's data version and file identity; PostgreSQL's triggers, a listener
that loses its connection), and a real server that already served a PSD answering a reprocessed one and an expired one
at once, both made by other processes."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import create_engine, text, update

from hydroserve.acoustics import catalog
from hydroserve.api import catalog_changes, wiring
from hydroserve.api.catalog_changes import EVERYTHING, NOTHING, UNWATCHED
from hydroserve.api.db import make_engine, writer
from support import SENSOR, archive_files, server_env, suite_settings, url

OLD, NEW = "DOM_808956920_CH1_1608751680", "DOM_808956920_CH1_1608751682"


def test_sqlite_sees_every_other_connections_commit_and_a_replaced_file(tmp_path):
    path = tmp_path / "catalog.sqlite"
    database_url = f"sqlite:///{path}"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    watch = catalog_changes.watch(database_url, make_engine(database_url))
    assert watch.changes() == EVERYTHING  # the first look: nothing known yet
    assert watch.changes() == NOTHING
    other.execute("INSERT INTO t VALUES (1)")
    assert watch.changes() == EVERYTHING
    assert watch.changes() == NOTHING
    other.execute("BEGIN")
    other.execute("INSERT INTO t VALUES (2)")
    assert watch.changes() == NOTHING  # not committed yet
    other.execute("COMMIT")
    assert watch.changes() == EVERYTHING
    other.close()

    path.rename(tmp_path / "old.sqlite")
    assert watch.changes() == UNWATCHED  # deleted: nothing may be kept
    replacement = sqlite3.connect(path)
    replacement.execute("CREATE TABLE t (x)")
    replacement.close()
    assert watch.changes() == EVERYTHING and watch.changes() == NOTHING
    assert catalog_changes.watch("sqlite://", make_engine("sqlite://")).changes() == UNWATCHED  # in memory


@pytest.fixture
def postgres_settings(postgres_url, tmp_path):
    settings = suite_settings(tmp_path, postgres_url)
    wiring.init_catalog(settings).dispose()
    return settings


def _wait_until_watched(watch, within_s: float = 30):
    deadline = time.monotonic() + within_s
    while (changes := watch.changes()) == UNWATCHED and time.monotonic() < deadline:
        time.sleep(0.05)
    return changes


def test_postgres_triggers_name_each_changed_package_and_a_lost_listener_forgets_everything(postgres_settings,
                                                                                         synthetic_files):
    report = archive_files(postgres_settings, synthetic_files(n_frames=8))
    assert report.packages_made == [OLD, NEW]
    engine = make_engine(postgres_settings.database_url)
    watch = catalog_changes.watch(postgres_settings.database_url, engine)
    assert watch.changes() == EVERYTHING and watch.changes() == NOTHING
    other = create_engine(postgres_settings.database_url)
    with other.begin() as conn:  # a writer that is not hydroserve: psql, a migration, another tool
        conn.execute(update(catalog.products).where(catalog.products.c.package_id == OLD)
                     .values(size_bytes=catalog.products.c.size_bytes))
    changes = watch.changes()  # at once: the look's round trip brings what was committed before it
    assert changes.watching and not changes.everything and changes.package_ids == {OLD}
    with other.begin() as conn:
        conn.execute(update(catalog.packages).where(catalog.packages.c.package_id == NEW).values(software_version="9"))
        conn.execute(text("DELETE FROM expired_products WHERE package_id = :pid"), {"pid": OLD})  # no row: no change
    assert watch.changes().package_ids == {NEW}
    with other.begin() as conn:
        conn.execute(text("TRUNCATE expired_products"))
    assert watch.changes() == EVERYTHING

    with other.connect() as conn:
        terminated = conn.execute(text("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                                       "WHERE application_name = :name AND datname = current_database()"),
                                  {"name": catalog_changes.APPLICATION_NAME}).scalars().all()
    assert terminated == [True]
    with other.begin() as conn:  # sent while nobody listens
        conn.execute(update(catalog.packages).where(catalog.packages.c.package_id == OLD).values(software_version="10"))
    # nothing may be kept until the thread listens again (UNWATCHED); then what was missed is unknown
    assert _wait_until_watched(watch) == EVERYTHING
    assert watch.changes() == NOTHING
    other.dispose()
    engine.dispose()


def _hydroserve(settings, *args, **env) -> str:
    done = subprocess.run([sys.executable, "-m", "hydroserve.api.cli", *args], env=server_env(settings, **env),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_server_sees_a_psd_reprocessed_and_one_expired_by_other_processes_at_once(app, settings, archived,
                                                                                     synthetic_files, gunicorn_server):
    assert archived(synthetic_files(n_frames=8)).packages_made == [OLD, NEW]
    engine = wiring.open_existing_catalog(settings)
    with writer(engine).begin() as conn:
        conn.execute(update(catalog.packages).where(catalog.packages.c.package_id == OLD)
                     .values(created_at=datetime.now(UTC) - timedelta(days=40)))
    base = gunicorn_server(workers=1)  # one worker: the process that served the old PSD answers again
    psd = base + url(app, "acoustic.Psd", package_id=OLD)
    identity = {"Accept-Encoding": "identity"}
    first = requests.get(psd, headers=identity, timeout=30)
    assert first.status_code == 200 and first.json()["nfft"] == 8192
    assert requests.get(psd, headers={**identity, "If-None-Match": first.headers["ETag"]}, timeout=30).status_code == 304

    _hydroserve(settings, "reprocess", "--sensor", str(SENSOR), "--run-here", "--json", HYDROSERVE_PSD_NFFT=4096)
    with engine.connect() as conn:
        new_sha256 = catalog.get_package(conn, OLD).products["psd"].sha256
    reprocessed = requests.get(psd, headers={**identity, "If-None-Match": first.headers["ETag"]}, timeout=30)
    assert reprocessed.status_code == 200 and reprocessed.json()["nfft"] == 4096
    assert reprocessed.headers["ETag"] == f'"{new_sha256}"' == f'"{hashlib.sha256(reprocessed.content).hexdigest()}"'

    _hydroserve(settings, "retention", "--json", HYDROSERVE_RETENTION_DAYS="psd=30")
    gone = requests.get(psd, timeout=30)
    assert gone.status_code == 410 and gone.json()["type"].endswith("/product-expired"), gone.text
    assert requests.get(base + url(app, "acoustic.Psd", package_id=NEW), timeout=30).status_code == 200
    engine.dispose()
