"""Resource registry, harvest feed, OAI-PMH (harvested with sickle) and the ODC push (against a loopback stub)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from sqlalchemy import func, select

from hydroserve.acoustics import catalog
from hydroserve.acoustics.archive import Archive
from hydroserve.api import wiring
from hydroserve.api.db import writer
from hydroserve.codecs import raw, raw_decoder
from hydroserve.codecs.raw import SensorId
from hydroserve.codecs.times import as_utc
from hydroserve.odc_sync import outbox, registry
from hydroserve.odc_sync.push import OdcPusher
from hydroserve.odc_sync.retry import RetryPolicy
from odc_stub import OdcStub, StubServer
from support import SENSOR, archive_files, free_port, server_env, synthetic_adf, url

OAI = "{http://www.openarchives.org/OAI/2.0/}"
KINDS = ("flac", "mp3", "psd", "raw", "wav")  # the synthetic samples are 24-bit counts: stored (and served) as FLAC
STREAMS = tuple(sorted((*KINDS, "hmd")))  # the HMD is registered once per sensor-day (the daily netCDF)
N_RESOURCES = 2 * len(KINDS) + 1  # two packages of one sensor-day


@pytest.fixture
def packages(archived, synthetic_files):
    report = archived(synthetic_files(n_frames=8))  # 2 complete packages
    return report.packages_made


@pytest.fixture(scope="module")
def archive_client(module_settings, module_client):
    """A client of one archive of 2 packages per module and engine, for the tests that only read it."""
    archive_files(module_settings, synthetic_adf(module_settings.data_dir.parent / "adf", n_frames=8))
    return module_client


def counts_in_catalog(settings):
    engine = wiring.init_catalog(settings)
    with engine.connect() as conn:
        n_resources = conn.execute(select(func.count()).select_from(registry.resources)).scalar()
        n_outbox = conn.execute(select(func.count()).select_from(outbox.table)).scalar()
    return n_resources, n_outbox


def test_every_package_yields_a_resource_per_product_and_its_day_one_hmd_resource(client, settings, packages):
    assert len(packages) == 2
    collection = client.get(url(client, "registry.Collection", kid="acoustic20_01")).json
    assert collection["title"] == "Acoustic data"
    assert {s["kid"]: s["member_count"] for s in collection["streams"]} == {
        **{f"acoustic20_01_{k}": 2 for k in KINDS}, "acoustic20_01_hmd": 1}
    assert counts_in_catalog(settings) == (N_RESOURCES, N_RESOURCES)  # the day's resource is queued once
    pid = packages[0]
    resource = client.get(url(client, "registry.Resource", kid=f"acoustic20_01_psd_{pid}")).json
    info = client.get(url(client, "acoustic.Info", package_id=pid)).json
    assert resource["ktype"] == "acoustics.psd" and resource["stream"] == "acoustic20_01_psd"
    assert resource["sha256"] == info["products"]["psd"]["sha256"] and resource["size_bytes"] == info["products"]["psd"]["size_bytes"]
    assert resource["access_url"] == f"{settings.public_url}/api/v1/packages/{pid}/psd"
    assert resource["info_url"] == f"{settings.public_url}/api/v1/packages/{pid}/info"
    assert resource["subject_id"] == pid and resource["extra"]["sensor"] == str(SENSOR)
    assert resource["temporal_coverage"] == {"start": info["timing"]["start"].replace("Z", "+00:00"),
                                             "end": info["timing"]["end"].replace("Z", "+00:00")}
    assert [step["id"] for step in resource["provenance"]] == ["hydroserve:cut", "hydroserve:psd"]
    stream = client.get(url(client, "registry.Stream", kid="acoustic20_01_wav", limit=1)).json
    assert stream["member_count"] == 2 and len(stream["members"]) == 1 and stream["next"]
    assert client.get(stream["next"]).json["members"][0]["kid"] == f"acoustic20_01_wav_{packages[1]}"


def test_no_package_without_its_resources(settings, synthetic_files):
    def failing_registrar(conn, record):
        raise RuntimeError("registry unavailable")

    engine = wiring.init_catalog(settings)
    archive = Archive(writer(engine), wiring.open_blobs(settings), cut_settings=settings.cut,
                      product_settings=settings.products, registrar=failing_registrar)
    ingestor = wiring.build_ingestor(settings, archive, retry_for_s=0)
    with pytest.raises(RuntimeError, match="registry unavailable"):
        for path in synthetic_files(n_frames=8):
            ingestor.feed(SENSOR, raw_decoder.read_file(path, frame_length=raw.DEFAULT_FRAME_LENGTH))
    with engine.connect() as conn:
        assert catalog.list_packages(conn) == []
    assert counts_in_catalog(settings) == (0, 0)


def test_feed_pages_neither_skip_nor_repeat_while_records_arrive(client, settings, archived, synthetic_files):
    archived(synthetic_files(n_frames=8, seed=1))
    seen, link = [], url(client, "registry.Resources", limit=3)
    page = client.get(link)
    seen += [r["kid"] for r in page.json["items"]]
    # more packages arrive (another sensor) while the harvester pages
    archived(synthetic_files(SensorId(808974724, 1), n_frames=8, directory=settings.data_dir / "more"))
    link = page.json["next"]
    while link:
        page = client.get(link)
        assert page.headers.get("Link") == (f'<{page.json["next"]}>; rel="next"' if page.json["next"] else None)
        seen += [r["kid"] for r in page.json["items"]]
        link = page.json["next"]
    assert len(seen) == len(set(seen)) == 22  # 4 packages x 5 products + 2 sensor-days of HMD
    modified = [client.get(url(client, "registry.Resource", kid=kid)).json["modified"] for kid in seen]
    assert modified == sorted(modified)
    later = client.get(url(client, "registry.Resources"), query_string={"since": modified[8], "limit": 100}).json["items"]
    assert [r["kid"] for r in later] == seen[modified.index(modified[8]):]
    first_page = url(client, "registry.Resources", limit=3)
    etag = client.get(first_page).headers["ETag"]
    assert client.get(first_page, headers={"If-None-Match": etag}).status_code == 304
    bad = client.get(url(client, "registry.Resources", cursor="garbage"))
    assert bad.status_code == 400 and "cursor" in bad.json["detail"]


@pytest.mark.slow
def test_oai_pmh_harvest_with_sickle_incrementally(app, gunicorn_server, archived, synthetic_files, settings):
    from sickle import Sickle

    archived(synthetic_files(n_frames=8))
    base_url = gunicorn_server(HYDROSERVE_OAI_PAGE_SIZE=3)
    sickle = Sickle(f"{base_url}{url(app, 'oai.Oai')}", max_retries=0)
    identify = sickle.Identify()
    assert identify.repositoryIdentifier == "hydroserve.km3net.org" and identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
    assert [f.metadataPrefix for f in sickle.ListMetadataFormats()] == ["oai_dc"]
    sets = sorted(s.setSpec for s in sickle.ListSets())
    assert [s for s in sets if s.startswith("acoustic20_01")] == [f"acoustic20_01_{k}" for k in STREAMS]  # one set per stream

    first = list(sickle.ListRecords(metadataPrefix="oai_dc"))  # 11 records over 4 pages of 3
    assert len(first) == len({r.header.identifier for r in first}) == N_RESOURCES
    psd = [r for r in first if r.header.setSpecs == ["acoustic20_01_psd"]]
    assert len(psd) == 2 and psd[0].metadata["format"] == ["application/json"] and psd[0].metadata["rights"] == ["CC-BY-4.0"]
    latest = max(r.header.datestamp for r in first)

    archived(synthetic_files(SensorId(808974724, 1), n_frames=8, directory=settings.data_dir / "more"))
    update = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", **{"from": latest}))
    new = {h.identifier for h in update} - {r.header.identifier for r in first}
    assert len(new) == N_RESOURCES and all("DOM_808974724_CH1" in i for i in new)
    only_wav = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", set="acoustic20_01_wav"))
    assert len(only_wav) == 4
    record = sickle.GetRecord(identifier=psd[0].header.identifier, metadataPrefix="oai_dc")
    assert record.metadata["title"] == psd[0].metadata["title"]


@pytest.mark.parametrize(
    "query, code",
    [({}, "badVerb"), ({"verb": "Dance"}, "badVerb"), ({"verb": "ListRecords"}, "badArgument"),
     ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
     ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:elsewhere:x"}, "idDoesNotExist"),
     ({"verb": "ListRecords", "resumptionToken": "bogus"}, "badResumptionToken"),
     ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2030-01-01"}, "noRecordsMatch"),
     ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-01-01", "until": "2020-01-02T00:00:00Z"}, "badArgument"),
     ({"verb": "Identify", "set": "x"}, "badArgument")],
)
def test_oai_protocol_errors_are_error_elements(archive_client, query, code):
    response = archive_client.get(url(archive_client, "oai.Oai"), query_string=query)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = etree.fromstring(response.data)
    assert [e.get("code") for e in root.iter(f"{OAI}error")] == [code]
    request_element = root.find(f"{OAI}request")
    assert request_element.text == url(archive_client, "oai.Oai", _external=True)
    if code in ("badVerb", "badArgument"):
        assert dict(request_element.attrib) == {}


def push_all(pusher, rounds=200):
    for _ in range(rounds):
        pusher.run_once()
        with pusher.engine.connect() as conn:
            pending = outbox.counts(conn).get(("odc", outbox.PENDING), 0)
        if not pending:
            return
        time.sleep(0.01)
    raise AssertionError("outbox not drained")


@pytest.fixture
def odc():
    stub = OdcStub()
    server = StubServer(stub, free_port())
    server.start()
    yield server
    server.stop()


def pusher_for(settings, odc_url, *, retry=RetryPolicy(base_s=0.01, max_s=0.05), **kw):
    engine = wiring.init_catalog(settings)
    return OdcPusher(writer(engine), odc_url, "odc-secret", retry=retry, **kw)


@pytest.mark.fault
def test_odc_down_during_ingest_then_up_gets_everything_exactly_once(settings, packages, odc):
    odc.stop()
    pusher = pusher_for(settings, odc.url)
    for _ in range(3):
        assert pusher.run_once()["retried"] in (0, N_RESOURCES)
        time.sleep(0.06)
    odc.start()
    push_all(pusher)
    kids = odc.stub.kids()
    assert len(kids) == len(set(kids)) == N_RESOURCES
    assert {kid.split("_DOM_")[0] for kid in kids} == {f"acoustic20_01_{k}" for k in STREAMS}
    for kid, body, authorization in odc.stub.received:
        assert body["kid"] == kid and authorization == "Bearer odc-secret"
    engine = wiring.init_catalog(settings)
    with engine.connect() as conn:
        assert outbox.counts(conn) == {("odc", "delivered"): N_RESOURCES}
        attempts = conn.execute(select(outbox.table.c.attempts)).scalars().all()
    assert min(attempts) >= 2  # connection refused at least once, then delivered


@pytest.mark.fault
def test_server_errors_are_retried_and_rejections_recorded_as_failed(settings, packages, odc, runner):
    pusher = pusher_for(settings, odc.url)
    odc.stub.mode = "error"
    assert pusher.run_once() == {"delivered": 0, "retried": N_RESOURCES, "failed": 0}
    odc.stub.mode = "reject"
    time.sleep(0.06)
    assert pusher.run_once() == {"delivered": 0, "retried": 0, "failed": N_RESOURCES}
    shown = runner("sync", "--status")
    assert shown.exit_code == 0
    status = shown.json()
    assert status["outbox"] == [{"destination": "odc", "state": "failed", "rows": N_RESOURCES}]
    assert {(f["status"], f["error"]) for f in status["failed"]} == {("400 BAD REQUEST", "unknown ktype")}
    assert pusher.run_once() == {"delivered": 0, "retried": 0, "failed": 0}  # failed rows are not retried by themselves
    assert runner("sync", "--retry-failed", "odc").exit_code == 0
    odc.stub.mode = "ok"
    push_all(pusher)
    assert len(set(odc.stub.kids())) == N_RESOURCES


@pytest.mark.fault
def test_what_an_odc_says_is_recorded_as_every_engine_can_hold_it(settings, packages, odc, runner):
    """A status line longer than the column and a body with NUL bytes (PostgreSQL text refuses NUL) are recorded,
    cut to the column and with U+FFFD for NUL, instead of failing the sync."""
    odc.stub.mode = "garbled"
    assert pusher_for(settings, odc.url).run_once() == {"delivered": 0, "retried": 0, "failed": N_RESOURCES}
    failed = runner("sync", "--status").json()["failed"]
    assert {(f["status"], f["error"]) for f in failed} == {(f"400 {'X' * 196}", "bad\ufffdkid")}


@pytest.mark.fault
def test_429_retry_after_and_timeouts_are_retried(settings, packages, odc):
    odc.stub.mode = "busy"
    # a busy machine may be slow to answer 429: no read timeout in this half (a timeout would be retried at once)
    busy = pusher_for(settings, odc.url, timeout_s=30, retry=RetryPolicy(base_s=0.01, max_s=60))
    before = datetime.now(UTC)
    assert busy.run_once()["retried"] == N_RESOURCES
    with busy.engine.connect() as conn:
        next_attempts = conn.execute(select(outbox.table.c.next_attempt_at)).scalars().all()
    assert all(as_utc(t) >= before + timedelta(seconds=7) for t in next_attempts)  # Retry-After: 7
    odc.stub.mode, odc.stub.stall_s = "stall", 0.5
    pusher = pusher_for(settings, odc.url, timeout_s=0.2, retry=RetryPolicy(base_s=0.01, max_s=60))
    with writer(pusher.engine).begin() as conn:
        conn.execute(outbox.table.update().values(next_attempt_at=before))
    counts = pusher.run_once(limit=2)
    assert counts == {"delivered": 0, "retried": 2, "failed": 0}


@pytest.mark.slow
@pytest.mark.fault
def test_sync_killed_mid_delivery_loses_nothing(settings, packages, odc, archived, synthetic_files):
    archived(synthetic_files(SensorId(808974724, 1), n_frames=14, directory=settings.data_dir / "more"))
    n_resources, _ = counts_in_catalog(settings)
    odc.stub.mode, odc.stub.stall_s = "stall", 0.15
    env = server_env(settings, HYDROSERVE_ODC_URL=odc.url, HYDROSERVE_ODC_TOKEN="odc-secret", HYDROSERVE_POLL_INTERVAL_S="0.05",
                     HYDROSERVE_ODC_TIMEOUT_S="1")
    command = [sys.executable, "-m", "hydroserve.api.cli", "sync"]
    kills = 0
    for _ in range(3):
        delivered_before = len(odc.stub.kids())
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        hang_guard = time.monotonic() + 300  # however long the start takes on a loaded machine, kill once delivery has begun
        while len(odc.stub.kids()) == delivered_before and process.poll() is None and time.monotonic() < hang_guard:
            time.sleep(0.01)
        time.sleep(0.3)
        assert process.poll() is None  # still delivering: each PUT stalls 0.15 s and there are more rows than that allows
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert 0 < len(set(odc.stub.kids())) < n_resources  # the kills interrupted a delivery that had begun
    odc.stub.mode = "ok"
    hang_guard = time.monotonic() + 300  # a row in flight at a kill is leased for its timeout + 5 s, then due again
    while len(set(odc.stub.kids())) < n_resources and time.monotonic() < hang_guard:
        subprocess.run(command + ["--once"], env=env, check=True, capture_output=True)
        time.sleep(1)
    kids = odc.stub.kids()
    assert len(set(kids)) == n_resources
    repeats = len(kids) - len(set(kids))
    assert repeats <= kills  # at most the request in flight at each kill
    bodies = {}
    for kid, body, _ in odc.stub.received:
        assert bodies.setdefault(kid, body) == body  # a repeated PUT carries the same body
