# ruff: noqa: E402 (OPENBLAS_NUM_THREADS is set before the imports that load numpy)
"""Shared fixtures: settings on a temporary data directory (with the catalog on SQLite and on PostgreSQL), the
app and its test client, a real gunicorn server, synthetic ADF files and the real KM3NeT test file."""

from __future__ import annotations

import os
import sys

# as the hydroserve command runs: BLAS on one thread (the products are built side by side on threads of their own, and
# a BLAS result must not depend on how busy its thread pool was); set before anything loads numpy's OpenBLAS
assert "numpy" not in sys.modules, "numpy was imported before the tests could set OPENBLAS_NUM_THREADS"
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import logging
from dataclasses import dataclass
from functools import partial

import pytest

from hydroserve.api import cli
from hydroserve.api.app import create_app
from hydroserve.api.config import settings_env
import postgres_server
import s3_server
from support import (REAL_FILE, SENSOR, archive_files, free_port, reap_servers, server_env, sqlite_url, start_server,
                     stop_server, suite_settings, synthetic_adf)


@pytest.fixture
def real_adf_path():
    from km3net_testdata import data_path

    return data_path(REAL_FILE)


@pytest.fixture(scope="session")
def postgres_session():
    """The session's PostgreSQL server (see :mod:`postgres_server`), or why there is none; stopped at the end."""
    try:
        server = postgres_server.find_server()
    except postgres_server.PostgresUnavailable as error:
        yield error
        return
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(postgres_session):
    """The PostgreSQL server; the test is skipped without one (one reason for all), or fails when
    ``HYDROSERVE_TEST_REQUIRE_POSTGRES=1`` (CI)."""
    if isinstance(postgres_session, postgres_server.PostgresUnavailable):
        if postgres_server.required():
            pytest.fail(f"{postgres_server.REQUIRE_VARIABLE}=1 but {postgres_session}", pytrace=False)
        pytest.skip(str(postgres_session))
    return postgres_session


def pytest_sessionfinish(session):
    reap_servers()


def pytest_report_header(config):
    given = "set" if os.environ.get(postgres_server.URL_VARIABLE) else "unset (a throwaway server is started if possible)"
    return f"postgresql: {postgres_server.URL_VARIABLE} {given}; required: {postgres_server.required()}"


@pytest.fixture
def postgres_url(postgres):
    """A fresh, empty PostgreSQL database for one test (emptied afterwards for a later test); its SQLAlchemy URL."""
    url = postgres.lend_database()
    yield url
    postgres.give_back(url)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``sqlite_only`` (their subject is not the catalog: HTTP on the wire, proxies, brokers, browsers)
    keep only their SQLite run (the PostgreSQL one is deselected); every other test using ``database_url`` runs on
    both engines."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        on_postgres = "postgresql" in (params.get("database_url"), params.get("module_settings"))
        (dropped if on_postgres and item.get_closest_marker("sqlite_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The catalog of a test, once on SQLite (the data directory's file) and once on a fresh PostgreSQL database
    (SQLite only for tests marked ``sqlite_only``)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_settings(request, tmp_path_factory):
    """Like ``settings``, but one data directory and catalog per module and engine: for tests that only read what a
    module-scoped fixture put there once, or whose requests are refused (a module overrides ``settings`` with it, or
    takes ``module_client``). The PostgreSQL one is lent like ``postgres_url``'s."""
    directory = tmp_path_factory.mktemp("module")
    if request.param == "sqlite":
        yield suite_settings(directory, sqlite_url(directory))
        return
    postgres = request.getfixturevalue("postgres")
    url = postgres.lend_database()
    yield suite_settings(directory, url)
    postgres.give_back(url)


@pytest.fixture(scope="module")
def module_client(module_settings):
    """A test client of the app on ``module_settings`` (its catalog made), for a module's tests that only read or are
    refused."""
    from hydroserve.api import wiring

    wiring.init_catalog(module_settings).dispose()
    return create_app(module_settings).test_client()


@pytest.fixture
def settings(tmp_path, database_url):
    """2 s snippets every 2 s on a fresh data directory and catalog (SQLite and PostgreSQL); write token ``TOKEN``;
    packages kept from 60 % coverage, so that a dropped 0.63 s ADF frame leaves a package with a gap
    (:func:`support.suite_settings`)."""
    return suite_settings(tmp_path, database_url)


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """The session's S3-compatible server (moto's, on loopback; see :mod:`s3_server`), with the ``AWS_*`` variables
    that boto3 reads set in this process (and so in its subprocesses) until the end of the session."""
    directory = tmp_path_factory.mktemp("s3")
    variables = s3_server.environment(directory)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    server = s3_server.start(directory / "moto.log", free_port())
    yield server
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def app(settings):
    from hydroserve.api import wiring

    wiring.init_catalog(settings).dispose()
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    output: str
    stderr: str

    def json(self):
        return json.loads(self.output)


@pytest.fixture
def runner_for(monkeypatch, capsys):
    """Factory: the ``hydroserve`` command line in this process on the given settings (as its environment gives
    them), like Flask's CLI runner: ``runner_for(settings)("list", "--json").json()``; ``env`` overrides keys."""

    def make(settings):
        def run(*argv: str, env: dict | None = None) -> CliResult:
            for key, value in {**settings_env(settings), "HYDROSERVE_LOG_LEVEL": "WARNING", **(env or {})}.items():
                monkeypatch.setenv(key, str(value))
            capsys.readouterr()
            exit_code = cli.main(list(argv))
            captured = capsys.readouterr()
            return CliResult(exit_code, captured.out, captured.err)

        return run

    return make


@pytest.fixture
def runner(settings, runner_for):
    """The ``hydroserve`` command line on the test settings: ``runner("list", "--json").json()``."""
    return runner_for(settings)


@pytest.fixture
def synthetic_files(tmp_path):
    """Factory: write synthetic ADF files (by default into ``tmp_path / "adf"``); returns their paths
    (:func:`support.synthetic_adf`)."""

    def make(sensor=SENSOR, *, directory=None, **options):
        return synthetic_adf(directory or tmp_path / "adf", sensor, **options)

    return make


@pytest.fixture
def archived(settings):
    """Import synthetic ADF files into the settings' archive; returns the ingest report."""
    return partial(archive_files, settings)


@pytest.fixture(autouse=True)
def restore_logging():
    """Tests that run the CLI reconfigure the root logger (onto captured streams): put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def gunicorn_server(settings, tmp_path):
    """Factory: start ``hydroserve serve`` (a real gunicorn) on a free loopback port; returns its base URL."""
    processes = []

    def start(workers: int = 2, public_url: str | None = None, **extra_env) -> str:
        from hydroserve.api import wiring

        wiring.init_catalog(settings).dispose()  # `hydroserve db init`: serve never makes the catalog
        env = server_env(settings, HYDROSERVE_WORKERS=workers, **extra_env)
        process, url = start_server(env, tmp_path / f"gunicorn-{len(processes)}.log", ready_within_s=30, public_url=public_url)
        processes.append(process)
        return url

    yield start
    for process in processes:
        stop_server(process)
