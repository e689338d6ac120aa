"""Acceptance: the web pages in a real browser (Debian's headless Chromium driven by playwright)
against a real gunicorn serving archived synthetic data."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SENSOR_ID = "DOM_808956920_CH1"
PIDS = [f"{SENSOR_ID}_1608751680", f"{SENSOR_ID}_1608751682", f"{SENSOR_ID}_1608751684"]
WAIT_MS = 20_000
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.sqlite_only,  # the subject is the page in a browser; the catalog's queries are tested on both engines
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)"),
]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def wait_until(page, expression: str, timeout_ms: int = WAIT_MS) -> None:
    """Poll a JavaScript expression until it is truthy (page.evaluate goes through the DevTools protocol, so the
    page's Content-Security-Policy, which forbids eval, stays in force; wait_for_function would need eval)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


class Watched:
    """A page with everything that went wrong on it: console errors, uncaught exceptions, failed or refused requests."""

    def __init__(self, browser, **context):
        self.page = browser.new_context(**context).new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.problems.append(f"console: {message.text}"))
        self.page.on("pageerror", lambda error: self.problems.append(f"exception: {error}"))
        # a load the browser cancelled itself (net::ERR_ABORTED: the page moved on, or a <picture> source it no longer
        # shows) is no failure of the server; every answer the server refused is caught below
        self.page.on("requestfailed", lambda request: request.failure != "net::ERR_ABORTED"
                     and self.problems.append(f"failed: {request.url} {request.failure}"))
        self.page.on("response", lambda response: response.status >= 400 and self.problems.append(f"{response.status}: {response.url}"))


def test_browse_listen_and_look(browser, archived, synthetic_files, gunicorn_server):
    archived(synthetic_files(n_frames=11, frames_per_file=4, drop_frames={8}))
    base = gunicorn_server()
    watched = Watched(browser, viewport={"width": 1280, "height": 900})
    page = watched.page

    page.goto(f"{base}/", wait_until="load")
    listed = page.locator("a.package-link")
    assert listed.evaluate_all("links => links.map(a => a.textContent.trim())") == [
        "2020-12-23 19:28:04 UTC", "2020-12-23 19:28:02 UTC", "2020-12-23 19:28:00 UTC"]
    page.get_by_role("link", name=f"Package {PIDS[2]}").click()
    page.wait_for_url(f"{base}/packages/{PIDS[2]}")

    # the player loads the MP3's metadata from our server: 1.37 s of data (2 s window less the 0.63 s gap)
    wait_until(page, "document.getElementById('player').readyState >= 1")
    player = page.evaluate("(() => { const a = document.getElementById('player'); return {src: a.currentSrc, duration: a.duration}; })()")
    assert player["src"] == f"{base}/api/v1/packages/{PIDS[2]}/mp3"
    assert player["duration"] == pytest.approx(1.37, abs=0.1)

    for picture, width in (("spectrogram", 1000), ("psd", 1000)):
        wait_until(page, f"(() => {{ const i = document.getElementById('{picture}'); return i.complete && i.naturalWidth > 0; }})()")
        assert page.evaluate(f"document.getElementById('{picture}').naturalWidth") == width

    # a click 1.60 s into the window (after the gap, whose run starts at 1.435 s in the window and 0.804 s in
    # the audio) seeks the player to 0.804 + 0.165 s; the playhead moves there
    runs = page.evaluate("JSON.parse(document.querySelector('[data-spectrogram]').dataset.runs)")
    window_s, audio_s, _ = runs[1]
    page.evaluate("document.getElementById('player').addEventListener('seeked', e => { window.seekedAt = e.target.currentTime; }, {once: true})")
    image = page.locator("#spectrogram")
    box = image.bounding_box()
    left, _, width, _ = page.evaluate("JSON.parse(document.querySelector('[data-spectrogram]').dataset.axes)")
    image.click(position={"x": (left + width * 1.6 / 2.0) * box["width"], "y": box["height"] / 2})
    wait_until(page, "window.seekedAt !== undefined")
    assert page.evaluate("window.seekedAt") == pytest.approx(audio_s + 1.6 - window_s, abs=0.01)
    assert page.locator(".playhead").is_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "package-page.png"), full_page=True)

    # every click below navigates: wait for the new page, or the old page's pictures could answer the wait
    page.get_by_role("link", name="logarithmic frequency").click()
    page.wait_for_url(re.compile(r".*[?&]xscale=log.*"))
    wait_until(page, "(() => { const i = document.getElementById('psd'); return i.complete && i.naturalWidth > 0; })()")
    assert page.evaluate("document.getElementById('psd').currentSrc").endswith("/psd.png?xscale=log")
    page.get_by_role("link", name="← previous package").click()
    page.wait_for_url(f"{base}/packages/{PIDS[1]}")
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role("link", name=SENSOR_ID).click()
    page.wait_for_url(f"{base}/sensors/{SENSOR_ID}")
    wait_until(page, "(() => { const i = document.getElementById('band-levels'); return i.complete && i.naturalWidth > 0; })()")
    assert page.locator("table.packages tbody tr").count() == 3
    assert watched.problems == []

    # at phone width nothing sticks out sideways (wide tables scroll inside their box)
    phone = Watched(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    for path in ("/", f"/packages/{PIDS[2]}", f"/sensors/{SENSOR_ID}", "/packages/DOM_1_CH1_1"):
        phone.page.goto(base + path, wait_until="networkidle")  # the favicon too, or the next navigation aborts it
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    assert phone.page.locator("h1").text_content() == "404 · Not Found"
    # the only problems: the 404 itself, as the browser reports any 404
    assert sorted(phone.problems) == [f"404: {base}/packages/DOM_1_CH1_1",
                                      "console: Failed to load resource: the server responded with a status of 404 (NOT FOUND)"]
