"""The PostgreSQL server the tests use, and a fresh database per test.

Where the server comes from, in order:

1. ``HYDROSERVE_TEST_DATABASE_URL`` (an SQLAlchemy URL of a database on a server the tests may create
   databases on, e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``);
2. a throwaway server started here when PostgreSQL's binaries are installed (``initdb`` on the PATH or under
   ``/usr/lib/postgresql/<version>/bin``, as Debian's ``postgresql`` package puts them), run as an
   unprivileged user when the tests run as root (PostgreSQL refuses root), stopped at the end of the session;
3. none: the PostgreSQL tests are skipped with one reason, unless ``HYDROSERVE_TEST_REQUIRE_POSTGRES=1`` (as
   ``.ci/run`` sets it), which makes the missing server a test error.

A test's database is lent (:meth:`PostgresServer.lend_database`) and emptied when given back, for the next test:
``DROP DATABASE`` forces a checkpoint, which takes seconds on a busy server with ``fsync`` on, while emptying the
``public`` schema takes a tenth of that. The databases left over are dropped when the session ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

URL_VARIABLE = "HYDROSERVE_TEST_DATABASE_URL"
REQUIRE_VARIABLE = "HYDROSERVE_TEST_REQUIRE_POSTGRES"
UNPRIVILEGED_USER = "nobody"


class PostgresUnavailable(Exception):
    """No PostgreSQL server for the tests; the message says why and what to do."""


@dataclass
class PostgresServer:
    """A server the tests create databases on: ``admin_url`` names its maintenance database."""

    admin_url: str
    description: str
    data_dir: Path | None = None
    run_as: str | None = None
    spare: list[str] = field(default_factory=list)
    """Databases given back and emptied, to be lent again."""

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"hydroserve_test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, disconnecting what still holds it."""
        self._admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def lend_database(self) -> str:
        """An empty database for one test, to be given back with :meth:`give_back`: a spare one nothing is connected
        to, else a new one (:meth:`create_database`); returns its URL."""
        while self.spare:
            url = self.spare.pop()
            if self._others_connected(url) == 0:
                return url
            self.drop_database(url)  # something from an earlier test came back to it: not this test's to see
        return self.create_database()

    def give_back(self, url: str) -> None:
        """Take back a database lent by :meth:`lend_database`: its connections are ended and its ``public`` schema
        dropped and made anew, as a new database has it; it is dropped instead when anything else remains in it
        (another schema) or connects to it again."""
        engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
                # one query string: one implicit transaction
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT USAGE ON SCHEMA public TO PUBLIC"))
                others = conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname NOT IN ('public', "
                                           "'information_schema') AND nspname NOT LIKE 'pg\\_%'")).scalar_one()
        finally:
            engine.dispose()
        if others:
            self.drop_database(url)
        else:
            self.spare.append(url)

    def _others_connected(self, url: str) -> int:
        engine = create_engine(self.admin_url, poolclass=_null_pool())
        try:
            with engine.connect() as conn:
                return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                                    {"name": make_url(url).database}).scalar_one()
        finally:
            engine.dispose()

    def _admin(self, statement: str) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    def stop(self) -> None:
        """Drop the spare databases; stop the server if it was started here."""
        while self.spare:
            self.drop_database(self.spare.pop())
        if self.data_dir is not None:
            _run([_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"], self.run_as)
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


def find_server() -> PostgresServer:
    """The server named by ``HYDROSERVE_TEST_DATABASE_URL``, else a throwaway one (see the module docstring).

    Raises
    ------
    PostgresUnavailable
        Neither is possible; the message says what to install or set.
    """
    given = os.environ.get(URL_VARIABLE)
    if given:
        server = PostgresServer(given, f"{URL_VARIABLE} ({make_url(given).render_as_string()})")
        try:
            server._admin("SELECT 1")
        except Exception as error:  # noqa: BLE001 - any failure to connect is reported with its cause
            raise PostgresUnavailable(f"cannot connect to {URL_VARIABLE}: {error}") from error
        return server
    if _binary("initdb") is None:
        raise PostgresUnavailable(
            f"no PostgreSQL: set {URL_VARIABLE} to a server's URL, or install PostgreSQL's binaries "
            "(Debian: apt install postgresql) so the tests start their own")
    return _start_throwaway()


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]))
    return candidates[-1] if candidates else None


def _run(argv: list[str], user: str | None) -> None:
    subprocess.run(argv, check=True, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")


def _start_throwaway() -> PostgresServer:
    from support import free_port

    run_as = UNPRIVILEGED_USER if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="hydroserve-pg-"))
    data_dir = base / "data"
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    port = free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {data_dir} -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=200")
    try:
        _run([_binary("initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], run_as)
        _run([_binary("pg_ctl"), "-D", str(data_dir), "-l", str(base / "server.log"), "-o", options, "-w", "start"],
             run_as)
    except subprocess.CalledProcessError as error:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"could not start a throwaway PostgreSQL: {error.stderr.decode(errors='replace')}") from error
    admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    return PostgresServer(admin_url, f"throwaway server in {data_dir} on port {port}", data_dir=data_dir, run_as=run_as)


def required() -> bool:
    return os.environ.get(REQUIRE_VARIABLE) == "1"
