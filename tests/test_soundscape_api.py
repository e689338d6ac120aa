"""Soundscape endpoints over a real archive: the daily SoundCoop netCDF (xarray), its resource, SPD, levels, pictures.

The synthetic sensor is ingested as 2 s packages from 19:28:00 to 19:29:02 UTC on 2020-12-23 (minute 19:28 whole,
19:29 two seconds); the answers are checked against the stored samples (time-domain mean square), against numpy on the
day file's minutes, and for consistency across a later package of the day.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from compliance_checker.runner import CheckSuite

from hydroserve.acoustics import catalog, hmd_days, product_keys, soundscape_pictures, spd
from hydroserve.acoustics.retention import Retention, RetentionPolicy
from hydroserve.api import acoustic_registration, wiring
from hydroserve.api.db import writer
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.codecs import raw
from hydroserve.api.web.services import services
from hydroserve.odc_sync import registry
from hydroserve.samples.synthetic import SyntheticSensor, write_adf_files
from support import REAL_START_TICK, SENSOR, archive_files, read_stored_samples, url

DAY = "2020-12-23"
RANGE = {"start": "2020-12-23T00:00:00Z", "end": "2020-12-24T00:00:00Z"}
MINUTE_19_28 = 1608751680  # 2020-12-23T19:28:00Z
OTHER = raw.SensorId(808956921, 1)


@pytest.fixture(scope="module")
def day_settings(tmp_path_factory):
    """One archive for the read-only tests (SQLite; made once: ingest is the slow part): about 63 s of the synthetic
    sensor in 2 s packages from 19:28:00 (minute 19:28 whole, 19:29 partial); a second sensor, 20 s."""
    tmp = tmp_path_factory.mktemp("soundscape")
    settings = load_settings(env={}, data_dir=str(tmp / "data"), database_url=f"sqlite:///{tmp / 'data' / 'catalog.sqlite'}",
                             snippet_duration_s="2", snippet_interval_s=2, min_coverage=0.6, spool_settle_s=0)
    archive_files(settings, write_adf_files(tmp / "adf", SyntheticSensor(SENSOR, seed=0), start_tick=REAL_START_TICK,
                                     n_frames=100, frames_per_file=8))
    archive_files(settings, write_adf_files(tmp / "other", SyntheticSensor(OTHER, seed=1), start_tick=REAL_START_TICK,
                                     n_frames=32, frames_per_file=8))
    return settings


@pytest.fixture(scope="module")
def day_app(day_settings):
    return create_app(day_settings)


@pytest.fixture
def day_client(day_app):
    return day_app.test_client()


@pytest.fixture
def day_archive(archived, synthetic_files, tmp_path):
    """A few packages of two sensors, in the test's own archive (SQLite and PostgreSQL)."""
    archived(synthetic_files(n_frames=12, frames_per_file=4))
    archived(synthetic_files(OTHER, n_frames=12, frames_per_file=4, directory=tmp_path / "other"))


def open_netcdf(data: bytes) -> xr.Dataset:
    return xr.open_dataset(io.BytesIO(data), engine="h5netcdf")


def packages_of(settings, sensor) -> list:
    engine = wiring.init_catalog(settings)
    with engine.connect() as conn:
        records = catalog.list_packages(conn, sensor=str(sensor), newest_first=False, limit=1000)
    engine.dispose()
    return records


@pytest.mark.sqlite_only
def test_the_day_file_is_soundcoop_netcdf_with_the_effort_of_the_stored_packages(day_app, day_client, day_settings):
    response = day_client.get(url(day_app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY))
    assert response.status_code == 200 and response.mimetype == "application/x-netcdf"
    assert response.headers["Content-Disposition"] == (
        "inline; filename=KM3NeT.KM3NeT_DOM808956920.CH1.195kHz_20201223_DAILY_MILLIDEC_MinRes.nc")
    records = packages_of(day_settings, SENSOR)
    with open_netcdf(response.data) as ds:
        assert ds.sizes["frequency"] == 2787 and ds["psd"].dims == ("time", "frequency")
        assert [str(t)[:16] for t in ds["time"].values] == ["2020-12-23T19:28", "2020-12-23T19:29"]
        # effort: every stored sample of the day, once
        assert ds["effort"].values.sum() == pytest.approx(sum(r.n_samples for r in records) / 195312.5, rel=1e-9)
        assert ds["effort"].values[0] == pytest.approx(60.0, abs=1e-5)
        assert ds.attrs["Conventions"] == "CF-1.6, ACDD-1.3" and ds.attrs["sample_rate_hz"] == 195312.5
        assert ds.attrs["id"] == f"{day_settings.collection}_hmd_{SENSOR}_20201223"
    again = day_client.get(url(day_app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY),
                       headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.sqlite_only
def test_a_later_package_of_the_day_makes_a_new_file(app, client, settings, archived, synthetic_files, tmp_path):
    archived(synthetic_files(n_frames=12, frames_per_file=4))
    first = client.get(url(app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY))
    later_start = REAL_START_TICK + 12 * raw.DEFAULT_FRAME_LENGTH * raw.TICKS_PER_SAMPLE
    archived(synthetic_files(start_tick=later_start, n_frames=12, frames_per_file=4, directory=tmp_path / "later"))
    second = client.get(url(app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY))
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    with open_netcdf(first.data) as before, open_netcdf(second.data) as after:
        assert after["effort"].values.sum() > before["effort"].values.sum() + 5


def day_blobs(settings) -> dict[str, int]:
    """The stored aggregates of the synthetic sensor's 2020-12-23, any revision: key -> revision (the blob store's
    listing)."""
    return product_keys.hmd_day_keys(wiring.open_blobs(settings).keys, str(SENSOR), date(2020, 12, 23))


def day_revision(settings) -> int:
    engine = wiring.init_catalog(settings)
    with engine.connect() as conn:
        revision = hmd_days.revisions(conn, first_day=date(2020, 12, 23), last_day=date(2020, 12, 23))[
            (str(SENSOR), date(2020, 12, 23))]
    engine.dispose()
    return revision


@pytest.mark.sqlite_only
def test_a_day_cut_by_the_range_is_made_once_per_revision_and_earlier_revisions_are_deleted(
        app, client, settings, archived, synthetic_files, tmp_path, monkeypatch):
    """Data from 19:28:55: the SPD from 19:29 cuts the day (minute 19:28 lies outside). Its histogram is made from the
    packages' HMD once per revision of the day: asked again, nothing is read; a later package of the day makes it
    again, and the blobs of the earlier revision are gone. A range cutting the day but holding all of its minutes
    (today, up to now) uses the day's own aggregates."""
    first_tick = (MINUTE_19_28 + 55) * raw.TICKS_PER_SECOND
    archived(synthetic_files(start_tick=first_tick, n_frames=12, frames_per_file=4))
    with app.app_context():
        products = services().soundscape.products
    reads = []
    read_hmd = products.hmd
    monkeypatch.setattr(products, "hmd", lambda record: reads.append(record.package_id) or read_hmd(record))
    cut = {"sensor": str(SENSOR), "start": "2020-12-23T19:29:00Z", "end": "2020-12-24T00:00:00Z"}

    first = client.get(url(app, "soundscape.Spd", **cut)).get_json()
    made = len(reads)
    assert made > 0 and max(first["n_minutes"]) == 1
    again = client.get(url(app, "soundscape.Spd", **cut)).get_json()
    assert len(reads) == made and again == first  # no rebuild without a new package
    revision = day_revision(settings)
    stored = day_blobs(settings)
    assert set(stored.values()) == {revision} and [k for k in stored if ".spd-" in k]
    whole_day = client.get(url(app, "soundscape.Spd", **{**cut, "start": "2020-12-23T19:28:00Z",
                                                          "end": "2020-12-23T19:30:00Z"})).get_json()
    assert len(reads) == made and max(whole_day["n_minutes"]) == 2  # all the day's minutes: its stored histogram

    later_tick = first_tick + 12 * raw.DEFAULT_FRAME_LENGTH * raw.TICKS_PER_SAMPLE
    archived(synthetic_files(start_tick=later_tick, n_frames=12, frames_per_file=4, directory=tmp_path / "later"))
    after = client.get(url(app, "soundscape.Spd", **cut)).get_json()
    assert len(reads) > made and after["mean_db"] != first["mean_db"]  # 19:29 has more data now
    assert day_revision(settings) > revision
    assert set(day_blobs(settings).values()) == {day_revision(settings)}  # the earlier revision's blobs are deleted


@pytest.mark.sqlite_only
def test_retention_of_hmd_deletes_the_day_aggregates(app, client, settings, archived, synthetic_files):
    archived(synthetic_files(n_frames=12, frames_per_file=4))
    assert client.get(url(app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY)).status_code == 200
    revision = day_revision(settings)
    assert set(day_blobs(settings).values()) == {revision}
    engine = wiring.init_catalog(settings)
    report = Retention(writer(engine), wiring.open_blobs(settings), RetentionPolicy({"hmd": 1}),
                       on_expired=acoustic_registration.acoustic_tombstones(settings)).run(
        now=datetime.now(UTC) + timedelta(days=2))
    with engine.connect() as conn:
        resource = registry.get_resource(conn, f"{settings.collection}_hmd_{SENSOR}_20201223")
    engine.dispose()
    assert {e["kind"] for e in report.expired} == {"hmd"}
    assert day_blobs(settings) == {} and [key for key in report.blobs_deleted if ".hmd-day.r" in key]
    assert day_revision(settings) == revision + 1 == resource.extra["revision"]  # one more, and the ODC sees it change
    assert client.get(url(app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY)).status_code == 404  # no minutes left


def test_each_sensor_day_is_a_resource_of_the_hmd_stream(settings, day_archive):
    engine = wiring.init_catalog(settings)
    with engine.connect() as conn:
        resource = registry.get_resource(conn, f"{settings.collection}_hmd_{SENSOR}_20201223")
        streams = {row.kid for row in registry.list_streams(conn, settings.collection)}
        per_package = [r for r in registry.feed(conn, stream_kids=[f"{settings.collection}_hmd"], limit=1000)]
    engine.dispose()
    assert f"{settings.collection}_hmd" in streams
    assert resource.media_type == "application/x-netcdf" and resource.access_url.endswith(f"/sensors/{SENSOR}/hmd/{DAY}.nc")
    assert resource.coverage_start.isoformat() == "2020-12-23T00:00:00+00:00"
    assert resource.extra["revision"] == len(packages_of(settings, SENSOR))  # one more per package of the day
    assert sorted(r.kid for r in per_package) == sorted([f"{settings.collection}_hmd_{SENSOR}_20201223",
                                                         f"{settings.collection}_hmd_{OTHER}_20201223"])


@pytest.mark.sqlite_only
def test_spd_percentiles_match_numpy_on_the_day_files_minutes(day_app, day_client):
    day_file = day_client.get(url(day_app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY))
    response = day_client.get(url(day_app, "soundscape.Spd", sensor=str(SENSOR), fmin=100, fmax=20000, bin_db=0.5, **RANGE))
    assert response.status_code == 200
    answer = response.get_json()
    with open_netcdf(day_file.data) as ds:
        band = (ds["frequency"] >= 100) & (ds["frequency"] <= 20000)
        levels = ds["psd"].values[:, band.values].astype(np.float64)
        flags = ds["quality_flag"].values[:, band.values]
    assert answer["frequency_hz"] == pytest.approx(ds["frequency"].values[band.values].tolist())
    counted = np.where(flags != 4, levels, np.nan)
    for percent in spd.PERCENTILES:
        expected = np.nanpercentile(counted, percent, axis=0, method="inverted_cdf")
        assert np.abs(np.array(answer["percentiles"][f"p{percent}"]) - expected).max() <= 0.05 + 1e-4
    mean = 10 * np.log10(np.nanmean(10 ** (counted / 10), axis=0))
    np.testing.assert_allclose(answer["mean_db"], mean, atol=1e-3)
    density = np.array(answer["density"])
    np.testing.assert_allclose((density * 0.5).sum(axis=1), 1.0)
    assert answer["unit"] == "dB re 1 (sample unit)^2/Hz"

    as_netcdf = day_client.get(url(day_app, "soundscape.Spd", sensor=str(SENSOR), fmin=100, fmax=20000, bin_db=0.5, **RANGE),
                           headers={"Accept": "application/x-netcdf"})
    assert as_netcdf.mimetype == "application/x-netcdf"
    with open_netcdf(as_netcdf.data) as ds:
        np.testing.assert_allclose(ds["spd"].values, density, atol=1e-6)
        assert list(ds["percentile"].values) == list(spd.PERCENTILES)


def cf_findings(data: bytes, tmp_path) -> dict[str, list[str]]:
    """The IOOS CF checker's messages on ``data`` (a netCDF file) by priority: ``errors`` (its high priority, the
    report's "Errors"), ``warnings`` (medium), ``info`` (low)."""
    path = tmp_path / "checked.nc"
    path.write_bytes(data)
    suite = CheckSuite()
    suite.load_all_available_checkers()
    dataset = suite.load_dataset(str(path))
    try:
        results, failures = suite.run_all(dataset, ["cf:1.6"], skip_checks=[])["cf:1.6"]
    finally:
        dataset.close()
    assert not failures, failures  # a check that crashed
    found = {"errors": [], "warnings": [], "info": []}
    for result in results:
        priority = {3: "errors", 2: "warnings", 1: "info"}[result.weight]
        found[priority] += [f"{result.name}: {message}" for message in result.msgs]
    return found


@pytest.mark.sqlite_only
def test_the_day_file_and_the_spd_file_pass_the_cf_checker(day_app, day_client, tmp_path):
    """The IOOS compliance checker (cf:1.6) finds no error in the day's netCDF or the SPD netCDF.

    Accepted warning (the only one): psd and quality_flag are (time, frequency), where CF recommends any dimension
    other than T, Z, Y, X to the left of time; the SoundCoop HMD template (and pbp) fix the order (time, frequency)."""
    day_file = day_client.get(url(day_app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY)).data
    found = cf_findings(day_file, tmp_path)
    assert found["errors"] == []
    assert found["warnings"] == [f"§2.4 Dimensions: {name}'s spatio-temporal dimensions are not in the recommended order "
                                 "T, Z, Y, X and/or further dimensions are not located left of T, Z, Y, X. The dimensions "
                                 "(and their guessed types) are time (T), frequency (U) (with U: other/unknown; L: "
                                 "unlimited)." for name in ("psd", "quality_flag")]
    spd_file = day_client.get(url(day_app, "soundscape.Spd", sensor=str(SENSOR), **RANGE),
                              headers={"Accept": "application/x-netcdf"}).data
    found = cf_findings(spd_file, tmp_path)
    assert found["errors"] == [] and found["warnings"] == []


@pytest.mark.sqlite_only
def test_broadband_level_of_a_minute_is_the_mean_square_of_its_stored_samples(day_app, day_client, day_settings):
    response = day_client.get(url(day_app, "soundscape.SensorLevels", sensor=str(SENSOR), bands="broadband", resolution_s=60,
                              **RANGE))
    answer = response.get_json()
    assert answer["times"] == ["2020-12-23T19:28:00.000000Z", "2020-12-23T19:29:00.000000Z"] and answer["unit"] == "dB re 1 sample unit"
    blobs = wiring.open_blobs(day_settings)
    minute = [r for r in packages_of(day_settings, SENSOR)  # the 2 s windows that start in the minute lie in it
              if MINUTE_19_28 * raw.TICKS_PER_SECOND <= r.boundary_tick < (MINUTE_19_28 + 60) * raw.TICKS_PER_SECOND]
    samples = np.concatenate([read_stored_samples(blobs, r.samples_key).astype(np.float64) for r in minute])
    assert len(samples) == pytest.approx(60 * 195312.5, abs=1)
    assert answer["levels_db"][0][0] == pytest.approx(10 * np.log10(np.mean(samples**2)), abs=0.01)

    decidecade = day_client.get(url(day_app, "soundscape.SensorLevels", sensor=str(SENSOR), bands="63,125", resolution_s=3600,
                                **RANGE)).get_json()
    assert [b["name"] for b in decidecade["bands"]] == ["63", "125"]
    assert decidecade["bands"][0]["centre_hz"] == pytest.approx(10 ** 1.8)
    assert decidecade["effort_s"][0] == pytest.approx(sum(answer["effort_s"]))


@pytest.mark.sqlite_only
def test_one_band_of_many_sensors_in_one_answer(day_app, day_client):
    answer = day_client.get(url(day_app, "soundscape.Levels", band="broadband", resolution_s=3600, **RANGE)).get_json()
    assert [s["sensor"] for s in answer["sensors"]] == [str(SENSOR), str(OTHER)]
    one = day_client.get(url(day_app, "soundscape.Levels", band="broadband", sensor=[str(OTHER)], **RANGE)).get_json()
    assert [s["sensor"] for s in one["sensors"]] == [str(OTHER)]
    assert one["sensors"][0]["level_db"] == answer["sensors"][1]["level_db"]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("endpoint", ["soundscape_pictures.LtsaPng", "soundscape_pictures.SpdPng",
                                      "soundscape_pictures.LevelsPng"])
def test_pictures_are_pngs_with_etags(day_app, day_client, endpoint):
    response = day_client.get(url(day_app, endpoint, sensor=str(SENSOR), **RANGE))
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).size == (1000, 460)
    again = day_client.get(url(day_app, endpoint, sensor=str(SENSOR), **RANGE), headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    small = day_client.get(url(day_app, endpoint, sensor=str(SENSOR), size="small", **RANGE))  # for phone width
    assert Image.open(io.BytesIO(small.data)).size == (480, 340) and small.headers["ETag"] != response.headers["ETag"]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("endpoint", "values", "status"), [
    ("soundscape.HmdDay", {"sensor": str(SENSOR), "day": "2020-12-24"}, 404),
    ("soundscape.HmdDay", {"sensor": str(SENSOR), "day": "2020-13-01"}, 404),
    ("soundscape.Spd", {"sensor": str(SENSOR), "bin_db": 0.25, **RANGE}, 400),
    ("soundscape.Spd", {"sensor": str(SENSOR), "start": "2020-12-24T00:00:00Z", "end": "2020-12-23T00:00:00Z"}, 400),
    ("soundscape.SensorLevels", {"sensor": str(SENSOR), "bands": "50000000", **RANGE}, 400),
    ("soundscape.SensorLevels", {"sensor": str(SENSOR), "resolution_s": 90, **RANGE}, 400),
    ("soundscape.SensorLevels", {"sensor": "DOM_1_CH1", **RANGE}, 404),
    ("soundscape_pictures.LtsaPng", {"sensor": str(SENSOR), "resolution_s": 90, **RANGE}, 400),
    ("soundscape_pictures.LtsaPng", {"sensor": str(SENSOR), "resolution_s": 60, "start": "2020-12-20T00:00:00Z",
                                     "end": "2020-12-24T00:00:00Z"}, 400),  # minutes over more than 2 days
    ("soundscape_pictures.LtsaPng", {"sensor": str(SENSOR), "resolution_s": 60, "start": "2020-12-23T00:00:00Z",
                                     "end": "2020-12-25T00:00:00Z"}, 400),  # more than 2000 bins
    ("soundscape.SensorLevels", {"sensor": str(SENSOR), "resolution_s": 60, "start": "2020-12-20T00:00:00Z",
                                 "end": "2020-12-24T00:00:00Z"}, 400),  # minutes over more than 2 days
    ("soundscape.Levels", {"band": "broadband", "resolution_s": 60, "start": "2020-12-20T00:00:00Z",
                           "end": "2020-12-24T00:00:00Z"}, 400),  # the same for many sensors
])
def test_bad_requests_are_problems(day_app, day_client, endpoint, values, status):
    response = day_client.get(url(day_app, endpoint, **values))
    assert response.status_code == status and response.mimetype == "application/problem+json"


@pytest.mark.sqlite_only
def test_the_ltsa_resolution_follows_the_range_and_its_spectra_are_the_day_files_minutes(day_app, day_client):
    """Minutes for a few hours, hours for days, days for months; the spectra at 1 minute are the day file's psd, and
    coarser bins their effort-weighted mean (numpy on the netCDF)."""
    assert [soundscape_pictures.ltsa_resolution_s(hours * 3600) for hours in (3, 12, 13, 24 * 40, 24 * 41)] == [
        60, 60, 3600, 3600, 86400]
    with open_netcdf(day_client.get(url(day_app, "soundscape.HmdDay", sensor=str(SENSOR), day=DAY)).data) as ds:
        density = 10 ** (ds["psd"].values.astype(np.float64) / 10)
        effort_s = ds["effort"].values
    start_s, end_s = MINUTE_19_28 - 3600, MINUTE_19_28 + 7200  # 3 hours
    with day_app.app_context():
        soundscape = services().soundscape
        by_minute = soundscape.ltsa(str(SENSOR), start_s, end_s, 60)
        by_hour = soundscape.ltsa(str(SENSOR), start_s, end_s, 3600)
        by_day = soundscape.ltsa(str(SENSOR), MINUTE_19_28 - 86400 * 3, MINUTE_19_28 + 86400 * 3, 86400)
    assert (by_minute.start_unix_ns // 10**9).tolist() == [MINUTE_19_28, MINUTE_19_28 + 60]
    np.testing.assert_allclose(by_minute.mean_square, density, rtol=1e-5)
    weighted = (density * effort_s[:, None]).sum(axis=0) / effort_s.sum()
    assert (by_hour.start_unix_ns // 10**9).tolist() == [MINUTE_19_28 // 3600 * 3600]
    np.testing.assert_allclose(by_hour.mean_square[0], weighted, rtol=1e-5)
    assert (by_day.start_unix_ns // 10**9).tolist() == [MINUTE_19_28 // 86400 * 86400]
    np.testing.assert_allclose(by_day.mean_square[0], weighted, rtol=1e-5)

    three_hours = {"sensor": str(SENSOR), "start": "2020-12-23T18:28:00Z", "end": "2020-12-23T21:28:00Z"}
    chosen = day_client.get(url(day_app, "soundscape_pictures.LtsaPng", **three_hours))
    by_minute_picture = day_client.get(url(day_app, "soundscape_pictures.LtsaPng", resolution_s=60, **three_hours))
    hourly = day_client.get(url(day_app, "soundscape_pictures.LtsaPng", resolution_s=3600, **three_hours))
    assert chosen.status_code == hourly.status_code == 200 and chosen.mimetype == "image/png"
    assert chosen.headers["ETag"] == by_minute_picture.headers["ETag"] != hourly.headers["ETag"]


@pytest.mark.sqlite_only
def test_the_sensor_page_shows_the_pictures_of_the_chosen_range(day_app, day_client):
    page = day_client.get(url(day_app, "pages.sensor", sensor=str(SENSOR), span_days=1, until="2020-12-24")).get_data(as_text=True)
    assert 'id="soundscape-heading"' in page and 'name="span_days"' in page and 'value="2020-12-24"' in page
    ltsa = url(day_app, "soundscape_pictures.LtsaPng", sensor=str(SENSOR), **RANGE).replace("&", "&amp;")
    assert ltsa in page
    default = day_client.get(url(day_app, "pages.sensor", sensor=str(SENSOR))).get_data(as_text=True)
    assert "start=2020-12-17T00:00:00Z" in default.replace("%3A", ":")  # 7 days up to the day after the last package
    assert day_client.get(url(day_app, "pages.sensor", sensor=str(SENSOR), span_days=3)).status_code == 400


def test_openapi_documents_every_soundscape_endpoint(client):
    spec = client.get("/api/v1/openapi.json").json
    for path, parameters in [("/api/v1/sensors/{sensor}/hmd/{day}.nc", set()),
                             ("/api/v1/sensors/{sensor}/spd", {"start", "end", "fmin", "fmax", "bin_db"}),
                             ("/api/v1/sensors/{sensor}/levels", {"start", "end", "bands", "resolution_s"}),
                             ("/api/v1/levels", {"band", "start", "end", "sensor", "resolution_s"}),
                             ("/api/v1/sensors/{sensor}/ltsa.png", {"start", "end", "size", "resolution_s"}),
                             ("/api/v1/sensors/{sensor}/spd.png", {"start", "end", "size"}),
                             ("/api/v1/sensors/{sensor}/levels.png", {"start", "end", "size", "bands"})]:
        operation = spec["paths"][path]["get"]
        assert operation["summary"] and operation["responses"]["200"]["description"]
        query = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(query) == parameters and all(p.get("description") for p in query.values()), path
    assert "application/x-netcdf" in spec["paths"]["/api/v1/sensors/{sensor}/spd"]["get"]["responses"]["200"]["content"]
    schemas = spec["components"]["schemas"]
    for name in ("Spd", "Levels", "ManyLevels", "SensorLevels", "Band"):
        assert all(field.get("description") for field in schemas[name]["properties"].values()), name
