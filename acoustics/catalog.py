"""The acoustic catalog: tables (SQLAlchemy Core) and the queries on them.

This module owns the acoustic part of the schema:

``sensors``          one row per sensor seen, with the ingest resume cursor and what the sensor holds (package and
                     skipped-window counts, oldest and newest package: kept by :mod:`.catalog_by_sensor`);
``packages``         one row per data package (snippet), visible once committed;
``products``         one row per product of a package (raw, wav, mp3, psd): its current version;
``skipped_windows``  windows that had data but were not kept, and why;
``damaged_blobs``    blobs whose bytes did not match their checksums, and when they were repaired
                     (queries in :mod:`.integrity`; owners are packages and event tables);
``expired_products`` products deleted by the retention rules: when, why, and whether their blobs are
                     gone yet (written by :mod:`.retention`; the product row itself stays).

Times are integer 16 ns ticks since the Unix epoch (exact); RFC 3339
strings are made at the edges. What the catalog says per sensor (counts,
first and last packages, packages per time bin) is in :mod:`.catalog_by_sensor`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from functools import lru_cache

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection

from hydroserve.codecs.raw import TICKS_PER_SECOND, SensorId
from hydroserve.codecs.times import as_utc, rfc3339

from .product_record import ProductRecord, ProductSummary
from .window import Run, Window

metadata = MetaData()

sensors = Table(
    "sensors",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("dom_id", BigInteger, nullable=False),
    Column("channel", Integer, nullable=False),
    Column("next_boundary_tick", BigInteger, nullable=True, comment="windows before this are final (resume cursor)"),
    Column("n_packages", BigInteger, nullable=False, server_default=text("0"),
           comment="packages of the sensor, counted in each package's transaction (a count per scrape would read them all)"),
    # the state /metrics and the sensor list show, kept in each package's or skip's transaction (catalog_by_sensor)
    Column("n_skipped_windows", BigInteger, nullable=False, server_default=text("0"),
           comment="skipped windows of the sensor, counted in each skip's transaction"),
    Column("oldest_boundary_tick", BigInteger, nullable=True, comment="window start of the oldest package; NULL: none"),
    Column("oldest_start_tick", BigInteger, nullable=True, comment="first sample of the oldest package"),
    Column("newest_boundary_tick", BigInteger, nullable=True, comment="window start of the newest package; NULL: none"),
    Column("newest_end_tick", BigInteger, nullable=True, comment="end of the last sample of the newest package"),
    Column("newest_package_id", String(96), nullable=True, comment="the newest package (latest window)"),
    Column("newest_timestamp_deviation", JSON(none_as_null=True), nullable=True,
           comment="its raw product's input_timestamp_deviation (the raw product is never rebuilt); NULL: none"),
)

packages = Table(
    "packages",
    metadata,
    Column("package_id", String(96), primary_key=True),
    Column("sensor_id", String(64), ForeignKey("sensors.sensor_id"), nullable=False),
    Column("boundary_tick", BigInteger, nullable=False),
    Column("start_tick", BigInteger, nullable=False),
    Column("end_tick", BigInteger, nullable=False),
    Column("n_samples", BigInteger, nullable=False),
    Column("n_expected", BigInteger, nullable=False),
    Column("runs", JSON, nullable=False, comment="[[start_tick, first_sample, n_samples], ...]"),
    Column("window_size", Integer, nullable=False),
    Column("samples_key", String(255), nullable=False),
    Column("sources", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("software_version", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("packages_by_sensor_time", "sensor_id", "boundary_tick", "package_id"),  # keyset pages in their order
    Index("packages_by_time", "boundary_tick", "package_id"),
    Index("packages_by_created", "created_at"),  # retention reads the oldest archived first
)

products = Table(
    "products",
    metadata,
    Column("package_id", String(96), ForeignKey("packages.package_id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("media_type", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("blob_key", String(255), nullable=True, comment="NULL for views on the samples blob"),
    Column("details", JSON, nullable=False),
    Column("version", Integer, nullable=False, server_default=text("1"), comment="1 as made at ingest, +1 per rebuild that changed it"),
    Column("job_id", BigInteger, nullable=True, comment="the reprocessing job that made this version; NULL: made at ingest"),
    # none_as_null: None is stored as SQL NULL (the comments' NULL), which a reader does not decode, not as JSON null
    Column("settings", JSON(none_as_null=True), nullable=True, comment="the settings that made this version; NULL: the package's"),
    Column("software_version", String(32), nullable=True, comment="the software that made this version; NULL: the package's"),
    Column("made_at", DateTime(timezone=True), nullable=True, comment="when this version was made; NULL: the package's created_at"),
    Column("replaces", JSON(none_as_null=True), nullable=True, comment="summary of the version this one replaced; NULL for version 1"),
    # a listing's products in the index alone (an index-only scan), a sensor's packages side by side in package id order
    Index("products_summary", "package_id", "kind", "media_type", "size_bytes", "sha256"),
)

skipped_windows = Table(
    "skipped_windows",
    metadata,
    Column("sensor_id", String(64), ForeignKey("sensors.sensor_id"), primary_key=True),
    Column("boundary_tick", BigInteger, primary_key=True),
    Column("n_samples", BigInteger, nullable=False),
    Column("n_expected", BigInteger, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

damaged_blobs = Table(
    "damaged_blobs",
    metadata,
    Column("blob_key", String(255), primary_key=True),
    Column("owner", String(128), nullable=False, comment="the package id or event-table id the blob belongs to"),
    Column("detail", String(500), nullable=False, comment="what did not match: which chunk, or the size"),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("repaired_at", DateTime(timezone=True), nullable=True, comment="NULL while the blob is damaged"),
    Index("damaged_blobs_by_owner", "owner"),
)


expired_products = Table(
    "expired_products",
    metadata,
    Column("package_id", String(96), ForeignKey("packages.package_id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("expired_at", DateTime(timezone=True), nullable=False, comment="when it was marked deleted (served as 410 since)"),
    Column("reason", String(500), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=True, comment="when its blobs were deleted; NULL: still to do"),
    Index("expired_products_to_purge", "purged_at"),
)


@dataclass(frozen=True)
class Expiry:
    """A product deleted by retention: ``expired_at`` (UTC) and the ``reason`` (which rule)."""

    expired_at: datetime
    reason: str

    def as_json(self) -> dict:
        return {"expired_at": rfc3339(self.expired_at), "reason": self.reason}


def expired(conn: Connection, package_ids: list[str]) -> dict[str, dict[str, Expiry]]:
    """The deleted products of each package in ``package_ids`` (kind -> :class:`Expiry`); packages with none are absent.

    Read fresh on every request: package records are cached, their products' expiry is not."""
    found: dict[str, dict[str, Expiry]] = {}
    if package_ids:
        query = select(expired_products).where(expired_products.c.package_id.in_(package_ids))
        for row in conn.execute(query):
            found.setdefault(row.package_id, {})[row.kind] = Expiry(as_utc(row.expired_at), row.reason)
    return found


@dataclass(frozen=True)
class PackageSummary(Window):
    """A data package as a listing shows it: its window and runs (see :class:`~.window.Window`), when it was archived,
    and its products' kinds, media types, sizes and checksums (:func:`list_package_summaries` reads no more)."""

    created_at: datetime
    products: dict[str, ProductSummary] = field(default_factory=dict)
    expired: dict[str, Expiry] = field(default_factory=dict)
    """The products deleted by retention (kind -> :class:`Expiry`): listed in ``products`` still, their bytes gone."""


@dataclass(frozen=True, kw_only=True)
class PackageRecord(PackageSummary):
    """A catalogued data package: its summary, where its samples are, how it was made, and its products in full."""

    window_size: int
    samples_key: str
    sources: tuple[str, ...]
    settings: dict
    software_version: str
    products: dict[str, ProductRecord] = field(default_factory=dict)


def package_row(record: PackageRecord) -> dict:
    return {
        "package_id": record.package_id,
        "sensor_id": str(record.sensor),
        "boundary_tick": record.boundary_tick,
        "start_tick": record.start_tick,
        "end_tick": record.end_tick,
        "n_samples": record.n_samples,
        "n_expected": record.n_expected,
        "runs": [[r.start_tick, r.first_sample, r.n_samples] for r in record.runs],
        "window_size": record.window_size,
        "samples_key": record.samples_key,
        "sources": list(record.sources),
        "settings": record.settings,
        "software_version": record.software_version,
        "created_at": record.created_at,
    }


def product_row(package_id: str, p: ProductRecord) -> dict:
    return {
        "package_id": package_id,
        "kind": p.kind,
        "media_type": p.media_type,
        "size_bytes": p.size_bytes,
        "sha256": p.sha256,
        "blob_key": p.blob_key,
        "details": p.details,
        "version": p.version,
        "job_id": p.job_id,
        "settings": p.settings,
        "software_version": p.software_version,
        "made_at": p.made_at,
        "replaces": p.replaces,
    }


def product_rows(record: PackageRecord) -> list[dict]:
    return [product_row(record.package_id, p) for p in record.products.values()]


def add_product(conn: Connection, package_id: str, product: ProductRecord) -> None:
    """Add ``product``, of a kind the package does not have yet (made by reprocessing)."""
    conn.execute(insert(products).values(**product_row(package_id, product)))


def replace_product(conn: Connection, package_id: str, product: ProductRecord, replaced_version: int) -> bool:
    """Make ``product`` the current version of its kind if the current one is still ``replaced_version``
    (compare and set); False when another version was committed meanwhile (nothing changed)."""
    done = conn.execute(
        update(products)
        .where(products.c.package_id == package_id, products.c.kind == product.kind, products.c.version == replaced_version)
        .values(**product_row(package_id, product))
    )
    return done.rowcount == 1


@lru_cache(maxsize=1 << 14)
def _sensor(sensor_id: str) -> SensorId:
    """A row's sensor, parsed once per sensor (a full detector has 6,555)."""
    return SensorId.parse(sensor_id)


@lru_cache(maxsize=256)
def _duration_ticks(snippet_duration_s: str) -> int:
    """A cutting duration of the settings (a catalog holds a few) in ticks."""
    return int(Fraction(snippet_duration_s) * TICKS_PER_SECOND)


def _summary_fields(row, snippet_duration_s: str, expiries: dict[str, Expiry]) -> dict:
    """What a package row gives :class:`PackageSummary` and :class:`PackageRecord` alike, but the products."""
    return {
        "sensor": _sensor(row.sensor_id),
        "boundary_tick": row.boundary_tick,
        # the window's end is the cutting duration of its time (older rows have no column for it)
        "window_end_tick": row.boundary_tick + _duration_ticks(snippet_duration_s),
        "n_expected": row.n_expected,
        "runs": tuple(Run(*r) for r in row.runs),
        "created_at": as_utc(row.created_at),
        "expired": expiries,
    }


def _record(row, product_list, expiries: dict[str, Expiry]) -> PackageRecord:
    return PackageRecord(
        **_summary_fields(row, row.settings["snippet_duration_s"], expiries),
        window_size=row.window_size,
        samples_key=row.samples_key,
        sources=tuple(row.sources),
        settings=row.settings,
        software_version=row.software_version,
        products={p.kind: _product(p) for p in product_list},
    )


def _product(p) -> ProductRecord:
    return ProductRecord(p.kind, p.media_type, p.size_bytes, p.sha256, p.blob_key, p.details, version=p.version,
                         job_id=p.job_id, settings=p.settings, software_version=p.software_version,
                         made_at=None if p.made_at is None else as_utc(p.made_at), replaces=p.replaces)


def _summary(row, product_list, expiries: dict[str, Expiry]) -> PackageSummary:
    return PackageSummary(
        **_summary_fields(row, row.snippet_duration_s, expiries),
        # by position: (package_id, kind, media_type, size_bytes, sha256), SUMMARY_PRODUCT_COLUMNS
        products={p[1]: ProductSummary(p[1], p[2], p[3], p[4]) for p in product_list},
    )


SUMMARY_COLUMNS = (packages.c.package_id, packages.c.sensor_id, packages.c.boundary_tick, packages.c.n_expected,
                   packages.c.runs, packages.c.created_at, packages.c.settings["snippet_duration_s"].label("snippet_duration_s"))
SUMMARY_PRODUCT_COLUMNS = (products.c.package_id, products.c.kind, products.c.media_type, products.c.size_bytes,
                           products.c.sha256)
"""What a summary is made of: not the JSON it does not show (of the package's settings only the cutting duration, of its
products neither details, settings nor what they replace)."""


def _with_products(conn: Connection, rows, product_columns=(products,), make=_record) -> list:
    """``make(row, its product rows, its expiries)`` of each package row, the products read with ``product_columns``."""
    ids = [row.package_id for row in rows]
    by_package: dict[str, list] = {pid: [] for pid in ids}
    if ids:
        # in kind order, whichever way the plan reads them (a bitmap scan gives the heap's order)
        query = select(*product_columns).where(products.c.package_id.in_(ids)).order_by(products.c.package_id, products.c.kind)
        for p in conn.execute(query):
            by_package[p[0]].append(p)  # the package id: first of the products table and of SUMMARY_PRODUCT_COLUMNS
    expiries = expired(conn, ids)
    return [make(row, by_package[row.package_id], expiries.get(row.package_id, {})) for row in rows]


def get_package(conn: Connection, pid: str) -> PackageRecord | None:
    row = conn.execute(select(packages).where(packages.c.package_id == pid)).first()
    return None if row is None else _with_products(conn, [row])[0]


def package_exists(conn: Connection, pid: str) -> bool:
    return conn.execute(select(packages.c.package_id).where(packages.c.package_id == pid)).first() is not None


def holds_packages(conn: Connection) -> bool:
    """Whether the catalog holds any package (reads the packages table only, so it works on any schema revision)."""
    return conn.execute(select(packages.c.package_id).limit(1)).first() is not None


def list_packages(conn: Connection, **bounds) -> list[PackageRecord]:
    """Packages whose window starts in [start_tick, end_tick), ordered by
    (boundary_tick, package_id) descending (newest first) or ascending, after
    the keyset position ``after`` = (boundary_tick, package_id); ``bounds``: the keywords of :func:`_package_rows`."""
    return _with_products(conn, _package_rows(conn, (packages,), **bounds))


def list_package_summaries(conn: Connection, **bounds) -> list[PackageSummary]:
    """The summaries of the packages :func:`list_packages` lists with the same ``bounds``, in the same order."""
    return _with_products(conn, _package_rows(conn, SUMMARY_COLUMNS, **bounds), SUMMARY_PRODUCT_COLUMNS, _summary)


def _package_rows(
    conn: Connection,
    columns,
    *,
    sensor: str | None = None,
    start_tick: int | None = None,
    end_tick: int | None = None,
    after: tuple[int, str] | None = None,
    newest_first: bool = True,
    limit: int = 100,
):
    """The ``columns`` of the packages of ``sensor`` (None: every sensor's) whose window starts in [start_tick,
    end_tick), in the order and after the position :func:`list_packages` says, at most ``limit``."""
    query = select(*columns)
    if sensor is not None:
        query = query.where(packages.c.sensor_id == sensor)
    if start_tick is not None:
        query = query.where(packages.c.boundary_tick >= start_tick)
    if end_tick is not None:
        query = query.where(packages.c.boundary_tick < end_tick)
    key_tick, key_id = packages.c.boundary_tick, packages.c.package_id
    if after is not None:
        # a row comparison, so the index (sensor_id, boundary_tick, package_id) starts the scan at the position
        key = tuple_(key_tick, key_id)
        query = query.where(key < tuple_(*after) if newest_first else key > tuple_(*after))
    order = (key_tick.desc(), key_id.desc()) if newest_first else (key_tick.asc(), key_id.asc())
    return conn.execute(query.order_by(*order).limit(limit)).all()


def neighbours(conn: Connection, record: PackageRecord) -> tuple[str | None, str | None]:
    """Ids of the previous and next package of the same sensor."""
    same = packages.c.sensor_id == str(record.sensor)
    before = conn.execute(
        select(packages.c.package_id).where(same, packages.c.boundary_tick < record.boundary_tick)
        .order_by(packages.c.boundary_tick.desc()).limit(1)
    ).scalar()
    after = conn.execute(
        select(packages.c.package_id).where(same, packages.c.boundary_tick > record.boundary_tick)
        .order_by(packages.c.boundary_tick.asc()).limit(1)
    ).scalar()
    return before, after


def cursor(conn: Connection, sensor: SensorId) -> int | None:
    return conn.execute(select(sensors.c.next_boundary_tick).where(sensors.c.sensor_id == str(sensor))).scalar()
