"""Writes ``legacy-catalog/``: an archive made by the release before Alembic migrations (commit 499b24e, whose
``hydroserve db init`` made the tables with ``create_all`` and wrote no ``alembic_version``). Kept with the file it
made, so that ``tests/test_migrations.py`` can check that such an archive upgrades in place; it is not run by the
tests (run again, it would use today's code). Run once with that release installed:

    python tests/data/make_legacy_catalog.py tests/data/legacy-catalog

The archive: two synthetic sensors, two 0.1 s packages each (frames of 4096 samples), a small event table (the
first 12 rows of the sample table) and one alert.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from hydroserve.api import cli
from hydroserve.codecs import raw
from hydroserve.samples.synthetic import SyntheticSensor, write_adf_files

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
TOKEN = "legacy-token"
ENV = {
    "HYDROSERVE_SNIPPET_DURATION_S": "0.1",
    "HYDROSERVE_SNIPPET_INTERVAL_S": "1",
    "HYDROSERVE_ADF_FRAME_LENGTH": "4096",
    "HYDROSERVE_PSD_NFFT": "1024",
    "HYDROSERVE_MIN_COVERAGE": "0.5",
    "HYDROSERVE_PUBLIC_URL": "http://legacy.example.org",
    "HYDROSERVE_API_TOKENS": TOKEN,
    "HYDROSERVE_LOG_LEVEL": "WARNING",
}
START_S = 1_608_751_680


def main(target: Path) -> None:
    import os

    if target.exists():
        raise SystemExit(f"{target} exists: remove it first")
    os.environ.update(ENV, HYDROSERVE_DATA_DIR=str(target))
    with tempfile.TemporaryDirectory() as scratch:
        files = []
        for seed, sensor in enumerate(["DOM_808956920_CH1", "DOM_808974724_CH1"]):
            files += write_adf_files(Path(scratch) / "adf", SyntheticSensor(raw.SensorId.parse(sensor), seed=seed),
                                     start_tick=START_S * raw.TICKS_PER_SECOND, n_frames=2 * 48, frames_per_file=48,
                                     frame_length=4096)
        assert cli.main(["import", *map(str, files)]) == 0
        table = Path(scratch) / "legacy_table.csv"
        lines = (SAMPLES / "events" / "synthetic_arca_2023.csv").read_text().splitlines(keepends=True)
        table.write_text("".join(lines[:13]))
        assert cli.main(["events", "publish", str(table), str(SAMPLES / "events" / "synthetic_arca_2023.meta.json")]) == 0
    from hydroserve.api.app import create_app
    from hydroserve.api.config import load_settings
    import json

    app = create_app(load_settings(env=dict(os.environ)))
    alert = json.loads((SAMPLES / "alert_example.json").read_text())
    response = app.test_client().post("/api/v1/alerts", json=alert, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 201, response.get_data(as_text=True)
    shutil.rmtree(target / "spool", ignore_errors=True)
    with sqlite3.connect(target / "catalog.sqlite") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
