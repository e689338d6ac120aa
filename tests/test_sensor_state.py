"""What each sensor's row keeps (:mod:`hydroserve.acoustics.catalog_by_sensor`): its package and skipped-window counts
and the edges of its oldest and newest packages, kept in each package's or skip's own transaction, equal what its
packages and skipped windows say (read from those tables: the reference), whatever order the windows are archived
in, on SQLite and PostgreSQL; the sensor list, ``/metrics`` and the detector overview read them; retention, which
deletes products and never packages, leaves them as they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from hydroserve.acoustics import catalog, catalog_by_sensor, overview
from hydroserve.acoustics.catalog import packages
from hydroserve.acoustics.cutter import Snippet
from hydroserve.api import wiring
from hydroserve.api.db import writer
from hydroserve.api.web.metrics import CatalogCollector
from hydroserve.codecs import raw, raw_decoder
from hydroserve.codecs.raw import SensorId
from support import SENSOR, sensor_state, sensor_state_of_packages

OTHER = SensorId(808956921, 1)
SENSOR_WINDOWS = {  # what the ingest cuts (2 s windows, 60 % kept) from the files of :func:`cut_windows`: frames of
    # 0.631 s from 1608751679.755 s, so 0.245 s in the first window; SENSOR's 16 end at 1689.85 s, frames 8 and 9
    # (1684.80 to 1686.07 s) missing; OTHER's 8 end at 1684.80 s
    SENSOR: ["1608751678 skipped", "1608751680", "1608751682", "1608751684 skipped", "1608751686", "1608751688"],
    OTHER: ["1608751678 skipped", "1608751680", "1608751682", "1608751684 skipped"],
}
ORDER = [(SENSOR, 3), (SENSOR, 5), (OTHER, 2), (SENSOR, 2), (SENSOR, 0), (OTHER, 3), (OTHER, 1), (SENSOR, 4), (SENSOR, 1),
         (OTHER, 0)]
"""The windows archived in this order (sensor, index in its time order): newest and oldest ones late, a skip first."""


class HeldArchive:
    """Stands for the archive in the real ingest and holds back every window it is given, in time order."""

    def __init__(self, archive):
        self.product_settings = archive.product_settings
        self.windows = []

    def cursor(self, sensor):
        return None

    def store(self, snippet):
        self.windows.append(snippet)

    def skip(self, window):
        self.windows.append(window)


def cut_windows(settings, archive, synthetic_files) -> dict[SensorId, list]:
    """The windows the real ingest cuts from synthetic files of two sensors (frames 8 and 9 of ``SENSOR`` dropped: a
    window of too little coverage), held back, by sensor in time order."""
    held = HeldArchive(archive)
    ingestor = wiring.build_ingestor(settings, held, retry_for_s=5)
    files = (synthetic_files(SENSOR, n_frames=16, drop_frames={8, 9})
             + synthetic_files(OTHER, n_frames=8, seed=1, directory=settings.data_dir.parent / "adf-other"))
    for path in files:
        ingestor.feed(raw.RawFileName.parse(path).sensor, raw_decoder.read_file(path, frame_length=settings.adf_frame_length))
    ingestor.flush()
    return {sensor: [w for w in held.windows if w.sensor == sensor] for sensor in SENSOR_WINDOWS}


def described(window) -> str:
    return str(window.boundary_tick // raw.TICKS_PER_SECOND) + ("" if isinstance(window, Snippet) else " skipped")


@pytest.fixture
def scrambled(settings, synthetic_files):
    """The windows of :func:`cut_windows` archived in :data:`ORDER` by the real archive; the engine, the windows and
    the state kept and the reference after each step."""
    engine = wiring.init_catalog(settings)
    archive = wiring.build_archive(settings, engine)
    windows = cut_windows(settings, archive, synthetic_files)
    steps = []
    for sensor, index in ORDER:
        window = windows[sensor][index]
        if isinstance(window, Snippet):
            assert archive.store(window) is not None
        else:
            archive.skip(window)
        with engine.connect() as conn:
            steps.append((sensor_state(conn), sensor_state_of_packages(conn)))
    yield engine, archive, windows, steps
    engine.dispose()


def test_the_state_kept_is_what_the_packages_say_after_every_window_in_any_order(scrambled):
    engine, archive, windows, steps = scrambled
    assert {sensor: [described(w) for w in found] for sensor, found in windows.items()} == SENSOR_WINDOWS
    for step, (state, expected) in enumerate(steps):
        assert state == expected, f"after {ORDER[: step + 1]}"
    state = steps[-1][0][str(SENSOR)]
    newest, oldest = windows[SENSOR][5], windows[SENSOR][1]
    assert state == {"n_packages": 4, "n_skipped_windows": 2, "oldest_boundary_tick": oldest.boundary_tick,
                     "oldest_start_tick": oldest.runs[0].start_tick, "newest_boundary_tick": newest.boundary_tick,
                     "newest_end_tick": newest.runs[-1].end_tick, "newest_package_id": "DOM_808956920_CH1_1608751688",
                     "newest_timestamp_deviation": newest.timestamp_deviation.as_json()}
    assert steps[0][0][str(SENSOR)]["newest_package_id"] is None  # a skipped window alone: a sensor without packages

    # a window archived or skipped again changes nothing
    assert archive.store(windows[SENSOR][2]) is None
    archive.skip(windows[SENSOR][3])
    with engine.connect() as conn:
        assert sensor_state(conn) == steps[-1][0]


def test_the_sensor_list_metrics_and_overview_read_the_state(scrambled):
    engine, _, windows, steps = scrambled
    expected = steps[-1][1]
    with engine.connect() as conn:
        summaries = {str(s.sensor): s for s in catalog_by_sensor.sensor_summaries(conn)}
        latest = overview.latest_packages(conn)
        newest = {sensor: catalog.get_package(conn, state["newest_package_id"]) for sensor, state in expected.items()}
    assert {sensor: (s.n_packages, s.n_skipped, s.first_tick, s.last_tick) for sensor, s in summaries.items()} == {
        sensor: (e["n_packages"], e["n_skipped_windows"], e["oldest_start_tick"], e["newest_end_tick"])
        for sensor, e in expected.items()}
    assert {sensor: (item.n_packages, item.package_id, item.boundary_tick, item.levels) for sensor, item in latest.items()} == {
        sensor: (e["n_packages"], e["newest_package_id"], e["newest_boundary_tick"],
                 newest[sensor].products["psd"].details["levels"]) for sensor, e in expected.items()}

    families = {family.name: family for family in CatalogCollector(engine).collect()}

    def gauge(name: str) -> dict[str, float]:
        return {sample.labels["sensor"]: sample.value for sample in families[name].samples}

    assert gauge("hydroserve_packages") == {sensor: e["n_packages"] for sensor, e in expected.items()}
    assert gauge("hydroserve_skipped_windows") == {sensor: e["n_skipped_windows"] for sensor, e in expected.items()}
    lag = gauge("hydroserve_ingest_lag_seconds")
    now_s = datetime.now(UTC).timestamp()
    for sensor, e in expected.items():
        assert now_s - e["newest_end_tick"] / raw.TICKS_PER_SECOND - lag[sensor] == pytest.approx(0, abs=60)
    assert gauge("hydroserve_frame_timestamp_deviation_max_ns") == {
        sensor: record.products["raw"].details["input_timestamp_deviation"]["max_abs_ns"] for sensor, record in newest.items()}


def test_retention_deletes_products_not_packages_and_leaves_the_state(scrambled, runner):
    """The newest package of ``SENSOR`` archived two days ago loses its PSD to a rule of one day: the state stays,
    and the overview shows no level for that sensor (its newest PSD is gone), the other's still."""
    engine, _, _, steps = scrambled
    newest = steps[-1][0][str(SENSOR)]["newest_package_id"]
    with writer(engine).begin() as conn:
        conn.execute(update(packages).where(packages.c.package_id == newest)
                     .values(created_at=datetime.now(UTC) - timedelta(days=2)))
    expired = runner("retention", "--json", env={"HYDROSERVE_RETENTION_DAYS": "psd=1"})
    assert expired.exit_code == 0 and [(e["package_id"], e["kind"]) for e in expired.json()["expired"]] == [(newest, "psd")]
    with engine.connect() as conn:
        assert sensor_state(conn) == sensor_state_of_packages(conn) == steps[-1][0]
        latest = overview.latest_packages(conn)
    assert (latest[str(SENSOR)].package_id, latest[str(SENSOR)].levels) == (newest, None)
    assert latest[str(OTHER)].levels is not None
