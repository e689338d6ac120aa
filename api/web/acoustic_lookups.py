"""Finding the packages and sensors a request names (404 when there are none), for the API and the pages."""

from __future__ import annotations


from flask import abort

from hydroserve.acoustics import catalog, catalog_by_sensor, current_psd
from hydroserve.acoustics.catalog import PackageRecord, PackageSummary
from hydroserve.codecs.raw import SensorId
from hydroserve.codecs.times import datetime_to_tick

from . import errors
from .acoustic_documents import sensor_json
from .acoustic_schemas import PACKAGE_PATTERN, SENSOR_PATTERN
from .lookup import check_id, load_or_404
from .services import services


def load_package(package_id: str) -> PackageRecord:
    """The published package ``package_id``, as the catalog has it now, with its products' versions and expiries (not
    cached: reprocessing and retention change them, on any node)."""

    def from_catalog():
        with services().engine.connect() as conn:
            return catalog.get_package(conn, package_id)

    return load_or_404("package", package_id, PACKAGE_PATTERN, from_catalog)


def load_live(package_id: str, *kinds: str) -> PackageRecord:
    """The package, if none of its products ``kinds`` was deleted by retention; 410 Gone (problem+json saying when and
    why) otherwise."""
    record = load_package(package_id)
    for kind in kinds:
        if kind in record.expired:
            raise errors.ProductExpired(record, kind, record.expired[kind])
    return record


def load_current_psd(package_id: str) -> current_psd.CurrentPsd:
    """The current PSD of the package, as this process keeps it while the catalog says the package did not change
    (:class:`~.services.PackageCache`), else in one query; 404 as :func:`load_package`, 410 as :func:`load_live` (which
    then reads the whole record, to say which products are still served)."""

    def from_catalog():
        with services().engine.connect() as conn:
            return current_psd.current_psd(conn, package_id)

    current = load_or_404("package", package_id, PACKAGE_PATTERN, lambda: services().current_psds.get(package_id, from_catalog))
    if current.expired:
        load_live(package_id, "psd")
    return current


def with_live(records: list[PackageRecord], kind: str) -> list[PackageRecord]:
    """``records`` without those whose product ``kind`` was deleted by retention."""
    return [record for record in records if kind not in record.expired]


def load_sensor(sensor: str, *, listed_without_data: bool = False) -> dict:
    """The JSON document of a sensor; 404 unless it has data here (or, ``listed_without_data``, is in the sensors
    file: a document without packages)."""
    check_id(sensor, SENSOR_PATTERN, "sensor")
    with services().engine.connect() as conn:
        summaries = catalog_by_sensor.sensor_summaries(conn, sensor)
    parsed = SensorId.parse(sensor)
    if summaries:
        return sensor_json(services().sensors.info(parsed), summaries[0])
    if listed_without_data and parsed in services().sensors.sensors:
        return sensor_json(services().sensors.info(parsed), None)
    abort(404, description=f"No sensor {sensor!r} has data here.")


def latest_packages(sensor: str, n: int) -> list[PackageRecord]:
    """The sensor's ``n`` latest packages, oldest first; 404 if it has none."""
    check_id(sensor, SENSOR_PATTERN, "sensor")
    with services().engine.connect() as conn:
        records = catalog.list_packages(conn, sensor=sensor, newest_first=True, limit=n)
    if not records:
        abort(404, description=f"No sensor {sensor!r} has data here.")
    return records[::-1]


def _bounded_tick(moment) -> int:
    """A query bound as a tick, held inside the 64-bit range of the catalog (years before 4892)."""
    return max(-(2**63), min(2**63 - 1, datetime_to_tick(moment)))


def package_page(*, order: str, limit: int, sensor=None, start=None, end=None,
                 cursor=None) -> tuple[list[PackageSummary], list | None]:
    """One page of package summaries (``order`` "newest" or "oldest") after the decoded ``cursor``, and the
    cursor values of the next page (None on the last page); 400 for a cursor of the other order."""
    newest_first = order == "newest"
    after = None
    if cursor is not None:
        tick, package_id, cursor_order = cursor
        if cursor_order != order:
            abort(400, description="Invalid query parameter 'cursor': it belongs to the other order.")
        after = (tick, package_id)
    with services().engine.connect() as conn:
        records = catalog.list_package_summaries(
            conn,
            sensor=sensor,
            start_tick=None if start is None else _bounded_tick(start),
            end_tick=None if end is None else _bounded_tick(end),
            after=after,
            newest_first=newest_first,
            limit=limit + 1,
        )
    page = records[:limit]
    if len(records) <= limit:
        return page, None
    return page, [page[-1].boundary_tick, page[-1].package_id, order]
