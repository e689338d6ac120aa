"""Retention: expired products answer 410 while the rest of the package stays, their resources become tombstones that
OAI-PMH (harvested with sickle), the since-feed and the ODC see, and the catalog is marked before any byte is deleted."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from hydroserve.acoustics import catalog, product_keys
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.acoustics.retention import Retention, RetentionPolicy
from hydroserve.api import acoustic_registration, wiring
from hydroserve.api.config import ConfigError, load_settings
from hydroserve.api.db import writer
from hydroserve.api.web.services import services
from hydroserve.codecs.raw import SensorId
from hydroserve.odc_sync import outbox, registry
from hydroserve.odc_sync.push import OdcPusher
from hydroserve.odc_sync.retry import RetryPolicy
from odc_stub import OdcStub, StubServer
from support import SENSOR, free_port, url

OAI = "{http://www.openarchives.org/OAI/2.0/}"
RULES = "samples=30,mp3=365,psd=forever"
OLD, NEW = "DOM_808956920_CH1_1608751680", "DOM_808956920_CH1_1608751682"


@pytest.fixture
def two_packages(archived, synthetic_files, settings):
    """Two packages: OLD archived 40 days ago, NEW 10 days ago."""
    report = archived(synthetic_files(n_frames=8))
    assert report.packages_made == [OLD, NEW]
    now = datetime.now(UTC)
    engine = wiring.open_existing_catalog(settings)
    with writer(engine).begin() as conn:
        for pid, age_days in ((OLD, 40), (NEW, 10)):
            conn.execute(update(catalog.packages).where(catalog.packages.c.package_id == pid)
                         .values(created_at=now - timedelta(days=age_days)))
    engine.dispose()
    return engine


def record_of(settings, pid):
    engine = wiring.open_existing_catalog(settings)
    with engine.connect() as conn:
        record = catalog.get_package(conn, pid)
    engine.dispose()
    return record


def test_config_reads_retention_days_from_toml_tables_and_the_environment(tmp_path):
    config = tmp_path / "hydroserve.toml"
    config.write_text('retention_days = {samples = 30, mp3 = 365, psd = "forever"}\nspool_done = "move:/var/spool/done"\n')
    settings = load_settings(config, env={})
    assert settings.retention_days == {"samples": 30.0, "mp3": 365.0, "psd": None}
    assert settings.retention.rules() == {"samples": 30.0, "mp3": 365.0}
    assert load_settings(env={"HYDROSERVE_RETENTION_DAYS": RULES}).retention_days == settings.retention_days
    assert load_settings(env={}).retention.rules() == {}  # the default keeps everything
    for bad, message in (("samples=-1", "positive"), ("flac=3", "not one of samples, mp3, psd"), ("samples=soon", "soon"),
                         ("samples", "CLASS=DAYS")):
        with pytest.raises(ConfigError, match=message):
            load_settings(env={"HYDROSERVE_RETENTION_DAYS": bad})
    with pytest.raises(ConfigError, match="spool_done .*keep, delete or move"):
        load_settings(env={"HYDROSERVE_SPOOL_DONE": "shred"})


def test_expired_samples_answer_410_and_the_package_keeps_its_other_products(client, app, settings, two_packages, runner):
    old = record_of(settings, OLD)
    blobs = LocalBlobStore(settings.blob_dir)
    assert client.get(url(app, "pictures.SpectrogramPng", package_id=OLD)).status_code == 200  # a derived file to go too
    prefix = product_keys.package_prefix(OLD, old.sensor, old.boundary_tick)
    assert any(".spectrogram." in key for key in blobs.keys(prefix + "."))

    dry = runner("retention", "--dry-run", "--json", env={"HYDROSERVE_RETENTION_DAYS": RULES})
    assert dry.exit_code == 0 and dry.json()["n_expired"] == 3 and dry.json()["blobs_deleted"] == 0
    assert blobs.exists(old.samples_key) and client.get(url(app, "acoustic.Wav", package_id=OLD)).status_code == 200

    result = runner("retention", "--json", env={"HYDROSERVE_RETENTION_DAYS": RULES})
    assert result.exit_code == 0
    summary = result.json()
    assert sorted((e["package_id"], e["kind"]) for e in summary["expired"]) == [(OLD, "flac"), (OLD, "raw"), (OLD, "wav")]
    assert summary["bytes_deleted"] > old.products["flac"].size_bytes  # the samples (stored as FLAC), and the spectrogram
    assert not blobs.exists(old.samples_key) and not any(".spectrogram." in k for k in blobs.keys(prefix + "."))
    assert blobs.exists(old.products["mp3"].blob_key) and blobs.exists(old.products["psd"].blob_key)

    for endpoint in ("acoustic.Raw", "acoustic.Wav", "acoustic.Flac", "pictures.SpectrogramPng"):
        gone = client.get(url(app, endpoint, package_id=OLD))
        assert gone.status_code == 410 and gone.mimetype == "application/problem+json"
        problem = gone.get_json()
        assert problem["type"].endswith("/product-expired") and problem["products_kept"] == ["hmd", "mp3", "psd"]
        assert "samples is kept 30 days" in problem["reason"] and problem["reason"] in problem["detail"]
        assert datetime.fromisoformat(problem["expired_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    assert client.get(url(app, "acoustic.Psd", package_id=OLD, nfft=1024)).status_code == 410  # needs the samples
    mp3 = client.get(url(app, "acoustic.Mp3", package_id=OLD))
    assert mp3.status_code == 200 and hashlib.sha256(mp3.data).hexdigest() == old.products["mp3"].sha256
    psd = client.get(url(app, "acoustic.Psd", package_id=OLD, fmin=10, fmax=1000))
    assert psd.status_code == 200 and max(psd.get_json()["frequency_hz"]) <= 1000
    assert client.get(url(app, "acoustic.Wav", package_id=NEW)).status_code == 200

    info = client.get(url(app, "acoustic.Info", package_id=OLD)).get_json()
    assert info["products"]["wav"]["expired"]["reason"] == problem["reason"] and "expired" not in info["products"]["mp3"]
    summary_doc = client.get(url(app, "acoustic.Package", package_id=OLD)).get_json()
    assert set(k for k, p in summary_doc["products"].items() if "expired" in p) == {"flac", "raw", "wav"}
    page = client.get(url(app, "pages.package", package_id=OLD)).get_data(as_text=True)
    assert page.count("deleted on") >= 2 and 'id="player"' in page and 'id="spectrogram"' not in page

    verify = runner("verify", "--json")
    assert verify.exit_code == 0 and verify.json()["missing"] == [] and verify.json()["damaged"] == []
    again = runner("retention", "--json", env={"HYDROSERVE_RETENTION_DAYS": RULES}).json()
    assert again["n_expired"] == 0 and again["blobs_deleted"] == 0


def test_expired_hmd_answers_410_loses_its_blob_and_leaves_no_per_package_tombstone(client, app, settings, two_packages, runner):
    old, new = record_of(settings, OLD), record_of(settings, NEW)
    blobs = LocalBlobStore(settings.blob_dir)
    assert client.get(url(app, "acoustic.Hmd", package_id=OLD)).status_code == 200
    result = runner("retention", "--json", env={"HYDROSERVE_RETENTION_DAYS": "hmd=30"})
    assert result.exit_code == 0 and [(e["package_id"], e["kind"]) for e in result.json()["expired"]] == [(OLD, "hmd")]
    assert not blobs.exists(old.products["hmd"].blob_key) and blobs.exists(new.products["hmd"].blob_key)
    gone = client.get(url(app, "acoustic.Hmd", package_id=OLD))
    assert gone.status_code == 410 and gone.get_json()["type"].endswith("/product-expired")
    assert client.get(url(app, "acoustic.Hmd", package_id=NEW)).status_code == 200
    engine = wiring.open_existing_catalog(settings)
    with engine.connect() as conn:  # HMD resources are per sensor-day: no package resource, so no tombstone
        kids = conn.execute(select(registry.resources.c.kid)).scalars().all()
        day = registry.get_resource(conn, f"{settings.collection}_hmd_{SENSOR}_20201223")
    engine.dispose()
    assert kids and not any(kid.endswith(f"_hmd_{OLD}") for kid in kids) and not day.deleted


class Killed(Exception):
    pass


class Watching(LocalBlobStore):
    """A blob store that checks, at every delete, that the catalog (read on its own connection) marks the owner's
    product expired already; ``kill_after`` deletes, it stops like a killed process."""

    def __init__(self, root, engine, kill_after=None):
        super().__init__(root)
        self.engine, self.kill_after, self.deleted = engine, kill_after, []

    def delete(self, key):
        with self.engine.connect() as conn:
            marked = {(row.package_id, row.kind) for row in conn.execute(select(catalog.expired_products))}
        assert any(key.startswith(f"{pid.rsplit('_', 1)[0]}/") and pid in key for pid, _ in marked), key
        if self.kill_after is not None and len(self.deleted) >= self.kill_after:
            raise Killed(key)
        super().delete(key)
        self.deleted.append(key)


def test_a_crash_between_marking_and_deleting_never_serves_a_product_without_bytes(client, app, settings, two_packages):
    engine = wiring.open_existing_catalog(settings)
    policy = RetentionPolicy({"samples": 30, "psd": 5})
    tombstones = acoustic_registration.acoustic_tombstones(settings)
    crashing = Retention(writer(engine), Watching(settings.blob_dir, engine, kill_after=0), policy, on_expired=tombstones)
    with pytest.raises(Killed):
        crashing.run()
    old = record_of(settings, OLD)
    assert set(old.expired) == {"flac", "raw", "wav"}  # marked and committed before any delete; 410 from here on
    assert LocalBlobStore(settings.blob_dir).exists(old.samples_key)  # the kill came before its delete
    assert client.get(url(app, "acoustic.Wav", package_id=OLD)).status_code == 410
    with engine.connect() as conn:
        pending = conn.execute(select(catalog.expired_products.c.kind).where(catalog.expired_products.c.purged_at.is_(None)))
        assert sorted(pending.scalars()) == ["flac", "raw", "wav"]
    watching = Watching(settings.blob_dir, engine)
    report = Retention(writer(engine), watching, policy, on_expired=tombstones).run()
    assert old.samples_key in watching.deleted  # the interrupted purge was finished first
    assert sorted((e["package_id"], e["kind"]) for e in report.expired) == [(OLD, "psd"), (NEW, "psd")]
    assert set(record_of(settings, NEW).expired) == {"psd"} and client.get(url(app, "acoustic.Psd", package_id=NEW)).status_code == 410
    with engine.connect() as conn:
        assert conn.execute(select(catalog.expired_products).where(catalog.expired_products.c.purged_at.is_(None))).all() == []
    engine.dispose()


def test_retention_tombstones_reach_oai_the_since_feed_and_the_odc(app, client, gunicorn_server, settings, two_packages, runner):
    from sickle import Sickle

    odc = StubServer(OdcStub(), free_port())
    odc.start()
    engine = wiring.open_existing_catalog(settings)
    pusher = OdcPusher(writer(engine), odc.url, "odc-secret", retry=RetryPolicy(base_s=0.01, max_s=0.05))
    try:
        pusher.run_once()
        assert len(odc.stub.kids()) == 11  # raw, wav, flac, mp3, psd of two packages; their day's HMD file
        base_url = gunicorn_server(HYDROSERVE_OAI_PAGE_SIZE=3)
        sickle = Sickle(f"{base_url}{url(app, 'oai.Oai')}", max_retries=0)
        assert sickle.Identify().deletedRecord == "persistent"
        first = list(sickle.ListRecords(metadataPrefix="oai_dc"))
        assert len(first) == 11 and not any(r.deleted for r in first)
        latest = max(datetime.fromisoformat(r.header.datestamp) for r in first)
        while datetime.now(UTC).replace(microsecond=0) <= latest:  # the clock's next second: the harvest's next `from`
            time.sleep(0.05)

        assert runner("retention", env={"HYDROSERVE_RETENTION_DAYS": "samples=30,mp3=20"}).exit_code == 0
        collection = settings.collection
        deleted = {f"{collection}_{kind}_{pid}" for kind, pid in (("raw", OLD), ("wav", OLD), ("flac", OLD), ("mp3", OLD))}
        since = (latest + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", **{"from": since}))
        assert {h.identifier.rsplit(":", 1)[1] for h in headers} == deleted and all(h.deleted for h in headers)
        records = list(sickle.ListRecords(metadataPrefix="oai_dc", **{"from": since}))
        assert len(records) == 4 and all(r.deleted and r.xml.find(f"{OAI}metadata") is None for r in records)
        kept = [r for r in first if r.header.identifier.rsplit(":", 1)[1] not in deleted]
        assert len(kept) == 7 and all(not r.deleted for r in kept)
        again = sickle.GetRecord(identifier=headers[0].identifier, metadataPrefix="oai_dc")
        assert again.deleted and again.header.datestamp == headers[0].datestamp
        assert len(list(sickle.ListIdentifiers(metadataPrefix="oai_dc"))) == 11  # tombstones stay: deletedRecord persistent

        feed = client.get(url(app, "registry.Resources", since=latest + timedelta(seconds=1))).get_json()
        assert {item["kid"] for item in feed["items"]} == deleted
        for item in feed["items"]:
            rule = "mp3 is kept 20 days" if item["kid"].startswith(f"{collection}_mp3") else "samples is kept 30 days"
            assert item["deleted"] is True and "access_url" not in item and rule in item["deletion_reason"]
            assert datetime.fromisoformat(item["modified"]) > latest and item["subject_id"] == OLD
        single = client.get(url(app, "registry.Resource", kid=f"{collection}_wav_{OLD}")).get_json()
        assert single["deleted"] is True and single["deleted_at"]
        members = client.get(url(app, "registry.Stream", kid=f"{collection}_wav")).get_json()["members"]
        assert {m["kid"]: m["deleted"] for m in members} == {f"{collection}_wav_{OLD}": True, f"{collection}_wav_{NEW}": False}

        for _ in range(100):  # the outbox tells the ODC: a tombstone PUT for each deleted resource
            pusher.run_once()
            with engine.connect() as conn:
                if not outbox.counts(conn).get(("odc", outbox.PENDING)):
                    break
        received = odc.stub.received[11:]
        assert sorted(kid for kid, _, _ in received) == sorted(deleted)
        assert all(body["deleted"] is True and body["kid"] == kid and body["deleted_at"] for kid, body, _ in received)
    finally:
        odc.stop()
        engine.dispose()


def test_register_again_brings_a_tombstone_back_to_life(settings, two_packages):
    engine = wiring.open_existing_catalog(settings)
    kid = f"{settings.collection}_psd_{OLD}"
    with writer(engine).begin() as conn:
        stamp = registry.tombstone(conn, [kid, "no-such-kid"], deleted_at=datetime.now(UTC), reason="test", destinations=("odc",))
    with engine.connect() as conn:
        resource = registry.get_resource(conn, kid)
        assert resource.deleted and resource.modified == stamp and resource.deletion_reason == "test"
    with writer(engine).begin() as conn:
        again = registry.tombstone(conn, [kid], deleted_at=datetime.now(UTC), reason="other", destinations=("odc",))
    with engine.connect() as conn:
        assert registry.get_resource(conn, kid).modified == stamp < again  # a tombstone is not re-stamped
    record = record_of(settings, OLD)
    with writer(engine).begin() as conn:
        registry.register(conn, acoustic_registration.package_resources(settings, record), destinations=("odc",))
    with engine.connect() as conn:
        assert not registry.get_resource(conn, kid).deleted
    engine.dispose()


def test_retention_is_a_duty_of_the_ingest_worker_at_its_interval(settings, two_packages):
    engine = wiring.open_existing_catalog(settings)
    assert [duty.name for duty in wiring.worker_duties(settings, engine)] == ["reprocess"]  # the default keeps everything
    configured = load_settings(env={}, data_dir=str(settings.data_dir), database_url=settings.database_url,
                               retention_days={"samples": 30}, retention_interval_s=3600)
    retention = {duty.name: duty for duty in wiring.worker_duties(configured, engine)}["retention"]
    assert retention.interval_s == 3600
    retention.run()
    assert set(record_of(settings, OLD).expired) == {"flac", "raw", "wav"} and not record_of(settings, NEW).expired
    engine.dispose()


def test_policy_rejects_unknown_classes_and_defaults_keep_everything(settings, two_packages):
    with pytest.raises(ValueError, match="not one of"):
        RetentionPolicy({"spectrogram": 3})
    engine = wiring.open_existing_catalog(settings)
    report = wiring.build_retention(settings, engine).run(now=datetime.now(UTC) + timedelta(days=10_000))
    assert report.expired == [] and report.blobs_deleted == []
    engine.dispose()


def test_sensor_page_and_band_levels_skip_packages_whose_psd_is_gone(client, app, settings, two_packages):
    engine = wiring.open_existing_catalog(settings)
    Retention(writer(engine), LocalBlobStore(settings.blob_dir), RetentionPolicy({"psd": 20})).run()
    engine.dispose()
    sensor = str(SensorId(808956920, 1))
    assert client.get(url(app, "pages.sensor", sensor=sensor)).status_code == 200
    picture = client.get(url(app, "pictures.BandLevelsPng", sensor=sensor))
    with app.app_context():  # the picture's ETag names the packages it was drawn from: the newer one alone
        only_new = services().products.band_levels_etag([record_of(settings, NEW)], "median")
        both = services().products.band_levels_etag([record_of(settings, NEW), record_of(settings, OLD)], "median")
    assert picture.status_code == 200 and picture.get_etag() == (only_new, False) and only_new != both
    assert client.get(url(app, "pictures.PsdPng", package_id=OLD)).status_code == 410


def test_retention_deletes_every_version_of_a_product_and_what_was_made_from_it(client, app, settings, two_packages, runner):
    """A reprocessed product keeps its old version's bytes beside the new ones (``<prefix>.v2-j<job>.psd.npz``);
    expiring the class removes both versions and the pictures drawn from either, and nothing of the package else."""
    blobs = LocalBlobStore(settings.blob_dir)
    old = record_of(settings, OLD)
    prefix = product_keys.package_prefix(OLD, old.sensor, old.boundary_tick)
    rebuilt = runner("reprocess", "--sensor", str(old.sensor), "--run-here", "--json",
                     env={"HYDROSERVE_PSD_NFFT": "4096", "HYDROSERVE_MP3_QUALITY": "5"})
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert rebuilt.json()["rebuilt"][OLD] == {"mp3": 2, "psd": 2}
    assert client.get(url(app, "pictures.PsdPng", package_id=OLD)).status_code == 200  # drawn from version 2
    versioned = [key for key in blobs.keys(prefix + ".") if ".v2-j" in key]
    assert any(key.endswith(".psd.npz") for key in versioned) and any(key.endswith(".mp3") for key in versioned)
    assert any(key.endswith(".png") for key in versioned)
    assert blobs.exists(product_keys.psd_arrays_key(prefix)) and blobs.exists(product_keys.mp3_key(prefix))

    result = runner("retention", "--json", env={"HYDROSERVE_RETENTION_DAYS": "samples=30,mp3=30,psd=30,hmd=30"})
    assert result.exit_code == 0 and sorted(e["kind"] for e in result.json()["expired"] if e["package_id"] == OLD) == [
        "flac", "hmd", "mp3", "psd", "raw", "wav"]
    assert blobs.keys(prefix + ".") == []
    new = record_of(settings, NEW)
    assert blobs.exists(new.samples_key) and blobs.exists(new.products["psd"].blob_key)


@pytest.mark.parametrize(("suffix", "source"), [
    (".f32", "samples"), (".flac", "samples"), (".spectrogram.uncal.v3.png", "samples"), (".mp3", "mp3"),
    (".v2-j7.mp3", "mp3"), (".psd.npz", "psd"), (".v12-j3.psd.npz", "psd"), (".nfft1024.psd.npz", "psd"),
    (".psd.cal0123456789ab.json", "psd"), (".v2-j7.psd.log.uncal.v3.png", "psd"), (".hmd.npz", "hmd"),
    (".v2-j7.hmd.npz", "hmd"), (".notes.txt", None),
])
def test_every_blob_of_a_package_is_traced_to_what_it_was_made_from(suffix, source):
    prefix = "DOM_1_CH1/2020/12/23/DOM_1_CH1_1608751680"
    assert product_keys.source_of(prefix, prefix + suffix) == source
    assert product_keys.source_of(prefix, prefix + "0" + suffix) is None  # another package whose id starts alike
