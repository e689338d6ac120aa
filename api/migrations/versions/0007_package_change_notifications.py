"""0007 package change notifications: on PostgreSQL, every change of a package's rows is announced at commit.

Triggers on ``packages``, ``products`` and ``expired_products`` send ``NOTIFY hydroserve_package_changed`` with the
package id of each row inserted, updated or deleted (PostgreSQL sends one notification per distinct payload and
transaction), and with an empty payload after a ``TRUNCATE`` (every package). API processes listen and forget what
they keep about that package (:mod:`hydroserve.api.catalog_changes`). SQLite needs nothing: a process sees any other
connection's commit in ``PRAGMA data_version``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("packages", "products", "expired_products")
CHANNEL = "hydroserve_package_changed"  # catalog_changes.CHANNEL, frozen here as this revision made it


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION hydroserve_notify_package_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_LEVEL = 'STATEMENT' THEN
                PERFORM pg_notify('{CHANNEL}', '');
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('{CHANNEL}', OLD.package_id);
            ELSE
                PERFORM pg_notify('{CHANNEL}', NEW.package_id);
                IF TG_OP = 'UPDATE' AND OLD.package_id IS DISTINCT FROM NEW.package_id THEN
                    PERFORM pg_notify('{CHANNEL}', OLD.package_id);
                END IF;
            END IF;
            RETURN NULL;
        END
        $$
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION hydroserve_notify_package_changed()")
        op.execute(f"CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION hydroserve_notify_package_changed()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_truncated ON {table}")
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.execute("DROP FUNCTION hydroserve_notify_package_changed()")
