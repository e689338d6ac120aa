"""PSD and spectrogram pictures of a package, band levels of a sensor: PNG products over HTTP."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from hydroserve.acoustics import bands, catalog, pictures, plots, product_keys, psd_product
from hydroserve.acoustics.sensors import Calibration, offset_db_at
from hydroserve.api import wiring
from hydroserve.api.web.acoustic_lookups import latest_packages
from hydroserve.api.web.services import services
from support import url

FIRST = "DOM_808956920_CH1_1608751680"
WITH_GAP = "DOM_808956920_CH1_1608751684"
SENSOR_ID = "DOM_808956920_CH1"


@pytest.fixture
def three_packages(archived, synthetic_files):
    """..80 and ..82 complete; frame 8 of the input is missing, so ..84 has a gap."""
    return archived(synthetic_files(n_frames=11, frames_per_file=4, drop_frames={8}))



def image(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def record_of(settings, pid):
    engine = wiring.init_catalog(settings)
    with engine.connect() as conn:
        return catalog.get_package(conn, pid)


@pytest.mark.parametrize(("endpoint", "args", "name", "size"), [
    ("pictures.PsdPng", {}, "psd.linear", plots.PSD_SIZE_PX),
    ("pictures.PsdPng", {"xscale": "log"}, "psd.log", plots.PSD_SIZE_PX),
    ("pictures.PsdPng", {"xscale": "log", "size": "small"}, "psd.log.small", plots.SMALL_SIZE_PX),
    ("pictures.SpectrogramPng", {}, "spectrogram", plots.SPECTROGRAM_SIZE_PX),
])
def test_picture_is_a_png_stored_once_with_etag(app, client, settings, three_packages, monkeypatch, endpoint, args, name, size):
    target = url(app, endpoint, package_id=WITH_GAP, **args)
    response = client.get(target)
    assert response.status_code == 200 and response.mimetype == "image/png"
    picture = image(response.data)
    assert (picture.format, picture.size) == ("PNG", size)
    assert response.headers["ETag"] == f'"{hashlib.sha256(response.data).hexdigest()}"'
    assert response.content_length == len(response.data)
    assert response.headers["Content-Disposition"] == f"inline; filename={WITH_GAP}.{name}.png"

    record = record_of(settings, WITH_GAP)
    key = product_keys.picture_key(product_keys.package_prefix(record.package_id, record.sensor, record.boundary_tick), name,
                                   "uncal", pictures.PICTURE_VERSION)
    blobs = wiring.open_blobs(settings)
    assert blobs.exists(key) and blobs.size(key) == len(response.data)

    def render_again(*args, **kwargs):
        raise RuntimeError("a stored picture was rendered again")

    monkeypatch.setattr(plots, "psd_png", render_again)
    monkeypatch.setattr(plots, "spectrogram_png", render_again)
    again = client.get(target)
    assert again.status_code == 200 and again.data == response.data
    cached = client.get(target, headers={"If-None-Match": response.headers["ETag"]})
    assert cached.status_code == 304 and cached.data == b""
    ranged = client.get(target, headers={"Range": "bytes=0-7"})
    assert ranged.status_code == 206 and ranged.data == b"\x89PNG\r\n\x1a\n"


def test_log_and_linear_psd_pictures_differ(app, client, three_packages):
    linear = client.get(url(app, "pictures.PsdPng", package_id=FIRST)).data
    log = client.get(url(app, "pictures.PsdPng", package_id=FIRST, xscale="log")).data
    assert linear != log and image(linear).size == image(log).size


def test_spectrogram_shows_the_gap_as_no_data(app, client, three_packages):
    """The gap of ..84 (0.63 s from 0.80 s) is drawn in the no-data grey across the whole frequency axis."""
    picture = np.asarray(image(client.get(url(app, "pictures.SpectrogramPng", package_id=WITH_GAP)).data).convert("RGB"))
    width, height = plots.SPECTROGRAM_SIZE_PX
    left, bottom, axes_width, axes_height = plots.SPECTROGRAM_AXES
    x = round((left + axes_width * 1.1 / 2.0) * width)  # 1.1 s into the 2 s window
    rows = slice(round((1 - bottom - axes_height * 0.7) * height), round((1 - bottom - axes_height * 0.05) * height))
    grey = tuple(int(plots.NO_DATA_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    assert (picture[rows, x] == grey).all()
    complete = np.asarray(image(client.get(url(app, "pictures.SpectrogramPng", package_id=FIRST)).data).convert("RGB"))
    assert not (complete[rows, x] == grey).all(axis=1).any()


def test_pictures_of_unknown_packages_and_bad_parameters_are_problems(app, client):
    missing = client.get(url(app, "pictures.SpectrogramPng", package_id="DOM_1_CH1_1"))
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert missing.json["detail"] == "No package 'DOM_1_CH1_1'."
    bad = client.get(url(app, "pictures.PsdPng", package_id=FIRST, xscale="cubic"))
    assert bad.status_code == 400 and bad.json["errors"] == {"query": {"xscale": ["Must be one of: linear, log."]}}
    unknown = client.get(url(app, "pictures.PsdPng", package_id=FIRST, yscale="log"))
    assert unknown.status_code == 400 and "yscale" in unknown.json["errors"]["query"]


def test_band_levels_picture_follows_the_latest_packages(app, client, settings, three_packages, archived, synthetic_files):
    target = url(app, "pictures.BandLevelsPng", sensor=SENSOR_ID, n=2)
    response = client.get(target)
    assert response.status_code == 200 and image(response.data).size == plots.BAND_LEVELS_SIZE_PX
    etag = response.headers["ETag"]
    assert client.get(target, headers={"If-None-Match": etag}).status_code == 304
    # a new package changes the latest two: the picture is new
    report = archived(synthetic_files(start_tick=1608751690 * 62_500_000, n_frames=4))
    assert report.packages_made == ["DOM_808956920_CH1_1608751690"]
    newer = client.get(target, headers={"If-None-Match": etag})
    assert newer.status_code == 200 and newer.headers["ETag"] != etag
    small = client.get(url(app, "pictures.BandLevelsPng", sensor=SENSOR_ID, n=2, size="small"))
    assert image(small.data).size == plots.SMALL_SIZE_PX and small.headers["ETag"] != newer.headers["ETag"]
    unknown = client.get(url(app, "pictures.BandLevelsPng", sensor="DOM_1_CH1"))
    assert unknown.status_code == 404 and unknown.json["detail"] == "No sensor 'DOM_1_CH1' has data here."
    too_few = client.get(url(app, "pictures.BandLevelsPng", sensor=SENSOR_ID, n=0))
    assert too_few.status_code == 400 and list(too_few.json["errors"]["query"]) == ["n"]


def test_band_levels_are_the_band_power_averages_of_the_served_psds(app, client, three_packages):
    with app.test_request_context():
        levels = services().products.band_levels(latest_packages(SENSOR_ID, 10), "median")
    assert [r.package_id for r in levels.records] == [FIRST, "DOM_808956920_CH1_1608751682", WITH_GAP]
    assert levels.unit == "dB re 1 (sample unit)²/Hz"
    for record, row in zip(levels.records, levels.levels_db):
        served = client.get(url(app, "acoustic.Psd", package_id=record.package_id)).json  # dB per frequency, rounded
        frequency_hz, median_db = np.array(served["frequency_hz"]), np.array(served["median"])
        nyquist_hz = frequency_hz[-1]
        for band, level_db in zip(bands.DEFAULT_BANDS, row):
            inside = (frequency_hz >= band.fmin_hz) & (frequency_hz <= (band.fmax_hz or nyquist_hz))
            # the band level averages power, not dB
            assert level_db == pytest.approx(10 * np.log10(np.mean(10 ** (median_db[inside] / 10))), abs=1e-3)


def test_picture_unit_follows_the_calibration():
    assert psd_product.display_unit(Calibration(sensitivity_db_re_1v_per_upa=-155.0, gain_db=40.0)) == "dB re 1 µPa²/Hz"
    assert psd_product.display_unit(None) == "dB re 1 (sample unit)²/Hz"
    assert offset_db_at(Calibration(sensitivity_db_re_1v_per_upa=-155.0, gain_db=40.0), np.array([10.0, 1e4])) == \
        pytest.approx([115.0, 115.0])
    assert offset_db_at(None, np.array([10.0, 1e4])) == pytest.approx([0.0, 0.0])


def test_openapi_documents_the_png_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/packages/{package_id}/psd.png", "/api/v1/packages/{package_id}/spectrogram.png", "/api/v1/sensors/{sensor}/band-levels.png"):
        assert "image/png" in paths[path]["get"]["responses"]["200"]["content"], path
    xscale = next(p for p in paths["/api/v1/packages/{package_id}/psd.png"]["get"]["parameters"] if p["name"] == "xscale")
    assert xscale["schema"]["enum"] == ["linear", "log"]
