"""A vanished or replaced catalog is noticed (issue 14, item 3): only `db init` makes one; writers refuse to start
without it or beside another catalog's blobs; a running server stops being ready and refuses writes."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url

from alert_support import sample_alert
from hydroserve.api import wiring
from hydroserve.api.catalog_identity import sqlite_path
from hydroserve.api.db import make_engine
from support import AUTH, catalog_tables

pytestmark = pytest.mark.fault


def lose_catalog(settings) -> None:
    """The catalog is gone: its SQLite file deleted, or every table of its PostgreSQL database dropped."""
    path = sqlite_path(settings.database_url)
    if path is not None:
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [("serve",), ("ingest", "--once"), ("sync", "--status"), ("list",)])
def test_writers_and_readers_refuse_a_missing_catalog_saying_how_to_make_one(settings, runner, command):
    result = runner(*command)
    assert result.exit_code == 2
    if sqlite_path(settings.database_url) is not None:
        missing = (f"there is no catalog at {settings.data_dir / 'catalog.sqlite'}: create it with `hydroserve db init` "
                   "(only `db init` and `demo` make one)")
    else:  # an empty database
        missing = (f"the catalog at {make_url(settings.database_url).render_as_string()} was not made by `hydroserve db "
                   "init` (it has no catalog id): create it with `hydroserve db init`")
    assert result.stderr.strip() == f"hydroserve {command[0]}: {missing}"
    assert catalog_tables(settings) == []  # nothing was made on the way


def test_db_init_makes_a_catalog_the_writers_accept(settings, runner):
    assert runner("db", "init").exit_code == 0
    assert runner("ingest", "--once").exit_code == 0 and runner("sync", "--status").exit_code == 0
    assert (settings.blob_dir / ".catalog-id").is_file()


def test_an_empty_catalog_beside_blobs_of_packages_is_refused(settings, runner, archived, synthetic_files):
    archived(synthetic_files(n_frames=8))
    lose_catalog(settings)
    assert runner("db", "init").exit_code == 0  # a new, empty catalog where the old one was
    for command in (("ingest", "--once"), ("serve",), ("sync", "--status"), ("import", str(synthetic_files(n_frames=8)[0]))):
        result = runner(*command)
        assert result.exit_code == 2, command
        assert "holds no package, but the blob store" in result.stderr and "the catalog was lost or replaced" in result.stderr
        assert f"move {settings.blob_dir} away first" in result.stderr


def test_blobs_of_a_crashed_first_package_do_not_block_their_own_catalog(settings, runner, synthetic_files):
    assert runner("db", "init").exit_code == 0
    (settings.blob_dir / "DOM_808956920_CH1" / "2020").mkdir(parents=True)  # written before the first commit, then killed
    assert runner("ingest", "--once").exit_code == 0


def test_import_makes_the_catalog_when_there_is_none(settings, runner, synthetic_files):
    result = runner("import", "--json", *map(str, synthetic_files(n_frames=8)))
    assert result.exit_code == 0 and len(result.json()["packages_made"]) == 2


@pytest.mark.sqlite_only  # a file deleted under the server (the database of PostgreSQL: replaced, below)
def test_a_catalog_deleted_under_a_running_server_is_noticed_and_writes_are_refused(settings, gunicorn_server):
    url = gunicorn_server(workers=2)
    assert requests.post(f"{url}/api/v1/alerts", json=sample_alert(), headers=AUTH, timeout=10).status_code == 201
    (settings.data_dir / "catalog.sqlite").unlink()
    for _ in range(4):  # both workers
        ready = requests.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.headers["Content-Type"] == "application/problem+json"
        assert "catalog.sqlite has been deleted" in ready.json()["detail"]
        posted = requests.post(f"{url}/api/v1/alerts", json=sample_alert(id="ORCA24-0114-00999"), headers=AUTH, timeout=10)
        assert posted.status_code == 503 and posted.json()["type"].endswith("catalog-replaced")
        assert posted.headers["Retry-After"] == "60"
    assert not (settings.data_dir / "catalog.sqlite").exists()  # nothing made a new, empty one


def test_a_catalog_replaced_under_a_running_server_is_noticed(settings, gunicorn_server):
    url = gunicorn_server(workers=1)
    lose_catalog(settings)
    wiring.init_catalog(settings).dispose()  # another catalog at the same place
    ready = requests.get(f"{url}/readyz", timeout=10)
    replaced = "has been replaced by another file" if sqlite_path(settings.database_url) else "not the catalog"
    assert ready.status_code == 503 and replaced in ready.json()["detail"]
    posted = requests.post(f"{url}/api/v1/alerts", json=sample_alert(), headers=AUTH, timeout=10)
    assert posted.status_code == 503
