"""The detector overview at full KM3NeT size: 6,555 sensors (ARCA 230 units and ORCA 115, 19 sensors each).

A sensors file places them all; a SQLite catalog holds two packages for each of the sensors of the first ``--live``
units (their PSD level summaries as the ingest keeps them). Through the app in this process (Flask's test client,
no network), the median time and the size of:

* ``/api/v1/detector`` (the overview's one request: every sensor's place and level; plain and gzip), against
* ``/api/v1/sensors`` (the existing sensor list, the sensors with data only) in the same run, and
* ``/`` (the overview page: the first 50 rows of the sensor table and their time overview).

    python -m tests.benchmarks.bench_overview DATA_DIR
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.acoustics import catalog

from .common import machine, measure, ratio, seconds, table

DETECTORS = (("ARCA", 230, 800_000_000), ("ORCA", 115, 810_000_000))
FLOORS = 18
WINDOW_S = 300
FIRST_S = 1_735_689_600
TICKS_PER_SECOND = 62_500_000
REPEAT = 7
LEVELS = {"broadband_db": -20.0, "bands_hz": [[100, 1000], [1000, 10000], [10000, 50000], [50000, None]],
          "band_median_db": [-60.0, -65.0, -70.0, -72.0], "unit": "dB re 1 (sample unit)^2 ..."}


def sensors_file(path: Path) -> list[str]:
    """Write the sensors file of the whole detector; returns the sensor ids, unit by unit."""
    ids, lines = [], ["sensor = ["]
    for name, units, dom_base in DETECTORS:
        for unit in range(1, units + 1):
            x_m, y_m = 90.0 * (unit % 16), 78.0 * (unit // 16)
            for floor in range(FLOORS + 1):
                sensor = f"DOM_{dom_base + 100 * unit + floor}_CH{0 if floor == 0 else 1}"
                ids.append(sensor)
                kind = "hydrophone" if floor == 0 else "piezo"
                lines.append(f'  {{id = "{sensor}", type = "{kind}", detector = "{name}", string = {unit}, floor = {floor}, '
                             f"position_m = [{x_m}, {y_m}, {0.6 if floor == 0 else 64.85 + 35.44 * floor:.2f}]}},")
    path.write_text("\n".join([*lines, "]"]) + "\n")
    return ids


def fill_catalog(engine, sensors: list[str], package_settings: dict) -> None:
    created = datetime.now(UTC)
    sensor_rows, package_rows, product_rows = [], [], []
    for sensor in sensors:
        dom, channel = sensor[4:].split("_CH")
        first, last = FIRST_S * TICKS_PER_SECOND, (FIRST_S + WINDOW_S) * TICKS_PER_SECOND  # its two windows
        sensor_rows.append({"sensor_id": sensor, "dom_id": int(dom), "channel": int(channel), "n_packages": 2,
                            "next_boundary_tick": last + WINDOW_S * TICKS_PER_SECOND, "oldest_boundary_tick": first,
                            "oldest_start_tick": first, "newest_boundary_tick": last,
                            "newest_end_tick": last + WINDOW_S * TICKS_PER_SECOND,
                            "newest_package_id": f"{sensor}_{FIRST_S + WINDOW_S}"})
        for k in range(2):
            boundary = (FIRST_S + k * WINDOW_S) * TICKS_PER_SECOND
            package_id = f"{sensor}_{FIRST_S + k * WINDOW_S}"
            package_rows.append({
                "package_id": package_id, "sensor_id": sensor, "boundary_tick": boundary, "start_tick": boundary,
                "end_tick": boundary + WINDOW_S * TICKS_PER_SECOND, "n_samples": 58_593_750, "n_expected": 58_593_750,
                "runs": [[boundary, 0, 58_593_750]], "window_size": 131072, "samples_key": f"{sensor}/{package_id}.f32",
                "sources": [], "settings": package_settings, "software_version": "bench", "created_at": created})
            product_rows.append({"package_id": package_id, "kind": "psd", "media_type": "application/json",
                                 "size_bytes": 118_311, "sha256": "0" * 64, "blob_key": f"{package_id}.psd.json",
                                 "details": {"nfft": 8192, "levels": LEVELS}})
    with engine.begin() as conn:
        conn.execute(catalog.sensors.insert(), sensor_rows)
        conn.execute(catalog.packages.insert(), package_rows)
        conn.execute(catalog.products.insert(), product_rows)


def main(data_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-overview-", dir=data_dir) as tmp:
        directory = Path(tmp)
        ids = sensors_file(directory / "sensors.toml")
        live = ids[: 19 * int(sys.argv[2]) if len(sys.argv) > 2 else len(ids)]
        settings = load_settings(env={}, data_dir=str(directory / "data"), sensors_file=str(directory / "sensors.toml"))
        engine = wiring.init_catalog(settings)
        fill_catalog(engine, live, wiring.build_archive(settings, engine).package_settings())
        client = create_app(settings).test_client()
        sizes = {}

        def get(path: str, name: str | None = None, **headers):
            def run():
                response = client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.status_code)
                sizes[name or path] = len(response.data)
                return response
            return run

        document = json.loads(get("/api/v1/detector")().data)
        assert document["n_sensors"] == len(ids) == 6555 and sum(v is not None for v in document["value"]) == len(live)
        gzipped = "/api/v1/detector, gzip"
        results = measure({"/api/v1/sensors": get("/api/v1/sensors"), "/api/v1/detector": get("/api/v1/detector"),
                           gzipped: get("/api/v1/detector", gzipped, **{"Accept-Encoding": "gzip"}), "/": get("/")}, REPEAT)
        reference = results["/api/v1/sensors"].median_s
        rows = [[path, seconds(result.median_s), f"{sizes[path] / 1e3:.0f} kB",
                 "reference" if path == "/api/v1/sensors" else ratio(reference, result.median_s)]
                for path, result in results.items()]
        print(table(f"Detector overview, {len(ids)} sensors ({len(live)} with data, 2 packages each), SQLite, in-process "
                    f"({machine()})", ["request", "median", "size", "speed vs /api/v1/sensors"], rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
