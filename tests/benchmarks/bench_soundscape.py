"""Long-term soundscape queries against their goals, from stored sensor-day aggregates filled synthetically.

An archive (SQLite catalog at the head revision, local blob store) gets ``hmd_days`` rows and day aggregates as
ingest and the first requests would leave them: for one sensor, 30 days of SPD histograms (1,440 minutes × 2,787 HMD
bands of synthetic levels per day); for 100 sensors, 30 days of hourly decidecade levels. Timed, each with a fresh
:class:`~hydroserve.acoustics.soundscape.Soundscape` (nothing cached in the process; the files are in the page cache):

1. SPD + percentiles p1..p99 + linear mean over 30 days of one sensor (all 2,787 bands, 1 dB density bins) — goal < 2 s;
   reference in the same run: the same percentiles by ``numpy.percentile`` over the minutes themselves, for 3 days
   (the minutes of 30 days, 120 million levels, do not fit the machine's memory share).
2. One band (63 Hz) of 100 sensors over 30 days at 1-hour resolution — goal < 1 s.

Usage: ``python -m tests.benchmarks.bench_soundscape DATA_DIR`` (DATA_DIR unused: the input is made here).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from hydroserve.acoustics import catalog, hmd_days, level_series, product_keys, spd
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.acoustics.hmd_bands import decidecade_bands, hmd_bands
from hydroserve.acoustics.level_series import NS_PER_S, LevelSeries
from hydroserve.acoustics.sensors import SensorCatalog
from hydroserve.acoustics.soundscape import Soundscape
from hydroserve.api import schema
from hydroserve.api.db import make_engine, writer

from .common import machine, measure, seconds, table

N_DAYS = 30
N_SENSORS = 100
REFERENCE_DAYS = 3
FIRST_DAY = date(2026, 1, 1)
REPEAT = 3
SPD_GOAL_S = 2.0
LEVELS_GOAL_S = 1.0
MODIFIED = datetime(2026, 2, 1, tzinfo=UTC)


def sensor_name(i: int) -> str:
    return f"DOM_{808956920 + i}_CH1"


def day_levels_db(rng, n_bands: int) -> np.ndarray:
    """1,440 minutes of plausible HMD levels: a spectrum falling with frequency, slow and fast variations."""
    slope = 80 - 10 * np.log10(hmd_bands().centre_hz.clip(1, None))[:n_bands]
    return slope + rng.normal(0, 4, (1440, 1)) + rng.normal(0, 3, (1440, n_bands))


def fill(engine, blobs: LocalBlobStore) -> list[np.ndarray]:
    """The catalog rows and stored aggregates; returns the reference days' minute densities of sensor 0."""
    rng = np.random.default_rng(17)
    days = [FIRST_DAY + timedelta(days=d) for d in range(N_DAYS)]
    centre_hz = decidecade_bands(10 ** 0.95, 97656.25)[0]
    with writer(engine).begin() as conn:
        for i in range(N_SENSORS):
            conn.execute(insert(catalog.sensors).values(sensor_id=sensor_name(i), dom_id=808956920 + i, channel=1))
            conn.execute(insert(hmd_days.hmd_days), [
                {"sensor_id": sensor_name(i), "day": day, "revision": 1, "modified": MODIFIED} for day in days])
    reference = []
    for d, day in enumerate(days):
        density = 10 ** (day_levels_db(rng, len(hmd_bands().centre_hz)) / 10)
        if d < REFERENCE_DAYS:
            reference.append(density.astype(np.float32))
        blobs.put(f"{product_keys.hmd_day_prefix(sensor_name(0), day, 1)}.spd.npz",
                  [spd.histogram(density, calibrated=True).to_npz_bytes()])
        start_ns = hmd_days.day_start_unix_s(day) * NS_PER_S
        for i in range(N_SENSORS):
            mean_square = 10 ** (rng.normal(60, 3, (24, len(centre_hz))) / 10)
            hours = LevelSeries(start_ns + np.arange(24) * 3600 * NS_PER_S, np.full(24, 3600.0), centre_hz, mean_square,
                                mean_square.sum(axis=1), True)
            blobs.put(f"{product_keys.hmd_day_prefix(sensor_name(i), day, 1)}.hours.bin", [hours.to_bytes()])
    return reference


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="hydroserve-bench-soundscape-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'catalog.sqlite'}")
        schema.upgrade(engine)
        blobs = LocalBlobStore(Path(tmp) / "blobs", fsync=False)
        reference_minutes = fill(engine, blobs)
        start_s = hmd_days.day_start_unix_s(FIRST_DAY)
        end_s = start_s + N_DAYS * 86400

        def fresh() -> Soundscape:
            return Soundscape(engine, blobs, None, SensorCatalog(), describe_day=lambda sensor, day: ("", ""))

        def spd_query():
            histogram = fresh().spd(sensor_name(0), start_s, end_s)
            spd.density(histogram, 1.0)
            return spd.percentiles(histogram), spd.mean_db(histogram)

        def spd_reference():
            levels = 10 * np.log10(np.concatenate(reference_minutes).astype(np.float64))
            return np.percentile(levels, spd.PERCENTILES, axis=0, method="inverted_cdf")

        def levels_query():
            found = fresh().levels_many(None, start_s, end_s, 3600)
            band = level_series.select_bands(next(iter(found.values())).centre_hz, [63.0])[0]
            return {sensor: series.mean_square[:, band] for sensor, series in found.items()}

        results = measure({"spd": spd_query, "spd_reference": spd_reference, "levels": levels_query}, REPEAT)
        found = results["levels"].last_result
        if len(found) != N_SENSORS or any(len(v) != N_DAYS * 24 for v in found.values()):
            raise RuntimeError("the many-sensor query did not return 100 sensors × 720 hours")
        spd_s, reference_s, levels_s = (results[name].median_s for name in ("spd", "spd_reference", "levels"))
        print(table("Soundscape queries from the stored sensor-day aggregates (median of 3, fresh reader each time)",
                    ["query", "time", "goal", "time / goal", "reference in the same run"], [
            [f"SPD + 9 percentiles + mean, {N_DAYS} days × 2,787 bands, one sensor", seconds(spd_s), seconds(SPD_GOAL_S),
             f"{spd_s / SPD_GOAL_S:.2f}", f"numpy.percentile over {REFERENCE_DAYS} days of minutes: {seconds(reference_s)} "
                                           f"(≈ {seconds(reference_s * N_DAYS / REFERENCE_DAYS)} for {N_DAYS} days)"],
            [f"one band, {N_SENSORS} sensors × {N_DAYS} days, 1-hour bins", seconds(levels_s), seconds(LEVELS_GOAL_S),
             f"{levels_s / LEVELS_GOAL_S:.2f}", f"{N_SENSORS * N_DAYS} hourly day blobs read"],
        ]))


if __name__ == "__main__":
    main()
