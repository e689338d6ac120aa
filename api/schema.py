"""The catalog's schema and its versions: one Alembic migration history for every table (``api/migrations``).

The tables are defined by five :class:`~sqlalchemy.MetaData` objects, one
per owner (:data:`METADATAS`); the migrations in ``migrations/versions``
make exactly those tables, revision after revision (``0001_baseline`` is
the schema of the release before migrations). Nothing makes tables
implicitly: :func:`upgrade` (``hydroserve db upgrade``, and ``db init``
before its registry rows) brings a catalog to the newest revision, and
:func:`require_head` refuses to work on a catalog that is not there.

A catalog made before migrations existed has the baseline's tables and no
``alembic_version`` table: :func:`upgrade` recognises it, stamps it as the
baseline and upgrades it from there, in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from hydroserve.acoustics import catalog
from hydroserve.acoustics import hmd_days, leases, reprocess_jobs  # noqa: F401 - they define their tables on catalog.metadata
from hydroserve.odc_sync import registry

from . import catalog_identity
from .alerts import store as alert_store
from .db import writer
from .events import store as event_store

METADATAS = (catalog.metadata, registry.metadata, alert_store.metadata, event_store.metadata, catalog_identity.metadata)
"""Every table of the catalog, by owner: acoustics, open-data registry and outbox, alerts, event tables, identity."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
BASELINE_TABLES = frozenset({
    "sensors", "packages", "products", "skipped_windows", "damaged_blobs", "collections", "streams", "resources",
    "registry_clock", "outbox", "alerts", "event_tables", "catalog_identity",
})
"""The tables of the release before migrations (what ``0001_baseline`` makes)."""
VERSION_TABLE = "alembic_version"
REVISION_FILES = "[0-9][0-9][0-9][0-9]_*.py"
"""The names of the migration scripts: a four-digit revision, then what the migration does."""
UPGRADE_HINT = "run `hydroserve db upgrade`"


class SchemaError(catalog_identity.CatalogNotReady):
    """The catalog's schema is not one this release can use or upgrade; the message says why and what to do."""


@dataclass(frozen=True)
class SchemaState:
    """Where a catalog's schema is: its revision (None: no migration ran), the newest one, and whether it predates
    migrations (the baseline's tables without a version)."""

    revision: str | None
    head: str
    legacy: bool

    @property
    def at_head(self) -> bool:
        return self.revision == self.head

    def describe(self) -> str:
        if self.at_head:
            return f"{self.revision} (head)"
        if self.legacy:
            return (f"none: a catalog from before migrations (the baseline's tables, no {VERSION_TABLE}); "
                    f"`hydroserve db upgrade` stamps it {BASELINE} and upgrades it to {self.head}")
        if self.revision is None:
            return f"none: an empty catalog; the head is {self.head} ({UPGRADE_HINT} or `hydroserve db init`)"
        return f"{self.revision}, not the head {self.head} ({UPGRADE_HINT})"


def alembic_config(conn: Connection | None = None):
    """The Alembic configuration (``alembic.config.Config``) of the migrations shipped with hydroserve; ``conn``: the
    connection they run on."""
    from alembic.config import Config  # Alembic is imported only to migrate: a command that checks the schema starts faster

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


@cache
def _scripts():
    """The migration scripts (``alembic.script.ScriptDirectory``; read once per process: they do not change while it
    runs)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


@cache
def head() -> str:
    """The newest revision, from the names of the migration scripts alone (``<revision>_<what it does>.py``, revisions
    numbered in order, each revising the one before: ``test_migrations`` holds the scripts to that), so that checking
    a catalog's schema does not import Alembic."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob(REVISION_FILES))


def state(conn: Connection) -> SchemaState:
    """Where the schema of the catalog behind ``conn`` is (read only)."""
    tables = set(inspect(conn).get_table_names())
    revision = None
    if VERSION_TABLE in tables:
        revision = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one_or_none()
    return SchemaState(revision, head(), legacy=revision is None and bool(tables & BASELINE_TABLES))


def upgrade(engine: Engine) -> tuple[SchemaState, SchemaState]:
    """Bring the catalog's schema to the head in one write transaction (so concurrent upgrades queue; a catalog at the
    head is only read); a catalog from before migrations is stamped as the baseline first. Returns the states before
    and after.

    Raises
    ------
    SchemaError
        A catalog from before migrations that lacks some of the baseline's tables, or one at a revision this release
        does not know (made by a newer release).
    """
    with engine.connect() as conn:
        found = state(conn)
    if found.at_head:
        return found, found
    from alembic import command

    with _migration_connection(engine) as conn:
        before = state(conn)
        config = alembic_config(conn)
        if before.at_head:  # another process upgraded it meanwhile
            return before, before
        if before.revision is not None and before.revision not in _known_revisions():
            raise SchemaError(f"the catalog's schema is at revision {before.revision}, which this release does not know "
                              f"(its newest is {before.head}): it was upgraded by a newer hydroserve")
        if before.legacy:
            missing = BASELINE_TABLES - set(inspect(conn).get_table_names())
            if missing:
                raise SchemaError(f"the catalog has some of the tables of a catalog from before migrations but not "
                                  f"{', '.join(sorted(missing))}: it is not one hydroserve made; restore it from a backup")
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        after = state(conn)
    return before, after


def _known_revisions() -> set[str]:
    return {script.revision for script in _scripts().walk_revisions()}


def require_head(conn: Connection) -> None:
    """Raise :class:`SchemaError` (saying to upgrade) unless the catalog's schema is at the head."""
    found = state(conn)
    if found.legacy:
        raise SchemaError(f"the catalog was made before schema migrations: {UPGRADE_HINT} (it upgrades it in place "
                          f"to {found.head})")
    if not found.at_head:
        raise SchemaError(f"the catalog's schema is at revision {found.revision or 'none'}, this release needs "
                          f"{found.head}: {UPGRADE_HINT}")


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A write transaction for migrations. On SQLite, foreign keys are off while it runs (batch migrations copy tables,
    which the checks would refuse half-way; ``PRAGMA foreign_keys`` cannot change inside a transaction) and are
    checked as a whole before it commits."""
    conn = writer(engine).connect()
    sqlite = conn.dialect.name == "sqlite"
    try:
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        with conn.begin():
            yield conn
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() if sqlite else []
            if broken:
                raise SchemaError(f"the migration would leave rows whose foreign keys point nowhere: {broken[:5]}")
    finally:
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
        conn.close()
