"""The web pages: what they show (values), where their links lead, their error pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import lxml.html
import numpy as np
import pytest

from hydroserve.acoustics import plots
from hydroserve.api import wiring
from hydroserve.api.web import pages
from hydroserve.api.web.acoustic_lookups import latest_packages
from hydroserve.api.web.services import services
from hydroserve.odc_sync import registry
from support import url

SENSOR_ID = "DOM_808956920_CH1"
PIDS = [f"{SENSOR_ID}_1608751680", f"{SENSOR_ID}_1608751682", f"{SENSOR_ID}_1608751684"]


@pytest.fixture
def three_packages(archived, synthetic_files):
    """..80 and ..82 complete; frame 8 of the input is missing, so ..84 has a 0.631 s gap."""
    return archived(synthetic_files(n_frames=11, frames_per_file=4, drop_frames={8}))



def html(client, target, status=200):
    response = client.get(target)
    assert response.status_code == status and response.mimetype == "text/html", (target, response.status_code)
    return lxml.html.fromstring(response.data)


def local(address: str) -> str:
    """A link of our own as a path for the test client (the API writes absolute URLs on public_url, by default
    http://<bind>, never on the request's host)."""
    parts = urlsplit(address)
    assert parts.netloc in ("", "127.0.0.1:8000"), address
    return parts.path + (f"?{parts.query}" if parts.query else "")


def own_links(document) -> set[str]:
    found = set()
    for element, attribute in (("a", "href"), ("img", "src"), ("audio", "src"), ("link", "href"), ("script", "src")):
        for value in document.xpath(f"//{element}/@{attribute}"):
            if not value.startswith(("https://creativecommons.org/", "#")):
                found.add(local(value.split("#")[0]))
    return found


def assert_links_resolve(client, document):
    for target in own_links(document):
        response = client.get(target)
        assert response.status_code == 200, (target, response.status_code)


def text(element) -> str:
    return " ".join(element.text_content().split())


def test_index_lists_the_sensors_with_their_latest_packages(app, client, three_packages):
    document = html(client, url(app, "pages.index"))
    (row,) = document.xpath("//table[@class='sensors']/tbody/tr")
    cells = [text(cell) for cell in row.xpath("th|td")]
    assert cells[:5] == [SENSOR_ID, "unknown", "unknown", "no", "3"]
    links = row.xpath(".//a[@class='package-link']")
    assert [local(a.get("href")) for a in links] == [url(app, "pages.package", package_id=pid) for pid in reversed(PIDS)]
    assert [text(a) for a in links] == ["2020-12-23 19:28:04 UTC", "2020-12-23 19:28:02 UTC", "2020-12-23 19:28:00 UTC"]
    assert_links_resolve(client, document)


def test_time_overview_counts_packages_per_hour_and_day(app, client, three_packages):
    document = html(client, url(app, "pages.index"))
    (row,) = document.xpath("//table[@class='coverage']/tbody/tr")
    cells = row.xpath("td")
    assert len(cells) == pages.OVERVIEWS["hours"][1]
    # the latest hour (19:00 UTC) holds the 3 packages of 1800 expected (2 s interval)
    assert [cell.get("class") for cell in cells[:-1]] == ["level-0"] * (len(cells) - 1) and cells[-1].get("class") == "level-1"
    (link,) = cells[-1].xpath("a")
    assert link.get("title") == f"{SENSOR_ID}, 2020-12-23 19:00:00 UTC: 3 of 1800 packages"
    query = parse_qs(urlsplit(link.get("href")).query)
    assert query == {"start": ["2020-12-23T19:00:00+00:00"], "end": ["2020-12-23T20:00:00+00:00"]}
    listed = html(client, link.get("href")).xpath("//table[contains(@class, 'packages')]/tbody/tr/th/a/@href")
    assert listed == [url(app, "pages.package", package_id=pid) for pid in reversed(PIDS)]

    days = html(client, url(app, "pages.index", overview="days"))
    (row,) = days.xpath("//table[@class='coverage']/tbody/tr")
    assert len(row.xpath("td")) == 60 and row.xpath("td[last()]/a/@title") == [f"{SENSOR_ID}, 2020-12-23 00:00:00 UTC: 3 of 43200 packages"]
    assert days.xpath("//nav[@class='toggle']/a[@aria-current]/text()") == ["by day"]


def test_index_shows_the_latest_resources_of_other_services(app, client, settings, three_packages):
    from hydroserve.api.demo import publish_samples

    engine = wiring.init_catalog(settings)
    publish_samples(settings, engine)  # the sample event table (3 formats + cone search), then the sample alert
    document = html(client, url(app, "pages.index"))
    items = document.xpath("//ul[@class='resources']/li")
    with engine.connect() as conn:
        alert = registry.get_resource(conn, "alerts_01_voevent_ORCA24-0114-00873_r1")
        stream = registry.get_stream(conn, alert.stream_kid)
    first = items[0]
    assert text(first.xpath("a")[0]) == alert.title  # newest first: the alert came last
    assert first.xpath(".//a/@href") == [alert.access_url, url(app, "registry.Resource", kid=alert.kid)]
    assert stream.title in text(first)
    assert len(items) == 5 and all(text(li).startswith("Synthetic ARCA-like particle events") for li in items[1:])
    assert "acoustic20_01" not in text(document.xpath("//ul[@class='resources']")[0])


def test_index_without_data_says_so(app, client):
    document = html(client, url(app, "pages.index"))
    assert [text(p) for p in document.xpath("//p[@class='empty']")] == [
        "No data has been archived yet.", "No data yet.", "No other open data is published here yet."]


def test_package_page_plays_shows_and_describes_the_package(app, client, settings, three_packages):
    pid = PIDS[2]
    document = html(client, url(app, "pages.package", package_id=pid))
    (audio,) = document.xpath("//audio")
    assert local(audio.get("src")) == url(app, "acoustic.Mp3", package_id=pid) and audio.get("preload") == "metadata"
    assert document.xpath("//img[@id='spectrogram']/@src") == [url(app, "pictures.SpectrogramPng", package_id=pid, scale="fixed")]
    assert document.xpath("//img[@id='psd']/@src") == [url(app, "pictures.PsdPng", package_id=pid, xscale="linear")]
    assert all(len(alt) > 40 for alt in document.xpath("//img/@alt"))
    assert "68.45 % of the samples, 1 gap." in text(document.xpath("//p[@class='lead']")[0])

    # previous/next of the same sensor
    assert document.xpath("//nav[@class='pager']/a/@href") == [url(app, "pages.package", package_id=PIDS[1])]
    first = html(client, url(app, "pages.package", package_id=PIDS[0]))
    assert first.xpath("//nav[@class='pager']/a/@href") == [url(app, "pages.package", package_id=PIDS[1])]
    assert first.xpath("//nav[@class='pager']/a/@rel") == ["next"]

    # every product with its size
    info = client.get(url(app, "acoustic.Info", package_id=pid)).json
    rows = document.xpath("//table[contains(@class, 'downloads')]/tbody/tr")
    assert [text(r.xpath("th")[0]) for r in rows] == ["flac", "hmd", "mp3", "psd", "raw", "wav"]
    for row in rows:
        product = info["products"][text(row.xpath("th")[0])]
        assert local(row.xpath("th/a/@href")[0]) == local(product["url"])
        assert row.xpath("td[@class='num']/@title") == [f"{product['size_bytes']} bytes"]
        assert text(row.xpath("td")[2]) == product["sha256"]

    # the /info fields as tables: timing, the gap, the calibration
    def field(section, label):
        return [text(td) for td in document.xpath(f"//h3[text()='{section}']/following-sibling::table[1]/tr[th='{label}']/td")]

    assert field("Timing", "sample rate (Hz)") == ["195312.5"]
    assert field("Timing", "sample rate exact (Hz)") == ["390625/2"]
    assert field("Timing", "start unix (ns)") == [str(info["timing"]["start_unix_ns"])]
    (gap,) = info["data"]["gaps"]
    gap_cells = [text(td) for td in document.xpath("//tr[th='gaps']/td//table/tbody/tr/td")]
    assert gap_cells == [gap["start"], gap["end"], str(gap["start_unix_ns"]), str(gap["end_unix_ns"]),
                         f"{gap['duration_s']:.9g}", str(gap["at_sample"])]
    assert field("Calibration", "psd unit") == ["dB re 1 (sample unit)^2/Hz"] and field("Calibration", "calibrated") == ["no"]

    # the spectrogram script maps window time to MP3 time with the runs
    (figure,) = document.xpath("//figure[@data-spectrogram]")
    runs = json.loads(figure.get("data-runs"))
    data_runs = info["data"]["runs"]
    assert [r[1] * 195312.5 for r in runs] == pytest.approx([r["first_sample"] for r in data_runs])
    assert runs[1][0] == pytest.approx((data_runs[1]["start_unix_ns"] - 1608751684 * 10**9) / 1e9)
    assert json.loads(figure.get("data-axes")) == list(plots.SPECTROGRAM_AXES)
    assert_links_resolve(client, document)


def test_package_page_switches_the_psd_to_log_frequency(app, client, three_packages):
    document = html(client, url(app, "pages.package", package_id=PIDS[0], xscale="log"))
    assert document.xpath("//img[@id='psd']/@src") == [url(app, "pictures.PsdPng", package_id=PIDS[0], xscale="log")]
    assert document.xpath("//nav[@class='toggle']/a[@aria-current]/text()") == ["fixed colour scale", "logarithmic frequency"]
    auto = html(client, url(app, "pages.package", package_id=PIDS[0], xscale="log", scale="auto"))
    assert auto.xpath("//img[@id='spectrogram']/@src") == [url(app, "pictures.SpectrogramPng", package_id=PIDS[0], scale="auto")]
    assert auto.xpath("//nav[@class='toggle']/a[@aria-current]/text()") == ["auto colour scale", "logarithmic frequency"]


def test_sensor_page_lists_packages_by_page_and_the_noise_in_bands(app, client, three_packages, monkeypatch):
    monkeypatch.setattr(pages, "SENSOR_PAGE_SIZE", 2)
    document = html(client, url(app, "pages.sensor", sensor=SENSOR_ID))
    rows = document.xpath("//table[contains(@class, 'packages')]/tbody/tr")
    assert [local(r.xpath("th/a/@href")[0]) for r in rows] == [url(app, "pages.package", package_id=pid) for pid in (PIDS[2], PIDS[1])]
    assert [text(td) for td in rows[0].xpath("td")][:3] == ["2.0", "68.45 %", "1"]
    (older,) = document.xpath("//a[@rel='next']/@href")
    rest = html(client, older)
    assert rest.xpath("//table[contains(@class, 'packages')]/tbody/tr/th/a/@href") == [url(app, "pages.package", package_id=PIDS[0])]
    assert rest.xpath("//a[@rel='next']") == []

    assert document.xpath("//img[@id='band-levels']/@src") == [url(app, "pictures.BandLevelsPng", sensor=SENSOR_ID, n=48)]
    with app.test_request_context():
        levels = services().products.band_levels(latest_packages(SENSOR_ID, 48), "median")
    table = document.xpath("//section[@aria-labelledby='levels-heading']//table/tbody/tr")
    shown = [[float(text(td)) for td in row.xpath("td")] for row in table]
    np.testing.assert_allclose(shown, levels.levels_db[::-1], atol=0.05)
    assert [text(row.xpath("th")[0]) for row in table] == ["2020-12-23 19:28:04 UTC", "2020-12-23 19:28:02 UTC", "2020-12-23 19:28:00 UTC"]
    assert_links_resolve(client, document)


def test_sensor_page_filters_by_time(app, client, three_packages):
    start = datetime.fromtimestamp(1608751682, UTC)
    document = html(client, url(app, "pages.sensor", sensor=SENSOR_ID, start=start.isoformat(), end="2020-12-23T19:28:04+00:00"))
    assert document.xpath("//table[contains(@class, 'packages')]/tbody/tr/th/a/@href") == [url(app, "pages.package", package_id=PIDS[1])]
    assert "from 2020-12-23 19:28:02 UTC before 2020-12-23 19:28:04 UTC" in text(document.xpath("//p[@class='hint']")[0])


def test_day_page_strips_the_packages_of_the_hour_with_their_gaps(app, client, three_packages):
    document = html(client, url(app, "pages.day", sensor=SENSOR_ID))  # the latest day; 2 s windows: its latest hour
    assert text(document.xpath("//h1")[0]) == f"Sensor {SENSOR_ID} 2020-12-23, 19:00–20:00 UTC"
    hours = document.xpath("//ol[@class='hours']/li")
    assert len(hours) == 24 and [li.get("class") for li in hours][18:20] == ["level-0", "level-1 chosen"]
    assert hours[19].xpath("a/@title") == ["19:00 UTC: 3 of 1800 packages"]
    slots = document.xpath("//ol[@class='strip']/li")
    assert [li.get("class") for li in slots] == ["gap", "slot", "slot", "slot", "gap"]
    assert [text(li) for li in slots[::4]] == ["no data 19:00:00–19:28:00 840 windows", "no data 19:28:06–20:00:00 957 windows"]
    thumbnails = document.xpath("//ol[@class='strip']//img/@src")
    assert thumbnails == [url(app, "pictures.SpectrogramPng", package_id=pid, size="thumbnail") for pid in PIDS]
    assert [local(a) for a in document.xpath("//ol[@class='strip']//a/@href")] == [url(app, "pages.package", package_id=pid) for pid in PIDS]
    assert_links_resolve(client, document)
    other_hour = html(client, url(app, "pages.day", sensor=SENSOR_ID, date="2020-12-23", hour=3))
    assert other_hour.xpath("//ol[@class='strip']") == [] and [text(p) for p in other_hour.xpath("//p[@class='empty']")] == [
        "No packages in this hour."]
    assert other_hour.xpath("//ol[@class='hours']/li[4]/@class") == ["level-0 chosen"]


def test_same_time_page_shows_the_window_of_every_sensor_with_data(app, client, archived, synthetic_files, three_packages):
    from hydroserve.codecs.raw import SensorId

    archived(synthetic_files(SensorId(808974724, 1), n_frames=11, frames_per_file=4, seed=3))
    document = html(client, url(app, "pages.nearby", package_id=PIDS[0]))
    panels = document.xpath("//ol[@class='panels']/li")
    assert [text(p.xpath(".//figcaption/a")[0]) for p in panels] == [SENSOR_ID, "DOM_808974724_CH1"]
    assert document.xpath("//ol[@class='panels']//img/@src") == [
        url(app, "pictures.SpectrogramPng", package_id=pid) for pid in (PIDS[0], "DOM_808974724_CH1_1608751680")]
    assert "auto-scaled: no colour_scales for this type" in text(panels[0])  # the test settings configure none
    assert document.xpath("//a[@rel='next']/@href") == [url(app, "pages.nearby", package_id=PIDS[1])]
    assert_links_resolve(client, document)


@pytest.mark.parametrize(("target", "status", "message"), [
    (f"/sensors/{SENSOR_ID}/day?date=2020-13-01", 400, "Invalid query parameter 'date'"),
    (f"/sensors/{SENSOR_ID}/day?hour=24", 400, "Invalid query parameter 'hour'"),
    ("/sensors/DOM_1_CH1/day", 404, "No sensor 'DOM_1_CH1' has data here."),
    ("/packages/DOM_1_CH1_1/nearby", 404, "No package 'DOM_1_CH1_1'."),
    ("/?floor=-1", 400, "Invalid query parameter 'floor'"),
    ("/packages/DOM_1_CH1_1", 404, "No package 'DOM_1_CH1_1'."),
    ("/packages/not-a-package", 404, "No package 'not-a-package'"),
    ("/sensors/DOM_1_CH1", 404, "No sensor 'DOM_1_CH1' has data here."),
    ("/?overview=weeks", 400, "Invalid query parameter 'overview': Must be one of: hours, days."),
    (f"/packages/{PIDS[0]}?xscale=cubic", 400, "Invalid query parameter 'xscale'"),
    (f"/sensors/{SENSOR_ID}?cursor=abc", 400, "Invalid query parameter 'cursor': Not a cursor issued by this service."),
])
def test_errors_are_pages(client, three_packages, target, status, message):
    document = html(client, target, status)
    assert document.xpath("//h1/text()")[0].startswith(str(status))
    assert message in text(document.xpath("//p[@class='lead']")[0])
    assert document.xpath("//a[text()='Back to the overview']/@href") == ["/"]
