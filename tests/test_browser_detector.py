"""Acceptance: the detector overview (456 sensors of the demo detector), a day page and the side-by-side view in Debian's
headless Chromium against one real gunicorn, at desktop and phone width: what they show, where clicks lead, no console
errors, nothing sticking out sideways at phone width, the strict Content-Security-Policy in force. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import math
from importlib.resources import files
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from hydroserve.acoustics import plots
from hydroserve.acoustics import sensors as sensor_metadata
from hydroserve.api import wiring
from hydroserve.api.config import load_settings
from hydroserve.api.web.headers import PAGE_POLICY
from hydroserve.codecs import raw, raw_decoder
from hydroserve.samples.synthetic import SyntheticSensor, write_adf_files
from support import REAL_START_TICK, server_env, start_server
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PHONE, Watched, wait_until

DESKTOP = {"width": 1280, "height": 900}
DETECTOR_FILE = files("hydroserve.samples") / "detector.toml"
LIVE = ["DOM_808956920_CH1", "DOM_808974724_CH1", "DOM_808432836_CH0"]  # string 9 floor 12, string 10 floors 4 and 0
FIRST_WINDOW_S = 1608751680
# the synthetic sea's spectrogram levels: -38 to 12 dB re 1 µPa²/Hz at the calibrated piezos, -156 to -112 dB
# re 1 (sample unit)²/Hz at the uncalibrated hydrophone (percentiles 1 and 99.9)
COLOUR_SCALES = {"spectrogram": {"piezo": [-40, 15], "hydrophone": [-160, -110]}}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.sqlite_only,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One gunicorn for the module: the demo detector, its three live sensors archived for 10 s (windows 19:28:00 to
    19:28:08, 2 s each), the first with two frames missing, so that its window at 19:28:04 is not kept."""
    directory = tmp_path_factory.mktemp("detector-site")
    settings = load_settings(env={}, data_dir=str(directory / "data"), snippet_duration_s="2", snippet_interval_s=2,
                             min_coverage=0.6, sensors_file=str(DETECTOR_FILE), colour_scales=COLOUR_SCALES)
    engine = wiring.init_catalog(settings)
    ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=5)
    for index, sensor in enumerate(LIVE):
        source = SyntheticSensor(raw.SensorId.parse(sensor), seed=index, level=1.0 / (1 + index))
        drop = frozenset({6, 7}) if index == 0 else frozenset()
        for path in write_adf_files(directory / "adf", source, start_tick=REAL_START_TICK, n_frames=16, frames_per_file=4,
                                    drop_frames=drop):
            ingestor.feed(source.sensor, raw_decoder.read_file(path, frame_length=settings.adf_frame_length))
    ingestor.flush()
    engine.dispose()
    process, url = start_server(server_env(settings), directory / "gunicorn.log", ready_within_s=60)
    yield url
    process.kill()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# pages are opened with wait_until="networkidle": the favicon too, or the next navigation aborts its request (a
# "problem" of the page)


def arrive(page, address) -> None:
    """Wait until a click's navigation reaches ``address`` (a URL or a test of it) and the page's requests are done."""
    page.wait_for_url(address)
    page.wait_for_load_state("networkidle")


def pictures_loaded(page) -> None:
    wait_until(page, "[...document.images].every(i => i.complete && i.naturalWidth > 0)")


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def check_policy(base: str, path: str) -> None:
    response = requests.get(base + path, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Security-Policy"] == PAGE_POLICY
    assert "unsafe-inline" not in PAGE_POLICY and "<script>" not in response.text and " style=" not in response.text


def test_overview_draws_every_sensor_of_the_detector(browser, site):
    check_policy(site, "/")
    watched = Watched(browser, viewport=DESKTOP)
    page = watched.page
    page.goto(f"{site}/", wait_until="networkidle")
    wait_until(page, "document.getElementById('detector').dataset.drawn === '456'")
    assert page.locator("#detector rect[data-index]").count() == 456
    assert page.locator("#detector circle").count() == 24  # the top view: one per detection unit
    # the live sensors have a level and a colour of the scale; the others are grey "no data"
    fills = page.evaluate("[...document.querySelectorAll('#detector rect[data-index]')].map(r => r.getAttribute('fill'))")
    assert sum(f != "#c8c8c8" for f in fills) == 3
    live = page.locator("#detector rect[data-index]").nth(8 * 19 + 12)  # string 9, floor 12: the 13th cell of the 9th unit
    live.hover()
    status = page.locator("#detector-status").text_content()
    assert status.startswith("DOM_808956920_CH1 · piezo · string 9, floor 12 · ") and status.endswith(" dB")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview-desktop.png"), full_page=True)
    live.click()
    arrive(page, f"{site}/sensors/DOM_808956920_CH1")
    # a sensor of the geometry without data has its page too
    page.goto(f"{site}/", wait_until="networkidle")
    wait_until(page, "document.getElementById('detector').dataset.drawn === '456'")
    page.locator("#detector rect[data-index]").nth(0).click()
    arrive(page, f"{site}/sensors/DOM_817000100_CH0")
    assert "No data from this sensor has been archived yet." in page.locator("main").text_content()

    # the search form (its other fields left empty): floor 12 marks 24 cells and lists 24 sensors; availability over
    # the 10 s of data
    page.goto(f"{site}/", wait_until="networkidle")
    page.get_by_role("spinbutton", name="floor").fill("12")
    page.get_by_label("Colour by").select_option("availability")
    page.get_by_label("Availability from").fill("2020-12-23T19:28:00")
    page.get_by_label("to", exact=True).fill("2020-12-23T19:28:10")
    page.get_by_role("button", name="Show").click()
    arrive(page, lambda address: "floor=12" in address)
    assert parse_qs(urlsplit(page.url).query, keep_blank_values=True) == {
        "quantity": ["availability"], "start": ["2020-12-23T19:28"], "end": ["2020-12-23T19:28:10"], "dom": [""],
        "string": [""], "floor": ["12"], "type": [""]}
    wait_until(page, "document.getElementById('detector').dataset.drawn === '456'")
    assert page.locator("#detector rect.match").count() == 24
    assert page.locator("table.sensors tbody tr").count() == 24
    availability = page.evaluate("[...document.querySelectorAll('#detector rect[data-index]')].filter(r => r.getAttribute('fill') !== '#c8c8c8').length")
    assert availability == 456  # availability is known for every sensor: 0 where there is no data
    page.locator("#detector rect.match").nth(8).hover()  # string 9's floor 12: 4 of the 5 windows archived
    assert page.locator("#detector-status").text_content() == "DOM_808956920_CH1 · piezo · string 9, floor 12 · 80.0 % of windows"
    assert watched.problems == []

    phone = Watched(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    phone.page.goto(f"{site}/", wait_until="networkidle")
    wait_until(phone.page, "document.getElementById('detector').dataset.drawn === '456'")
    assert fits_the_phone(phone.page)
    smallest_text_px = phone.page.evaluate(
        "Math.min(...[...document.querySelectorAll('#detector text')].map(t => parseFloat(getComputedStyle(t).fontSize)"
        " * t.ownerSVGElement.getBoundingClientRect().width / t.ownerSVGElement.viewBox.baseVal.width))")
    assert smallest_text_px >= 11  # drawn at the page's width: the labels keep their size
    phone.page.screenshot(path=str(ARTIFACTS / "overview-phone.png"), full_page=True)
    assert phone.problems == []


def test_day_page_shows_the_packages_with_the_gaps_between_them(browser, site):
    path = f"/sensors/{LIVE[0]}/day?date=2020-12-23"
    check_policy(site, path)
    for name, context in (("desktop", {"viewport": DESKTOP}), ("phone", {"viewport": PHONE, "is_mobile": True, "has_touch": True})):
        watched = Watched(browser, **context)
        page = watched.page
        page.goto(site + path, wait_until="networkidle")
        # 2 s windows: too many for a day, so the latest hour with data (19:00) is shown
        assert page.locator("h1").text_content().split() == ["Sensor", LIVE[0], "2020-12-23,", "19:00–20:00", "UTC"]
        slots = page.locator("ol.strip > li")
        kinds = slots.evaluate_all("items => items.map(li => li.className)")
        # 19:00 to the first window, 5 windows (19:28:00 to :08, the one at :04 not kept: 0.598 of its samples), then to 20:00
        assert kinds == ["gap", "slot", "slot", "gap", "slot", "slot", "gap"]
        gaps = page.locator("ol.strip li.gap").evaluate_all("items => items.map(li => li.innerText.split(/\\s+/).join(' '))")
        assert gaps == ["no data 19:00:00–19:28:00 840 windows", "no data 19:28:04–19:28:06 1 window",
                        "no data 19:28:10–20:00:00 955 windows"]
        pictures_loaded(page)
        if name == "phone":
            assert fits_the_phone(page)
        page.screenshot(path=str(ARTIFACTS / f"day-{name}.png"), full_page=True)
        page.locator("ol.strip li.slot a").first.click()
        arrive(page, f"{site}/packages/{LIVE[0]}_{FIRST_WINDOW_S}")
        if name == "phone":
            # the package page at phone width: the small spectrogram, and a click on it still seeks to its time
            # (1.0 s into the complete window is 1.0 s into the audio)
            wait_until(page, "document.getElementById('player').readyState >= 1")
            wait_until(page, "(() => { const i = document.getElementById('spectrogram'); return i.complete && i.naturalWidth > 0; })()")
            assert page.evaluate("document.getElementById('spectrogram').naturalWidth") == 320 and fits_the_phone(page)
            # the PSD too: the small picture, its text drawn at about the size of the page's
            page.locator("#psd").scroll_into_view_if_needed()
            wait_until(page, "(() => { const i = document.getElementById('psd'); return i.complete && i.naturalWidth > 0; })()")
            assert page.evaluate("document.getElementById('psd').naturalWidth") == plots.SMALL_SIZE_PX[0]
            assert "size=small" in page.evaluate("document.getElementById('psd').currentSrc")
            page.evaluate("document.getElementById('player').addEventListener('seeked', e => { window.seekedAt = e.target.currentTime; }, {once: true})")
            image = page.locator("#spectrogram")
            box = image.bounding_box()
            left, _, width, _ = plots.THUMBNAIL_AXES
            image.click(position={"x": (left + width * 0.5) * box["width"], "y": box["height"] / 2})
            wait_until(page, "window.seekedAt !== undefined")
            assert page.evaluate("window.seekedAt") == pytest.approx(1.0, abs=0.02)
            page.screenshot(path=str(ARTIFACTS / "package-phone.png"), full_page=True)
        assert watched.problems == []


def test_same_time_other_sensors_side_by_side_nearest_first(browser, site):
    path = f"/packages/{LIVE[0]}_{FIRST_WINDOW_S}/nearby"
    check_policy(site, path)
    geometry = sensor_metadata.load(DETECTOR_FILE)
    position = {s: geometry.info(raw.SensorId.parse(s)).position_m for s in LIVE}
    for name, context in (("desktop", {"viewport": DESKTOP}), ("phone", {"viewport": PHONE, "is_mobile": True, "has_touch": True})):
        watched = Watched(browser, **context)
        page = watched.page
        page.goto(f"{site}/packages/{LIVE[0]}_{FIRST_WINDOW_S}", wait_until="networkidle")
        pictures_loaded(page)  # leaving sooner would abort their requests
        page.get_by_role("link", name="same time, other sensors").click()
        arrive(page, site + path)
        captions = page.locator("ol.panels figcaption").evaluate_all("items => items.map(f => f.innerText)")
        order = [caption.split(" · ")[0] for caption in captions]
        assert order == [LIVE[0], LIVE[1], LIVE[2]]  # string 10 floor 4 is nearer to string 9 floor 12 than its base
        for sensor, caption in zip(order[1:], captions[1:]):
            assert f"{math.dist(position[sensor], position[LIVE[0]]):.1f} m away" in caption
        assert "colours -40.0 to 15.0 dB (fixed)" in captions[0] and "colours -160.0 to -110.0 dB (fixed)" in captions[2]
        pictures_loaded(page)
        # at phone width the small pictures (320 px, drawn about as wide as the screen: their labels stay readable)
        widths = page.evaluate("[...document.querySelectorAll('ol.panels img')].map(i => i.naturalWidth)")
        assert widths == [320 if name == "phone" else 1000] * 3
        if name == "phone":
            assert fits_the_phone(page)
        page.screenshot(path=str(ARTIFACTS / f"nearby-{name}.png"), full_page=True)
        assert watched.problems == []
