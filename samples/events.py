"""A seeded synthetic particle-event table with its metadata, for the demo, the tests and users.

The events imitate a reconstructed event sample of a deep-sea neutrino
telescope at the ARCA site (36.27 deg N, 16.10 deg E): mostly down-going
atmospheric-muon-like events (zenith angle below 85 deg, zenith distribution
falling like cos^3, steep power-law energies) and a few percent up-going
neutrino-like events (zenith above 95 deg, isotropic below the horizon,
E^-2 energies up to 10 PeV). Each event has an identifier, a run number,
a time (MJD and UTC), the reconstructed arrival direction (zenith/azimuth,
a unit vector of the travel direction, and RA/Dec), an angular error, an
energy, a hit count, a fit likelihood, a neutrino score and a
classification.

RA/Dec follow from zenith, azimuth and time through the Greenwich mean
sidereal time (no precession, nutation or aberration): consistent, not
astrometric. The same ``seed`` and ``n_events`` give the same table.

``python -m hydroserve.samples.events [DIRECTORY]`` writes the example that
``samples/events/`` ships: ``<table id>.csv`` and ``<table id>.meta.json``
(``--table-id``, ``--n-events`` and ``--seed`` make other tables).
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from hydroserve.codecs import csvtable
from hydroserve.codecs.table_metadata import (
    DEC_UCD,
    ID_UCD,
    RA_UCD,
    Column,
    DataTaking,
    ProvenanceStep,
    Publication,
    TableMetadata,
    encode_metadata,
)
from hydroserve.codecs.tables import EventTable

EXAMPLE_DIR = Path(__file__).parent / "events"
TABLE_ID = "synthetic_arca_2023"
SITE_LATITUDE_DEG = 36.2667
SITE_LONGITUDE_DEG = 16.1000
START = datetime(2023, 1, 1, tzinfo=UTC)
STOP = datetime(2023, 3, 1, tzinfo=UTC)
RUN_LENGTH_S = 6 * 3600
FIRST_RUN = 14000
NEUTRINO_FRACTION = 0.03
MJD_UNIX_EPOCH = 40587.0
US_PER_DAY = 86_400_000_000

COLUMNS = (
    Column("event_id", "string", "", "event identifier: SYN-<run>-<event number in the run>", "km3net:events:event_id", ID_UCD, 1),
    Column("run_id", "int64", "", "data-taking run number (runs of 6 h)", "km3net:events:run_id", "meta.id.part", 3),
    Column("time_mjd", "float64", "d", "event time, Modified Julian Date (UTC)", "km3net:events:time_mjd", "time.epoch", 1),
    Column("time_utc", "string", "", "event time, ISO 8601 UTC with microseconds", "km3net:events:time_utc", "time.epoch", 3),
    Column("ra_deg", "float64", "deg", "right ascension of the reconstructed arrival direction (ICRS)", "km3net:events:ra", RA_UCD, 1),
    Column("dec_deg", "float64", "deg", "declination of the reconstructed arrival direction (ICRS)", "km3net:events:dec", DEC_UCD, 1),
    Column("angular_error_deg", "float32", "deg", "estimated angular error of the direction (1 sigma)", "km3net:events:angular_error",
           "stat.error;pos", 1),
    Column("energy_gev", "float32", "GeV", "reconstructed energy", "km3net:events:energy", "phys.energy", 2),
    Column("zenith_deg", "float32", "deg", "zenith angle of the arrival direction (0: from straight above)", "km3net:events:zenith",
           "pos.az.zd", 2),
    Column("azimuth_deg", "float32", "deg", "azimuth of the arrival direction, from north through east", "km3net:events:azimuth",
           "pos.az.azi", 2),
    Column("dir_x", "float32", "", "travel direction unit vector, east component", "km3net:events:dir_x", "pos.cartesian.x", 3),
    Column("dir_y", "float32", "", "travel direction unit vector, north component", "km3net:events:dir_y", "pos.cartesian.y", 3),
    Column("dir_z", "float32", "", "travel direction unit vector, up component (negative: down-going)", "km3net:events:dir_z",
           "pos.cartesian.z", 3),
    Column("n_hits", "int32", "", "number of photon hits used by the track fit", "km3net:events:n_hits", "meta.number", 2),
    Column("likelihood", "float32", "", "reduced log-likelihood of the track fit", "km3net:events:likelihood", "stat.likelihood", 3),
    Column("neutrino_score", "float32", "", "classifier probability that the event is a neutrino", "km3net:events:neutrino_score",
           "stat.probability", 2),
    Column("classification", "string", "", "muon-like or neutrino-like", "km3net:events:classification", "meta.code.class", 2),
    Column("is_upgoing", "bool", "", "true if the event comes from below the horizon", "km3net:events:is_upgoing", "meta.code", 2),
)


def metadata(n_events: int, seed: int, *, table_id: str = TABLE_ID) -> TableMetadata:
    """The metadata of the synthetic table."""
    return TableMetadata(
        id=table_id,
        title="Synthetic ARCA-like particle events, January-February 2023",
        columns=COLUMNS,
        provenance=(
            ProvenanceStep("hydroserve:samples:synthetic-events",
                           "seeded synthetic events standing in for triggered, calibrated and reconstructed events",
                           software="hydroserve.samples.events", version="1",
                           parameters={"seed": seed, "n_events": n_events, "neutrino_fraction": NEUTRINO_FRACTION}),
            ProvenanceStep("hydroserve:samples:event-table",
                           "one row per event: parameter selection, unit conversion and metadata annotation",
                           software="hydroserve.samples.events", version="1"),
        ),
        data_taking=DataTaking(
            start=START, stop=STOP, detector="ARCA21 (synthetic)",
            event_selection="synthetic: down-going muon-like events with zenith < 85 deg and up-going neutrino-like "
                            "events with zenith > 95 deg; no real selection applied",
            livetime_s=float(round(0.92 * (STOP - START).total_seconds())),
        ),
        publication=Publication(
            publisher="KM3NeT Collaboration", owner="KM3NeT Collaboration", created=date(2024, 1, 15), version="1.0",
            description="A synthetic event table for demonstrating the publication of particle events with full metadata "
                        "as CSV, HDF5 and VOTable and through an IVOA Simple Cone Search. Not physics data.",
            contact="opendata@km3net.de",
        ),
    )


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    """``values`` (positive) rounded to ``digits`` significant digits."""
    scale = 10.0 ** (np.floor(np.log10(values)) - digits + 1)
    return np.round(values / scale) * scale


def _power_law(rng: np.random.Generator, n: int, index: float, low: float, high: float) -> np.ndarray:
    """Samples of dN/dE ~ E^-index on [low, high] (index != 1), by inverting the CDF."""
    a = 1.0 - index
    u = rng.random(n)
    return (low**a + u * (high**a - low**a)) ** (1.0 / a)


def equatorial(zenith_deg: np.ndarray, azimuth_deg: np.ndarray, time_mjd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RA and Dec (deg) of local arrival directions at the site, via the Greenwich mean sidereal time.

    Azimuth counts from north through east; RA is in [0, 360).
    """
    gmst_deg = 280.46061837 + 360.98564736629 * (time_mjd + 2400000.5 - 2451545.0)
    lst = np.radians(gmst_deg + SITE_LONGITUDE_DEG)
    alt, az, lat = np.radians(90.0 - zenith_deg), np.radians(azimuth_deg), np.radians(SITE_LATITUDE_DEG)
    dec = np.arcsin(np.sin(lat) * np.sin(alt) + np.cos(lat) * np.cos(alt) * np.cos(az))
    hour_angle = np.arctan2(-np.sin(az) * np.cos(alt), np.cos(lat) * np.sin(alt) - np.sin(lat) * np.cos(alt) * np.cos(az))
    return np.degrees(lst - hour_angle) % 360.0, np.degrees(dec)


def generate(n_events: int = 3000, seed: int = 2023, *, table_id: str = TABLE_ID) -> EventTable:
    """The synthetic event table.

    Parameters
    ----------
    n_events : int
        Number of events (at least 2: there is always one neutrino-like event).
    seed : int
        Seed of the random generator.
    table_id : str
        Identifier of the table.
    """
    if n_events < 2:
        raise ValueError(f"{n_events=} must be at least 2")
    rng = np.random.default_rng(seed)
    n_nu = max(1, round(n_events * NEUTRINO_FRACTION))
    n_mu = n_events - n_nu
    upgoing = np.zeros(n_events, dtype=bool)
    upgoing[rng.choice(n_events, n_nu, replace=False)] = True

    cos_min_mu = np.cos(np.radians(85.0))
    cos_zenith = np.empty(n_events)
    cos_zenith[~upgoing] = (cos_min_mu**4 + rng.random(n_mu) * (1.0 - cos_min_mu**4)) ** 0.25
    cos_zenith[upgoing] = rng.uniform(-1.0, np.cos(np.radians(95.0)), n_nu)
    zenith = np.round(np.degrees(np.arccos(cos_zenith)), 4)
    azimuth = np.round(rng.uniform(0.0, 360.0, n_events), 4) % 360.0
    energy = np.empty(n_events)
    energy[~upgoing] = _power_law(rng, n_mu, 3.0, 10.0, 1e5)
    energy[upgoing] = _power_law(rng, n_nu, 2.0, 1e2, 1e7)
    energy = _significant(energy, 4)

    start_us = int(START.timestamp() * 1_000_000)
    unix_us = np.sort(rng.integers(start_us, int(STOP.timestamp() * 1_000_000), n_events))
    run = FIRST_RUN + (unix_us - start_us) // (RUN_LENGTH_S * 1_000_000)
    number_in_run = np.arange(n_events) - np.searchsorted(run, run, side="left")
    time_mjd = MJD_UNIX_EPOCH + unix_us / US_PER_DAY
    time_utc = np.char.add(np.datetime_as_string(unix_us.astype("datetime64[us]"), unit="us"), "Z")
    ra, dec = equatorial(zenith, azimuth, time_mjd)
    ra, dec = np.round(ra, 5) % 360.0, np.round(dec, 5)

    sin_zenith = np.sqrt(1.0 - np.cos(np.radians(zenith)) ** 2)
    direction = -np.stack([sin_zenith * np.sin(np.radians(azimuth)), sin_zenith * np.cos(np.radians(azimuth)),
                           np.cos(np.radians(zenith))])
    log_e = np.log10(energy)
    error = np.where(upgoing, 1.5 * (energy / 1e3) ** -0.4, 3.0 * (energy / 1e2) ** -0.3) * rng.lognormal(0.0, 0.25, n_events)
    n_hits = rng.poisson(np.where(upgoing, 30.0, 20.0) + 15.0 * (log_e - 1.0))
    likelihood = np.where(upgoing, rng.normal(-4.8, 0.6, n_events), rng.normal(-5.5, 0.8, n_events))
    score = np.where(upgoing, rng.beta(8.0, 2.0, n_events), rng.beta(1.0, 12.0, n_events))
    classification = np.where(upgoing & (score >= 0.5), "neutrino-like", "muon-like")
    data = {
        "event_id": np.array([f"SYN-{r}-{k:06d}" for r, k in zip(run.tolist(), number_in_run.tolist())], dtype=np.str_),
        "run_id": run.astype(np.int64),
        "time_mjd": time_mjd,
        "time_utc": time_utc.astype(np.str_),
        "ra_deg": ra,
        "dec_deg": dec,
        "angular_error_deg": np.round(np.clip(error, 0.05, 15.0), 3).astype(np.float32),
        "energy_gev": energy.astype(np.float32),
        "zenith_deg": zenith.astype(np.float32),
        "azimuth_deg": azimuth.astype(np.float32),
        "dir_x": np.round(direction[0], 6).astype(np.float32),
        "dir_y": np.round(direction[1], 6).astype(np.float32),
        "dir_z": np.round(direction[2], 6).astype(np.float32),
        "n_hits": np.maximum(n_hits, 5).astype(np.int32),
        "likelihood": np.round(likelihood, 3).astype(np.float32),
        "neutrino_score": np.round(score, 4).astype(np.float32),
        "classification": classification.astype(np.str_),
        "is_upgoing": upgoing,
    }
    return EventTable(metadata(n_events, seed, table_id=table_id), data)


def write_example(directory: Path, table: EventTable) -> tuple[Path, Path]:
    """Write ``<id>.csv`` and ``<id>.meta.json`` into ``directory``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / f"{table.metadata.id}.csv"
    meta_path = directory / f"{table.metadata.id}.meta.json"
    csv_path.write_bytes(csvtable.encode(table))
    meta_path.write_bytes(encode_metadata(table.metadata))
    return csv_path, meta_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the synthetic event table (CSV) and its metadata (JSON).")
    parser.add_argument("directory", nargs="?", type=Path, default=EXAMPLE_DIR)
    parser.add_argument("--n-events", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--table-id", default=TABLE_ID, help=f"the table's id (default {TABLE_ID}; a new id makes a new table)")
    args = parser.parse_args(argv)
    for path in write_example(args.directory, generate(args.n_events, args.seed, table_id=args.table_id)):
        print(path)


if __name__ == "__main__":
    main()
