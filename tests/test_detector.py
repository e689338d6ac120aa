"""The detector overview's JSON (every sensor of the demo detector, placed, with its level or availability), the sensor
table's search and paging, the demo detector's geometry, and the fixed colour scales of spectrograms."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from importlib.resources import files

import numpy as np
import pytest
import soundfile

from hydroserve.acoustics import plots, sensors
from hydroserve.acoustics.colour_scales import check_colour_scales, colour_scale_db
from hydroserve.acoustics.spectrogram import Spectrogram
from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.samples import detector
from support import url

SENSOR_ID = "DOM_808956920_CH1"  # string 9, floor 12 of the demo detector; calibrated: +170 dB (S = -170 dB re 1 V/uPa, G = 0)
PIDS = [f"{SENSOR_ID}_1608751680", f"{SENSOR_ID}_1608751682", f"{SENSOR_ID}_1608751684"]
DETECTOR_FILE = files("hydroserve.samples") / "detector.toml"
PIEZO_SCALE_DB = (-20.0, 30.0)


@pytest.fixture
def demo_detector(settings, archived, synthetic_files):
    """The demo detector's sensors file and a fixed piezo spectrogram scale; three packages of one sensor archived."""
    with_geometry = dataclasses.replace(settings, sensors_file=DETECTOR_FILE,
                                        colour_scales=check_colour_scales({"spectrogram": {"piezo": list(PIEZO_SCALE_DB)}}))
    archived(synthetic_files(n_frames=11, frames_per_file=4, drop_frames={8}))
    wiring.init_catalog(with_geometry).dispose()
    return create_app(with_geometry).test_client()


def test_the_demo_detector_file_is_what_its_generator_writes_and_places_every_sensor():
    assert DETECTOR_FILE.read_text() == detector.detector_toml()
    catalog = sensors.load(DETECTOR_FILE)
    assert len(catalog.sensors) == detector.N_STRINGS * 19 >= 200
    placed = {(info.string, info.floor): info for info in catalog.sensors.values()}
    assert len(placed) == len(catalog.sensors)  # one sensor per string and floor
    for info in catalog.sensors.values():
        assert info.type == ("hydrophone" if info.floor == 0 else "piezo")
        base_x, base_y, _ = placed[(info.string, 0)].position_m
        assert info.position_m[:2] == (base_x, base_y)  # a string is vertical
    # floors 35.4 m apart, as in ARCA; strings at least 90 m apart
    z = [placed[(1, floor)].position_m[2] for floor in range(1, 19)]
    assert np.diff(z) == pytest.approx(35.44, abs=0.015)
    bases = np.array([placed[(s, 0)].position_m[:2] for s in range(1, detector.N_STRINGS + 1)])
    distances = np.hypot(*(bases[:, None, :] - bases[None, :, :]).transpose(2, 0, 1))
    assert distances[~np.eye(len(bases), dtype=bool)].min() == pytest.approx(90.0, abs=0.01)
    # the live sensors keep their string, floor and calibration of sensors.toml
    live = sensors.load(files("hydroserve.samples") / "sensors.toml").sensors
    for sensor, info in live.items():
        assert (catalog.sensors[sensor].string, catalog.sensors[sensor].floor, catalog.sensors[sensor].calibration) == (
            info.string, info.floor, info.calibration)
    assert sorted(str(s) for s in live) == list(detector.LIVE_SENSORS)


def test_overview_places_every_sensor_and_gives_the_latest_broadband_level(demo_detector, settings):
    document = demo_detector.get(url(demo_detector, "detector.Detector")).json
    assert document["n_sensors"] == 456 and all(len(document[key]) == 456 for key in ("sensor", "string", "x_m", "value"))
    index = document["sensor"].index(SENSOR_ID)
    assert (document["string"][index], document["floor"][index], document["z_m"][index]) == (9, 12, 490.1)
    assert document["calibrated"][index] is True and document["n_packages"][index] == 3
    # the broadband level is the variance of the latest package's samples (Parseval), read as WAV by libsndfile,
    # calibrated: +170 dB (sensitivity -170 dB re 1 V/uPa, no gain: samples/sensors.toml)
    wav, _ = soundfile.read(io.BytesIO(demo_detector.get(url(demo_detector, "acoustic.Wav", package_id=PIDS[2])).data))
    assert document["value"][index] == pytest.approx(10 * np.log10(np.var(wav)) + 170.0, abs=0.15)
    assert [v for i, v in enumerate(document["value"]) if i != index] == [None] * 455  # no data: no level
    # ordered by string then floor: the first sensors are string 1's, from its base up
    assert document["string"][:19] == [1] * 19 and document["floor"][:19] == list(range(19))

    band = demo_detector.get(url(demo_detector, "detector.Detector", quantity="band1")).json
    psd = demo_detector.get(url(demo_detector, "acoustic.Psd", package_id=PIDS[2], fmin=1000, fmax=10000)).json
    median_db = 10 * np.log10(np.mean(10 ** (np.array(psd["median"]) / 10)))  # band average in power
    assert band["value"][index] == pytest.approx(median_db, abs=0.06) and band["unit"].startswith("dB re 1 µPa²/Hz")


def test_overview_is_compressed_for_clients_that_accept_it_and_answers_304_while_unchanged(demo_detector):
    target = url(demo_detector, "detector.Detector")
    plain = demo_detector.get(target)
    packed = demo_detector.get(target, headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert plain.headers["Vary"] == packed.headers["Vary"] == "Accept-Encoding"
    assert json.loads(gzip.decompress(packed.data)) == plain.json and len(packed.data) < len(plain.data) / 4
    assert plain.headers["ETag"] != packed.headers["ETag"]  # another representation, another tag
    for response, headers in ((plain, {}), (packed, {"Accept-Encoding": "gzip"})):
        again = demo_detector.get(target, headers={"If-None-Match": response.headers["ETag"], **headers})
        assert again.status_code == 304 and again.data == b""


def test_availability_is_the_fraction_of_windows_archived(demo_detector):
    # 3 packages in 10 s of 2 s windows, 2 in the 4 s from 19:28:02 (19:28:02 and 19:28:04)
    document = demo_detector.get(url(demo_detector, "detector.Detector", quantity="availability",
                                     start="2020-12-23T19:28:00Z", end="2020-12-23T19:28:10Z")).json
    index = document["sensor"].index(SENSOR_ID)
    assert document["value"][index] == 0.6 and document["start"] == "2020-12-23T19:28:00+00:00"
    assert sum(document["value"]) == 0.6
    later = demo_detector.get(url(demo_detector, "detector.Detector", quantity="availability",
                                  start="2020-12-23T19:28:02Z", end="2020-12-23T19:28:06Z")).json
    assert later["value"][index] == 1.0
    # by default, the day up to the end of the latest window
    default = demo_detector.get(url(demo_detector, "detector.Detector", quantity="availability")).json
    assert (default["start"], default["end"]) == ("2020-12-22T19:28:06+00:00", "2020-12-23T19:28:06+00:00")
    assert default["value"][index] == pytest.approx(3 / 43200, abs=1e-3)


@pytest.mark.parametrize(("query", "status", "field"), [
    ({"quantity": "loudness"}, 400, "quantity"),
    ({"quantity": "availability", "start": "2020-12-23T00:00:00Z", "end": "2020-12-22T00:00:00Z"}, 400, "end"),
    ({"quantity": "availability", "start": "2020-01-01T00:00:00Z", "end": "2022-01-01T00:00:00Z"}, 400, "end"),
])
def test_overview_rejects_invalid_queries(demo_detector, query, status, field):
    response = demo_detector.get(url(demo_detector, "detector.Detector", **query))
    assert response.status_code == status and response.mimetype == "application/problem+json"
    assert field in response.json["errors"]["query"]


def test_sensor_table_searches_and_pages(demo_detector):
    def table(**query):
        response = demo_detector.get(url(demo_detector, "detector.DetectorSensors", **query))
        assert response.status_code == 200, response.json
        return response

    floor_12 = table(floor=12, limit=10).json
    # the sensor with data first, then by string
    assert floor_12["total"] == 24 and [row["string"] for row in floor_12["items"]] == [9, 1, 2, 3, 4, 5, 6, 7, 8, 10]
    pages, response = [], table(floor=12, limit=10)
    while True:
        pages.append([row["sensor"] for row in response.json["items"]])
        if response.json["next"] is None:
            assert "Link" not in response.headers
            break
        assert response.headers["Link"] == f'<{response.json["next"]}>; rel="next"'
        response = demo_detector.get(response.json["next"])
    assert [len(p) for p in pages] == [10, 10, 4] and len({s for p in pages for s in p}) == 24
    (row,) = table(dom="808956920").json["items"]
    assert row["sensor"] == SENSOR_ID and row["latest_package"] == PIDS[2] and row["n_packages"] == 3
    assert row["latest_window_start"] == "2020-12-23T19:28:04.000000Z" and row["page"].endswith(f"/sensors/{SENSOR_ID}")
    assert table(type="hydrophone").json["total"] == 24 and table(string=10, floor=0).json["items"][0]["sensor"] == "DOM_808432836_CH0"
    assert table(dom="99999").json == {"total": 0, "offset": 0, "items": [], "next": None}
    assert demo_detector.get(url(demo_detector, "detector.DetectorSensors", limit=501)).status_code == 400


def test_colour_scales_are_read_per_picture_and_sensor_type():
    table = check_colour_scales({"spectrogram": {"piezo": [-10, 40], "unknown": [-120.5, -60]}, "ltsa": {"hydrophone": [30, 90]}})
    assert colour_scale_db(table, "piezo", "spectrogram") == (-10.0, 40.0)
    assert colour_scale_db(table, None, "spectrogram") == (-120.5, -60.0)
    assert colour_scale_db(table, "hydrophone", "spectrogram") is None and colour_scale_db(table, "hydrophone", "ltsa") == (30.0, 90.0)
    assert colour_scale_db({}, "piezo", "ltsa") is None
    for wrong, message in (({"spectrogram": {"piezo": [40, -10]}}, "low 40 dB must be below high -10 dB"),
                           ({"spectrogram": {"geophone": [0, 1]}}, "colour_scales.spectrogram.geophone: unknown sensor type"),
                           ({"sonogram": {}}, "colour_scales.sonogram: unknown picture"),
                           ({"spectrogram": {"piezo": [0]}}, "colour_scales.spectrogram.piezo must be [low, high]")):
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            check_colour_scales(wrong)


def test_a_fixed_colour_scale_paints_levels_below_it_in_the_lowest_colour():
    import matplotlib

    from PIL import Image

    power = np.full((513, 40), 1e-6)  # -60 dB everywhere: below a -20..30 dB scale
    quiet = Spectrogram(np.arange(513) * 190.7, power, np.ones(40, dtype=int), 0.05, 2.0, 1024)
    picture = np.asarray(Image.open(io.BytesIO(plots.spectrogram_png(quiet, offset_db=0.0, unit="dB", title="t",
                                                                     fixed_range_db=(-20.0, 30.0)))).convert("RGB"))
    left, bottom, width, height = plots.SPECTROGRAM_AXES
    rows, columns = picture.shape[:2]
    inside = picture[int(rows * (1 - bottom - height)) + 3:int(rows * (1 - bottom)) - 3, int(columns * left) + 3:int(columns * (left + width)) - 3]
    lowest = np.round(np.array(matplotlib.colormaps["viridis"](0.0)[:3]) * 255)
    assert np.abs(inside.reshape(-1, 3) - lowest).max() <= 1


def test_spectrogram_is_on_the_fixed_scale_unless_auto_and_its_etag_follows(demo_detector):
    fixed = demo_detector.get(url(demo_detector, "pictures.SpectrogramPng", package_id=PIDS[0]))
    auto = demo_detector.get(url(demo_detector, "pictures.SpectrogramPng", package_id=PIDS[0], scale="auto"))
    assert fixed.status_code == auto.status_code == 200 and fixed.mimetype == auto.mimetype == "image/png"
    assert fixed.headers["ETag"] != auto.headers["ETag"] and fixed.data != auto.data
    again = demo_detector.get(url(demo_detector, "pictures.SpectrogramPng", package_id=PIDS[0]),
                              headers={"If-None-Match": fixed.headers["ETag"]})
    assert again.status_code == 304
    # another fixed range is another picture, with another ETag: the old one no longer matches
    app = demo_detector.application
    services = app.extensions["hydroserve"]
    other = dataclasses.replace(services.settings, colour_scales=check_colour_scales({"spectrogram": {"piezo": [-30, 20]}}))
    app.extensions["hydroserve"] = dataclasses.replace(services, settings=other)
    changed = demo_detector.get(url(demo_detector, "pictures.SpectrogramPng", package_id=PIDS[0]),
                                headers={"If-None-Match": fixed.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] not in (fixed.headers["ETag"], auto.headers["ETag"])
    assert demo_detector.get(url(demo_detector, "pictures.SpectrogramPng", package_id=PIDS[0], scale="loud")).status_code == 400


def test_a_strip_puts_every_missing_window_run_between_the_packages():
    from types import SimpleNamespace

    from hydroserve.acoustics.timeline import Gap, strip

    packages = [SimpleNamespace(boundary_tick=t) for t in (20, 30, 60)]  # windows of 10 ticks from 0 to 100
    assert strip(packages, start_tick=0, end_tick=100, interval_ticks=10) == [
        Gap(0, 2), packages[0], packages[1], Gap(40, 2), packages[2], Gap(70, 3)]
    assert strip([], start_tick=0, end_tick=100, interval_ticks=10) == [Gap(0, 10)]
    assert strip(packages[:1], start_tick=20, end_tick=30, interval_ticks=10) == packages[:1]
    with pytest.raises(ValueError, match="interval_ticks=0 must be positive"):
        strip(packages, start_tick=0, end_tick=100, interval_ticks=0)


def test_nearest_sensors_by_distance_then_on_the_same_string():
    from hydroserve.acoustics.timeline import nearest
    from hydroserve.codecs.raw import SensorId

    catalog = sensors.load(DETECTOR_FILE)
    origin = catalog.info(SensorId.parse(SENSOR_ID))  # string 9, floor 12
    others = list(catalog.sensors.values())
    closest = nearest(origin, others, 5)
    # its floor neighbours (35.4 m) first, then the next floors and the units 90 m away
    assert {(o.string, o.floor) for o in closest[:2]} == {(9, 11), (9, 13)}
    distances = [np.linalg.norm(np.subtract(o.position_m, origin.position_m)) for o in nearest(origin, others, 40)]
    assert distances == sorted(distances) and origin not in closest
    unplaced = sensors.SensorInfo(SensorId(1, 1), string=9, floor=3)  # no position: by floor on its string
    far = sensors.SensorInfo(SensorId(2, 1))
    assert nearest(sensors.SensorInfo(SensorId(3, 1), string=9, floor=5), [far, unplaced], 2) == [unplaced, far]
