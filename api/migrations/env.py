"""Alembic's environment for the catalog: the connection comes from :mod:`hydroserve.api.schema` (``db upgrade``,
``db init``, the tests); run by the ``alembic`` command (to write a new revision), it opens the catalog of the
hydroserve configuration (``HYDROSERVE_*`` environment, or ``-x config=FILE``) with :func:`hydroserve.api.db.make_engine`.

Migrations are rendered in batch mode, so that an ALTER that SQLite lacks becomes a table copy there and stays a
plain ALTER on PostgreSQL.
"""

from __future__ import annotations

from alembic import context

from hydroserve.api import schema


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=list(schema.METADATAS), render_as_batch=True,
                      compare_type=True, compare_server_default=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("hydroserve's migrations run on a connection (no --sql mode)")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    from hydroserve.api.config import load_settings
    from hydroserve.api.db import make_engine, writer

    settings = load_settings(context.get_x_argument(as_dictionary=True).get("config"))
    engine = make_engine(settings.database_url, busy_timeout_s=settings.database_busy_timeout_s)
    try:
        with writer(engine).connect() as connection:
            run(connection)
    finally:
        engine.dispose()


main()
