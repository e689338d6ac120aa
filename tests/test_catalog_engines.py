"""The catalog engine (api/db.py) on SQLite and PostgreSQL: write transactions are serialised, a writer waits at
most the busy timeout for its turn, readers never wait for writers, and PostgreSQL sessions run in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from hydroserve.acoustics.catalog import products
from hydroserve.api import schema
from hydroserve.api.catalog_identity import catalog_identity
from hydroserve.api.db import make_engine, writer
from support import archive_two_second_package


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url, busy_timeout_s=0.3)
    schema.upgrade(engine)
    yield engine
    engine.dispose()


def test_a_second_writer_waits_for_the_first_and_gives_up_after_the_busy_timeout(engine):
    with writer(engine).begin() as first:
        first.execute(catalog_identity.insert().values(row=1, catalog_id="first"))
        with pytest.raises(OperationalError, match="locked|lock timeout"):
            with writer(engine).begin() as second:
                second.execute(text("SELECT 1"))
        with engine.connect() as reader:  # a reader neither waits nor sees the uncommitted row
            assert reader.execute(select(catalog_identity.c.catalog_id)).all() == []
    with engine.connect() as reader:
        assert reader.execute(select(catalog_identity.c.catalog_id)).scalars().all() == ["first"]


def test_times_come_back_in_utc(engine):
    moment = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with writer(engine).begin() as conn:
        conn.execute(catalog_identity.insert().values(row=1, catalog_id="x", created=moment))
    with engine.connect() as conn:
        stored = conn.execute(select(catalog_identity.c.created)).scalar_one()
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == moment
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert conn.execute(text("SHOW TimeZone")).scalar_one() == "UTC"


def test_a_product_made_at_ingest_stores_no_version_fields_as_sql_null(settings):
    # SQL NULL, not JSON null: a page of packages reads six product rows each, and a JSON null is decoded every time
    record = archive_two_second_package(settings)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(products.c.kind).where(
                products.c.package_id == record.package_id, products.c.settings.is_(None), products.c.replaces.is_(None),
                products.c.job_id.is_(None))).scalars().all()
    finally:
        engine.dispose()
    assert sorted(rows) == sorted(record.products) and len(rows) == 6
    assert all(p.settings is None and p.replaces is None for p in record.products.values())
