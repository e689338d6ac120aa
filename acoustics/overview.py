"""The detector overview: every sensor of the geometry and the catalog, where it sits and one number per sensor.

The sensors are those of the sensors file (the detector's geometry, with or
without data) and those of the catalog (with data, placed or not). Each gets
one value of a chosen quantity:

* ``broadband``: the broadband level of its latest package, ``10 log10(sum_k
  P_mean(f_k) Δf)`` (:func:`.bands.broadband_level_db`), in dB re 1 uPa^2 when
  calibrated, else dB re 1 (sample unit)^2;
* ``band<i>``: the median PSD of its latest package averaged over band ``i`` of
  :data:`.bands.DEFAULT_BANDS` (dB re 1 uPa^2/Hz, or re 1 (sample unit)^2/Hz);
* ``availability``: the fraction of the package windows of a period that were
  archived, ``n_packages / (period / snippet interval)`` (0 to 1).

Levels come from the summary the ingest keeps with each PSD (see
:func:`.bands.level_summary`); a sensor without data, or whose latest PSD was
deleted by retention, has none (None). Two queries for the whole detector,
whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from hydroserve.codecs.raw import SensorId

from .bands import DEFAULT_BANDS
from .catalog import expired_products, products, sensors
from .sensors import SensorCatalog, SensorInfo, calibration_offset_db

QUANTITIES = {"broadband": "broadband level of the latest package",
              **{f"band{i}": f"median PSD of the latest package in {band.label}" for i, band in enumerate(DEFAULT_BANDS)},
              "availability": "fraction of the period's package windows archived"}


@dataclass(frozen=True)
class Latest:
    """A sensor's package count and latest package, with the level summary of its PSD (None: deleted or not made)."""

    n_packages: int
    package_id: str | None
    boundary_tick: int | None
    levels: dict | None


@dataclass(frozen=True)
class OverviewSensor:
    """A sensor as the overview shows it."""

    info: SensorInfo
    latest: Latest

    @property
    def sensor(self) -> str:
        return str(self.info.sensor)


def latest_packages(conn: Connection) -> dict[str, Latest]:
    """Every catalog sensor's :class:`Latest`, by sensor id: one query, of the sensors' rows (which name their newest
    package: :mod:`.catalog_by_sensor`) and a primary-key lookup of each newest package's PSD."""
    newest = sensors.c.newest_package_id
    psd_expired = (select(func.count()).select_from(expired_products)
                   .where(expired_products.c.package_id == newest, expired_products.c.kind == "psd")
                   .correlate(sensors).scalar_subquery())
    query = (
        select(sensors.c.sensor_id, sensors.c.n_packages, newest, sensors.c.newest_boundary_tick, products.c.details,
               psd_expired.label("psd_expired"))
        .select_from(sensors)
        .outerjoin(products, and_(products.c.package_id == newest, products.c.kind == "psd"))
    )
    found = {}
    for row in conn.execute(query):
        levels = None
        if row.details is not None and not row.psd_expired:
            levels = row.details.get("levels")  # absent in PSDs made before the summary was kept
        found[row.sensor_id] = Latest(row.n_packages, row.newest_package_id, row.newest_boundary_tick, levels)
    return found


def overview_sensors(geometry: SensorCatalog, latest: dict[str, Latest]) -> list[OverviewSensor]:
    """The sensors of the sensors file and of the catalog, ordered by detector, string, floor and id
    (unplaced sensors last)."""
    ids = {str(s) for s in geometry.sensors} | set(latest)
    nothing = Latest(0, None, None, None)
    found = [OverviewSensor(geometry.info(SensorId.parse(sensor)), latest.get(sensor, nothing)) for sensor in ids]

    def order(item: OverviewSensor):
        info = item.info
        return (info.string is None, info.detector or "", info.string or 0, info.floor or 0, item.sensor)

    return sorted(found, key=order)


def level_db(item: OverviewSensor, quantity: str) -> float | None:
    """The sensor's level of ``quantity`` (``broadband`` or ``band<i>``), calibrated if the sensor is; None if unknown."""
    levels = item.latest.levels
    if levels is None:
        return None
    value = levels["broadband_db"] if quantity == "broadband" else levels["band_median_db"][int(quantity[4:])]
    return None if value is None else value + calibration_offset_db(item.info.calibration)


def availability(item: OverviewSensor, counts: dict[str, int], expected: int) -> float:
    """The fraction of ``expected`` package windows archived (capped at 1)."""
    return min(1.0, counts.get(item.sensor, 0) / expected)


def matches(item: OverviewSensor, *, dom: str | None = None, string: int | None = None, floor: int | None = None,
            sensor_type: str | None = None) -> bool:
    """Whether the sensor fits a search: ``dom`` a part of its DOM id (digits), ``string``, ``floor``, ``sensor_type``
    (``unknown`` for sensors of unknown type)."""
    info = item.info
    return ((dom is None or dom in str(info.sensor.dom_id))
            and (string is None or info.string == string)
            and (floor is None or info.floor == floor)
            and (sensor_type is None or (info.type or "unknown") == sensor_type))
