"""The catalog's schema migrations (api/migrations): they make exactly the tables the code defines, on SQLite and on
PostgreSQL; a catalog made by the release before migrations (tests/data/legacy-catalog) upgrades in place and serves
everything it served, and reprocessing gives its packages the HMD they lack; the commands `db upgrade` and `db current`;
what is refused, with what message."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import shutil
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import xarray as xr
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from hydroserve.acoustics.hmd_product import PackageHmd
from hydroserve.api import schema, wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.api.db import make_engine, writer
from support import sensor_state, sensor_state_of_packages, url

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "tests" / "data" / "legacy-catalog"


def _legacy_environment() -> dict:
    spec = importlib.util.spec_from_file_location("make_legacy_catalog", ROOT / "tests" / "data" / "make_legacy_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ENV


def _differences(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, list(schema.METADATAS))


def test_the_head_read_from_the_script_names_is_alembics_and_each_script_revises_the_one_before():
    scripts = schema._scripts()
    chain = list(reversed(list(scripts.walk_revisions())))  # base first
    files = sorted((schema.MIGRATIONS / "versions").glob(schema.REVISION_FILES))
    assert [Path(script.path).name for script in chain] == [path.name for path in files]
    assert [script.revision for script in chain] == [path.name[:4] for path in files]
    assert [script.down_revision for script in chain] == [None] + [script.revision for script in chain[:-1]]
    assert schema.head() == scripts.get_current_head() == chain[-1].revision


def test_the_migrations_make_exactly_the_tables_the_code_defines(database_url):
    engine = make_engine(database_url)
    try:
        before, after = schema.upgrade(engine)
        assert (before.revision, before.legacy, after.revision, after.at_head) == (None, False, schema.head(), True)
        assert _differences(engine) == []
        with engine.connect() as conn:
            defined = {name for metadata in schema.METADATAS for name in metadata.tables}
            assert schema.BASELINE_TABLES <= defined
            assert set(inspect(conn).get_table_names()) == defined | {schema.VERSION_TABLE}
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_a_catalog_without_a_version_is_stamped(database_url):
    """A catalog of the release before migrations (the baseline's tables, no alembic_version; here made by the baseline
    migration with its version then dropped, which works on both engines) is stamped, not made again."""
    engine = make_engine(database_url)
    try:
        with writer(engine).begin() as conn:
            command.upgrade(schema.alembic_config(conn), schema.BASELINE)
            conn.execute(text("INSERT INTO sensors (sensor_id, dom_id, channel) VALUES ('DOM_1_CH1', 1, 1)"))
            conn.execute(text(f"DROP TABLE {schema.VERSION_TABLE}"))
            assert schema.state(conn).legacy
        before, after = schema.upgrade(engine)
        assert (before.legacy, after.revision) == (True, schema.head())
        assert schema.upgrade(engine)[0].revision == schema.head()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT sensor_id FROM sensors")).scalars().all() == ["DOM_1_CH1"]
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_a_catalog_missing_some_baseline_tables_or_from_a_newer_release_is_refused(database_url):
    engine = make_engine(database_url)
    try:
        schema.upgrade(engine)
        with writer(engine).begin() as conn:
            conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999'"))
        with pytest.raises(schema.SchemaError, match="revision 9999, which this release does not know .* newer hydroserve"):
            schema.upgrade(engine)
        with engine.connect() as conn, pytest.raises(schema.SchemaError, match=f"at revision 9999, this release needs {schema.head()}"):
            schema.require_head(conn)
        with writer(engine).begin() as conn:
            conn.execute(text(f"DROP TABLE {schema.VERSION_TABLE}"))
            conn.execute(text("DROP TABLE event_tables"))
        with pytest.raises(schema.SchemaError, match="but not event_tables: it is not one hydroserve made"):
            schema.upgrade(engine)
    finally:
        engine.dispose()


def test_db_upgrade_current_and_init_on_a_new_catalog(runner, settings):
    upgraded = runner("db", "upgrade")
    assert upgraded.exit_code == 0 and upgraded.output.endswith(f"schema upgraded from empty to {schema.head()} (head)\n")
    assert (runner("db", "current").exit_code, runner("db", "current").output) == (0, f"{schema.head()} (head)\n")
    refused = runner("list")  # the schema alone is not a catalog: db init gives it its id and registry rows
    assert refused.exit_code == 2 and "was not made by `hydroserve db init`" in refused.stderr
    assert runner("db", "init").exit_code == 0
    assert runner("list", "--json").json() == []


@pytest.fixture
def legacy_settings(tmp_path):
    """The settings of a copy of the archive made by the release before migrations (its own configuration)."""
    shutil.copytree(LEGACY, tmp_path / "data")
    env = {key.removeprefix("HYDROSERVE_").lower(): value for key, value in _legacy_environment().items()}
    return load_settings(env={}, data_dir=str(tmp_path / "data"), **env)


def _served(client, access_url: str):
    parts = urlsplit(access_url)
    return client.get(parts.path + (f"?{parts.query}" if parts.query else ""))


def test_an_archive_of_the_release_before_migrations_upgrades_in_place_and_serves_everything(legacy_settings, runner_for):
    run = runner_for(legacy_settings)
    refused = run("list")
    assert refused.exit_code == 2 and "made before schema migrations: run `hydroserve db upgrade`" in refused.stderr
    current = run("db", "current")
    assert current.exit_code == 1 and current.output.startswith("none: a catalog from before migrations")

    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0
    assert f"schema upgraded from a catalog from before migrations to {schema.head()} (head)" in upgraded.output
    assert run("db", "current").output == f"{schema.head()} (head)\n"
    assert run("db", "upgrade").output.endswith(f"schema at {schema.head()} (head), nothing to do\n")
    listed = run("list", "--json").json()
    assert sorted(p["package_id"] for p in listed) == [
        "DOM_808956920_CH1_1608751680", "DOM_808956920_CH1_1608751681",
        "DOM_808974724_CH1_1608751680", "DOM_808974724_CH1_1608751681"]

    client = create_app(legacy_settings).test_client()
    resources = client.get(url(client, "registry.Resources", limit=1000)).get_json()["items"]
    kinds = sorted({r["kid"].split("_")[2] for r in resources if r["kid"].startswith("acoustic20_01_")})
    assert (len(resources), kinds) == (21, ["mp3", "psd", "raw", "wav"])
    for resource in resources:
        assert client.get(url(client, "registry.Resource", kid=resource["kid"])).get_json() == resource
        response = _served(client, resource["access_url"])
        assert response.status_code == 200, (resource["kid"], response.get_data(as_text=True)[:300])
        if resource["sha256"] is not None:
            assert hashlib.sha256(response.get_data()).hexdigest() == resource["sha256"], resource["kid"]
    for package in listed:
        info = client.get(url(client, "acoustic.Info", package_id=package["package_id"])).get_json()
        assert info["package_id"] == package["package_id"] and info["integrity"]["damaged"] is False

    verified = run("verify", "--json")
    report = verified.json()
    assert verified.exit_code == 0 and (report["damaged"], report["missing"], report["ok"]) == ([], [], report["blobs_checked"])


def test_the_sensor_state_of_an_archive_of_the_release_before_migrations_is_filled_from_its_packages(legacy_settings,
                                                                                                       runner_for):
    """Migration 0010 fills each sensor's row from the packages and skipped windows already archived (two packages and
    one skipped window per sensor in the legacy archive)."""
    assert runner_for(legacy_settings)("db", "upgrade").exit_code == 0
    engine = make_engine(legacy_settings.database_url)
    try:
        with engine.connect() as conn:
            state, expected = sensor_state(conn), sensor_state_of_packages(conn)
    finally:
        engine.dispose()
    assert state == expected
    deviation = state["DOM_808956920_CH1"].pop("newest_timestamp_deviation")
    assert deviation["max_abs_ns"] == 0  # the legacy archive's frames follow each other exactly
    assert state["DOM_808956920_CH1"] == {
        "n_packages": 2, "n_skipped_windows": 1, "oldest_boundary_tick": 1608751680 * 62_500_000,
        "oldest_start_tick": 1608751680 * 62_500_000, "newest_boundary_tick": 1608751681 * 62_500_000,
        "newest_end_tick": 1608751681 * 62_500_000 + 6_250_080, "newest_package_id": "DOM_808956920_CH1_1608751681"}


def test_the_sensor_state_goes_down_with_0010_and_is_filled_again_going_up(settings, archived, synthetic_files):
    """A catalog of the ingest (packages and skipped windows) taken down to 0009 loses the sensors' state and keeps
    its packages; upgraded again, the state filled from the packages is the one the ingest kept (SQLite and
    PostgreSQL)."""
    report = archived(synthetic_files(n_frames=16, drop_frames={8, 9}))
    assert (len(report.packages_made), len(report.windows_skipped)) == (4, 2)
    engine = wiring.open_existing_catalog(settings)
    try:
        with engine.connect() as conn:
            kept = sensor_state(conn)
        assert kept == {"DOM_808956920_CH1": {**kept["DOM_808956920_CH1"], "n_packages": 4, "n_skipped_windows": 2,
                                              "newest_package_id": "DOM_808956920_CH1_1608751688"}}
        with writer(engine).begin() as conn:
            command.downgrade(schema.alembic_config(conn), "0009")
        with engine.connect() as conn:
            assert schema.state(conn).revision == "0009"
            assert {c["name"] for c in inspect(conn).get_columns("sensors")} == {
                "sensor_id", "dom_id", "channel", "next_boundary_tick", "n_packages"}
            assert conn.execute(text("SELECT count(*) FROM packages")).scalar() == 4
        assert schema.upgrade(engine)[1].at_head
        with engine.connect() as conn:
            assert sensor_state(conn) == kept == sensor_state_of_packages(conn)
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_reprocessing_adds_hmd_to_packages_archived_before_hmd_existed(legacy_settings, runner_for):
    """The legacy archive's packages have no HMD; ``reprocess --products hmd`` makes it (version 1, by the job), the
    sensor-day gets its netCDF and resource, and a second run with the same settings changes nothing."""
    run = runner_for(legacy_settings)
    assert run("db", "upgrade").exit_code == 0
    sensor = "DOM_808956920_CH1"
    packages = ["DOM_808956920_CH1_1608751680", "DOM_808956920_CH1_1608751681"]
    client = create_app(legacy_settings).test_client()
    assert "hmd" not in client.get(url(client, "acoustic.Info", package_id=packages[0])).get_json()["products"]
    assert client.get(url(client, "soundscape.HmdDay", sensor=sensor, day="2020-12-23")).status_code == 404

    made = run("reprocess", "--sensor", sensor, "--products", "hmd", "--run-here", "--json")
    assert made.exit_code == 0, made.stderr
    assert (made.json()["new_versions"], made.json()["failed"]) == ({"hmd": 2}, [])
    client = create_app(legacy_settings).test_client()
    total_effort_s = 0.0
    for package_id in packages:
        info = client.get(url(client, "acoustic.Info", package_id=package_id)).get_json()
        hmd = info["products"]["hmd"]
        assert hmd["version"] == 1 and hmd["replaces"] is None
        data = client.get(url(client, "acoustic.Hmd", package_id=package_id))
        assert data.status_code == 200 and hashlib.sha256(data.data).hexdigest() == hmd["sha256"]
        total_effort_s += float(PackageHmd.from_npz_bytes(data.data).effort_s.sum())
        assert total_effort_s > 0
    day = client.get(url(client, "soundscape.HmdDay", sensor=sensor, day="2020-12-23"))
    assert day.status_code == 200
    with xr.open_dataset(io.BytesIO(day.data), engine="h5netcdf") as ds:
        assert float(ds["effort"].sum()) == pytest.approx(total_effort_s)
    resource = client.get(url(client, "registry.Resource", kid=f"acoustic20_01_hmd_{sensor}_20201223")).get_json()
    assert resource["access_url"].endswith(f"/sensors/{sensor}/hmd/2020-12-23.nc")

    again = run("reprocess", "--sensor", sensor, "--products", "hmd", "--run-here", "--json")
    assert (again.json()["new_versions"], again.json()["unchanged"]) == ({"hmd": 0}, {"hmd": 2})


def test_the_migrations_are_shipped_with_the_package():
    """Every file of api/migrations is in the wheel (pyproject.toml): its folder is a listed package and, unless it is
    a module, its name matches that package's data."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    files = {p.relative_to(ROOT / "api") for p in (ROOT / "api" / "migrations").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert {Path("migrations/env.py"), Path("migrations/script.py.mako"), Path("migrations/versions/0001_baseline.py")} <= files
    unshipped = set()
    for file in files:
        package = ".".join(("hydroserve", "api", *file.parent.parts))
        data = setuptools["package-data"].get(package, [])
        if package not in setuptools["packages"] or (file.suffix != ".py" and not any(file.match(p) for p in data)):
            unshipped.add(file)
    assert unshipped == set()
