"""Helpers shared by the event-table tests: a table crowded at the poles and across RA = 0/360, brute-force cones."""

from __future__ import annotations

import dataclasses

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from hydroserve.codecs import csvtable
from hydroserve.codecs.table_metadata import encode_metadata
from hydroserve.codecs.tables import EventTable
from hydroserve.samples import events

# (RA, DEC, SR) in degrees: a pole inside the cone, cones crossing a pole, cones across RA = 0/360, ordinary cones
CONES = [
    (0.0, 90.0, 2.0),
    (180.0, 89.2, 1.5),
    (37.0, -89.5, 3.0),
    (0.3, 0.0, 3.0),
    (359.6, 45.0, 3.0),
    (359.999, 20.0, 2.5),
    (120.0, -30.0, 10.0),
    (250.0, 10.0, 35.0),
]


def sky_table(n_events: int = 3000, seed: int = 11, table_id: str = "sky_test") -> EventTable:
    """The synthetic table with positions replaced: uniform on the sphere, clusters at both poles and across RA = 0.

    Includes events exactly at the poles and at RA 0 and just below 360.
    """
    base = events.generate(n_events, seed, table_id=table_id)
    rng = np.random.default_rng(seed)
    n_cluster = n_events // 10
    n_uniform = n_events - 3 * n_cluster - 4
    ra = np.concatenate([
        rng.uniform(0, 360, n_uniform),
        rng.uniform(0, 360, 2 * n_cluster),                                  # pole clusters
        np.mod(rng.uniform(-4, 4, n_cluster), 360.0),                        # across RA = 0
        [0.0, 123.0, 0.0, np.nextafter(360.0, 0.0)],
    ])
    dec = np.concatenate([
        np.degrees(np.arcsin(rng.uniform(-1, 1, n_uniform))),
        90.0 - rng.uniform(0, 4, n_cluster), -90.0 + rng.uniform(0, 4, n_cluster),
        rng.uniform(-5, 50, n_cluster),
        [90.0, -90.0, 45.5, 44.8],
    ])
    data = dict(base.data, ra_deg=ra, dec_deg=dec)
    return EventTable(base.metadata, data)


def brute_force_ids(table: EventTable, ra_deg: float, dec_deg: float, radius_deg: float, *, margin_deg: float = 1e-9):
    """Identifiers within the cone by astropy's separation; also those within ``margin_deg`` of its edge (ambiguous)."""
    centre = SkyCoord(ra_deg * u.deg, dec_deg * u.deg)
    separation = SkyCoord(table.data["ra_deg"] * u.deg, table.data["dec_deg"] * u.deg).separation(centre).deg
    ids = table.data["event_id"]
    inside = set(ids[separation <= radius_deg].tolist())
    edge = set(ids[np.abs(separation - radius_deg) <= margin_deg].tolist())
    return inside, edge, dict(zip(ids.tolist(), separation.tolist()))


def files_of(table: EventTable) -> tuple[bytes, bytes]:
    """The CSV bytes and metadata-file bytes a user would publish."""
    return csvtable.encode(table), encode_metadata(table.metadata)


def with_metadata(table: EventTable, **changes) -> EventTable:
    """The same rows under changed top-level metadata (e.g. another id)."""
    return EventTable(dataclasses.replace(table.metadata, **changes), table.data)
