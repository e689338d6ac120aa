"""A package's current PSD as ``/psd`` needs it, in one catalog query (the poll of a stored PSD reads nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from hydroserve.codecs.raw import SensorId
from hydroserve.codecs.times import as_utc

from .catalog import expired_products, packages, products


@dataclass(frozen=True)
class CurrentPsd:
    """What answering a package's /psd needs, read in one query (:func:`current_psd`): the package's sensor, start and
    time of archiving, and the current version of its PSD product (its SHA-256 is the stored document's ETag), the nfft
    and calibration it was made with, and whether retention deleted it."""

    package_id: str
    sensor: SensorId
    boundary_tick: int
    created_at: datetime
    sha256: str
    nfft: int
    calibration_tag: str
    expired: bool


_CURRENT_PSD = (
    select(packages.c.sensor_id, packages.c.boundary_tick, packages.c.created_at, products.c.sha256,
           products.c.details["nfft"].as_integer().label("nfft"),
           products.c.details["calibration_tag"].as_string().label("calibration_tag"),
           expired_products.c.expired_at)
    .select_from(packages.join(products, (products.c.package_id == packages.c.package_id) & (products.c.kind == "psd"))
                 .outerjoin(expired_products, (expired_products.c.package_id == packages.c.package_id)
                            & (expired_products.c.kind == "psd")))
    .where(packages.c.package_id == bindparam("package_id"))
)


def current_psd(conn: Connection, pid: str) -> CurrentPsd | None:
    """The package's PSD as /psd needs it (None: no such package), in one primary-key query: a poll of a stored PSD
    reads neither the package's runs nor its other products (:func:`~.catalog.get_package`)."""
    row = conn.execute(_CURRENT_PSD, {"package_id": pid}).first()
    if row is None:
        return None
    return CurrentPsd(pid, SensorId.parse(row.sensor_id), row.boundary_tick, as_utc(row.created_at), row.sha256, row.nfft, row.calibration_tag, row.expired_at is not None)
