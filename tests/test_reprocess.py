"""Reprocessing: jobs rebuild MP3 and PSD from the stored samples as new versions that harvesters and the ODC see;
idempotent; safe to kill; ``import`` names the resume cursor and the command that reprocesses."""

from __future__ import annotations

import hashlib
import io
import shlex
import signal
import subprocess
import sys
import time
from datetime import timedelta

import numpy as np
import pytest
import soundfile
from lxml import etree
from sqlalchemy import select, update

from hydroserve.acoustics import catalog, product_keys, reprocess_jobs
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.acoustics.hmd_product import PackageHmd
from hydroserve.acoustics.loudness import LoudnessPolicy
from hydroserve.acoustics.product_settings import ProductSettings
from hydroserve.api import wiring
from hydroserve.api.config import load_settings
from hydroserve.api.db import writer
from hydroserve.codecs.times import as_utc
from hydroserve.odc_sync import outbox, registry
from support import SENSOR, archive_files, server_env, url

OAI = {"oai": "http://www.openarchives.org/OAI/2.0/"}


@pytest.fixture
def packages(archived, synthetic_files):
    report = archived(synthetic_files())
    assert len(report.packages_made) >= 3
    return report.packages_made


def product_rows(settings) -> dict:
    engine = wiring.open_catalog(settings)
    with engine.connect() as conn:
        rows = {(r.package_id, r.kind): r for r in conn.execute(select(catalog.products))}
    engine.dispose()
    return rows


def resources_and_outbox(settings) -> tuple[dict, dict]:
    engine = wiring.open_catalog(settings)
    with engine.connect() as conn:
        resources = {r.kid: as_utc(r.modified) for r in conn.execute(select(registry.resources.c.kid, registry.resources.c.modified))}
        rows = {r.resource_kid: (r.id, r.state) for r in conn.execute(select(outbox.table))}
    engine.dispose()
    return resources, rows


def deliver_everything_and_age(settings, hours: float) -> None:
    """As if the ODC had received every resource and harvesters had seen them ``hours`` ago."""
    engine = wiring.open_catalog(settings)
    with writer(engine).begin() as conn:
        conn.execute(update(outbox.table).values(state=outbox.DELIVERED))
        for kid, modified in conn.execute(select(registry.resources.c.kid, registry.resources.c.modified)).all():
            conn.execute(update(registry.resources).where(registry.resources.c.kid == kid)
                         .values(modified=modified - timedelta(hours=hours)))
    engine.dispose()


def test_reprocess_makes_new_psd_versions_seen_by_info_harvesters_and_the_odc(app, client, settings, runner, packages):
    pid = packages[0]
    before = client.get(url(app, "acoustic.Info", package_id=pid)).get_json()  # also fills the app's package cache
    old_psd = client.get(url(app, "acoustic.Psd", package_id=pid))
    assert before["products"]["psd"]["version"] == 1 and before["products"]["psd"]["replaces"] is None
    deliver_everything_and_age(settings, hours=1)
    old_resources, _ = resources_and_outbox(settings)

    result = runner("reprocess", "--sensor", str(SENSOR), "--run-here", "--json", env={"HYDROSERVE_PSD_NFFT": "4096"})
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    n = len(packages)
    assert summary["packages"] == n and summary["failed"] == []
    # the HMD has no settings: rebuilt, it is the same bytes, so it stays at its version
    assert summary["new_versions"] == {"mp3": 0, "psd": n, "hmd": 0} and summary["unchanged"] == {"mp3": n, "psd": 0, "hmd": n}
    assert summary["rebuilt"] == {p: {"psd": 2} for p in packages}

    info = client.get(url(app, "acoustic.Info", package_id=pid)).get_json()
    psd = info["products"]["psd"]
    assert psd["version"] == 2 and psd["nfft"] == 4096 and psd["settings"]["psd_nfft"] == 4096
    assert psd["replaces"]["version"] == 1 and psd["replaces"]["sha256"] == before["products"]["psd"]["sha256"]
    assert psd["replaces"]["settings"]["psd_nfft"] == 8192 and psd["software_version"] == info["software_version"]
    assert info["products"]["mp3"]["version"] == 1 and info["products"]["mp3"]["sha256"] == before["products"]["mp3"]["sha256"]
    step = next(step for step in info["provenance"] if step["id"] == "hydroserve:psd")
    assert step["parameters"]["version"] == 2 and step["parameters"]["replaces_version"] == 1

    new_psd = client.get(url(app, "acoustic.Psd", package_id=pid))
    document = new_psd.get_json()
    assert document["nfft"] == 4096 and document["n_frequencies"] == 4096 // 2 + 1
    assert new_psd.headers["ETag"].strip('"') == psd["sha256"] == hashlib.sha256(new_psd.data).hexdigest()
    assert new_psd.headers["ETag"] != old_psd.headers["ETag"]
    assert client.get(url(app, "acoustic.Psd", package_id=pid), headers={"If-None-Match": old_psd.headers["ETag"]}).status_code == 200

    old_key = psd["replaces"]["blob_key"]
    assert (settings.blob_dir / old_key).read_bytes() == old_psd.data  # the replaced version's bytes are kept, untouched
    rows = product_rows(settings)
    assert rows[(pid, "psd")].blob_key != old_key and ".v2-j" in rows[(pid, "psd")].blob_key

    resources, outbox_rows = resources_and_outbox(settings)
    psd_kids = {f"{settings.collection}_psd_{p}" for p in packages}
    moved = {kid for kid in resources if resources[kid] != old_resources[kid]}
    assert moved == psd_kids
    assert {kid for kid, (_, state) in outbox_rows.items() if state == outbox.PENDING} == psd_kids

    since = min(resources[kid] for kid in psd_kids)
    feed = client.get(url(app, "registry.Resources"), query_string={"since": since.isoformat(), "limit": 100}).get_json()
    assert {item["kid"] for item in feed.get("items", [])} == psd_kids, feed
    assert all(item["sha256"] == rows[(item["extra"]["package_id"], "psd")].sha256 for item in feed["items"])

    oai_from = since.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    listing = etree.fromstring(client.get(f"/oai?verb=ListIdentifiers&metadataPrefix=oai_dc&from={oai_from}").data)
    identifiers = {h.findtext("oai:identifier", namespaces=OAI).rsplit(":", 1)[1] for h in listing.iterfind(".//oai:header", OAI)}
    assert identifiers == psd_kids


def test_a_second_run_with_the_same_settings_changes_nothing(app, client, settings, runner, packages):
    env = {"HYDROSERVE_PSD_NFFT": "4096", "HYDROSERVE_MP3_FULL_SCALE_SAMPLE_UNITS": "0.02"}
    first = runner("reprocess", "--sensor", str(SENSOR), "--run-here", "--json", env=env).json()
    assert first["new_versions"] == {"mp3": len(packages), "psd": len(packages), "hmd": 0}
    rows, state = product_rows(settings), resources_and_outbox(settings)
    blobs = sorted(p.relative_to(settings.blob_dir) for p in settings.blob_dir.rglob("*") if p.is_file())

    second = runner("reprocess", "--sensor", str(SENSOR), "--run-here", "--json", env=env)
    assert second.exit_code == 0
    assert second.json()["new_versions"] == {"mp3": 0, "psd": 0, "hmd": 0}
    assert second.json()["unchanged"] == {"mp3": len(packages), "psd": len(packages), "hmd": len(packages)}
    assert product_rows(settings) == rows and resources_and_outbox(settings) == state
    assert sorted(p.relative_to(settings.blob_dir) for p in settings.blob_dir.rglob("*") if p.is_file()) == blobs


def test_mp3_rebuilt_at_half_the_gain_decodes_at_half_the_amplitude(app, client, settings, runner, packages):
    pid = packages[1]
    before, _ = soundfile.read(io.BytesIO(client.get(url(app, "acoustic.Mp3", package_id=pid)).data), dtype="float64")
    result = runner("reprocess", "--sensor", str(SENSOR), "--products", "mp3", "--run-here", "--json",
                    env={"HYDROSERVE_MP3_FULL_SCALE_SAMPLE_UNITS": "0.02"})  # default 0.01: the gain halves
    assert result.json()["new_versions"] == {"mp3": len(packages)}
    answer = client.get(url(app, "acoustic.Mp3", package_id=pid))
    after, rate = soundfile.read(io.BytesIO(answer.data), dtype="float64")
    info = client.get(url(app, "acoustic.Info", package_id=pid)).get_json()["products"]["mp3"]
    assert rate == 48000 and len(after) == len(before) and info["version"] == 2
    assert "immutable" not in answer.headers["Cache-Control"] and answer.headers["ETag"].strip('"') == info["sha256"]
    assert info["gain"] == pytest.approx(32767 / 0.02) and info["replaces"]["settings"]["mp3_full_scale_sample_units"] == 0.01
    middle = slice(len(after) // 4, 3 * len(after) // 4)
    ratio = np.sqrt(np.mean(after[middle] ** 2) / np.mean(before[middle] ** 2))
    assert ratio == pytest.approx(0.5, rel=0.02)  # MP3 coding noise aside, amplitude scales with the gain


def test_hmd_rebuilt_with_a_calibration_is_in_micropascals(app, client, settings, runner, packages, tmp_path):
    pid = packages[1]
    before = PackageHmd.from_npz_bytes(client.get(url(app, "acoustic.Hmd", package_id=pid)).data)
    sensors = tmp_path / "sensors.toml"
    sensors.write_text(f'[[sensor]]\nid = "{SENSOR}"\nsensitivity_db_re_1v_per_upa = -170.0\n')
    result = runner("reprocess", "--sensor", str(SENSOR), "--products", "hmd", "--run-here", "--json",
                    env={"HYDROSERVE_SENSORS_FILE": str(sensors)})
    assert result.json()["new_versions"] == {"hmd": len(packages)}
    after = PackageHmd.from_npz_bytes(client.get(url(app, "acoustic.Hmd", package_id=pid)).data)
    info = client.get(url(app, "acoustic.Info", package_id=pid)).get_json()["products"]["hmd"]
    assert (info["version"], info["calibrated"], info["psd_unit"], info["calibration"]["offset_db"]) == (
        2, True, "dB re 1 µPa²/Hz", 170.0)
    assert (before.calibrated, after.calibrated, after.units_note) == (False, True, "µPa")
    np.testing.assert_allclose(after.band_density / before.band_density, 1e17, rtol=1e-5)  # +170 dB in every band
    np.testing.assert_allclose(after.broadband_mean_square / before.broadband_mean_square, 1e17, rtol=1e-5)


def test_products_other_than_mp3_and_psd_are_refused(runner, packages):
    result = runner("reprocess", "--sensor", str(SENSOR), "--products", "psd,wav")
    assert result.exit_code == 2 and "reprocessing rebuilds mp3, psd" in result.stderr and "wav" in result.stderr


def test_workers_take_different_jobs_with_skip_locked(postgres_url, tmp_path, synthetic_files):
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=postgres_url, snippet_duration_s="2",
                             snippet_interval_s=2, min_coverage=0.6)
    pids = archive_files(settings, synthetic_files()).packages_made
    engine = wiring.open_catalog(settings)
    with writer(engine).begin() as conn:
        reprocess_jobs.submit(conn, "b1", [(pid, None) for pid in pids], ("psd",), settings.products.as_json())
    with engine.connect() as first, engine.connect() as second, first.begin(), second.begin():
        held = reprocess_jobs.next_due(first, lock=True)
        other = reprocess_jobs.next_due(second, lock=True)
        assert (held.package_id, other.package_id) == (pids[0], pids[1])
        assert reprocess_jobs.next_due(second, lock=False).package_id == pids[0]  # pending still: nothing committed
    engine.dispose()


@pytest.mark.slow
@pytest.mark.fault
def test_a_worker_killed_half_way_leaves_the_old_products_served_and_the_job_is_done_again(app, client, settings, packages):
    pid = packages[0]
    engine = wiring.open_catalog(settings)
    with engine.connect() as conn:
        record = catalog.get_package(conn, pid)
    old_mp3 = client.get(url(app, "acoustic.Mp3", package_id=pid))
    new_settings = ProductSettings(psd_nfft=4096, loudness=LoudnessPolicy(full_scale_sample_units=0.02)).as_json()
    with writer(engine).begin() as conn:
        reprocess_jobs.submit(conn, "killed", [(pid, None)], ("mp3", "psd"), new_settings)
        job_id = reprocess_jobs.next_due(conn, lock=False).job_id
    prefix = product_keys.version_prefix(product_keys.package_prefix(pid, record.sensor, record.boundary_tick), 2, job_id)
    last_blob = settings.blob_dir / product_keys.psd_document_key(prefix, "uncal")  # the job's last write before its commit

    # hold what the job's commit needs (the registry's clock on PostgreSQL, the write lock on SQLite), start a real
    # ingest worker, and kill it once its new blobs are durable: it is then waiting to commit
    blocker = (writer(engine) if engine.dialect.name == "sqlite" else engine).connect()
    held = blocker.begin()
    blocker.execute(select(registry.registry_clock).with_for_update())
    worker = subprocess.Popen([sys.executable, "-m", "hydroserve.api.cli", "ingest"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=server_env(settings, HYDROSERVE_DATABASE_BUSY_TIMEOUT_S=600))
    try:
        deadline = time.monotonic() + 120
        while not last_blob.exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert last_blob.exists() and worker.poll() is None, "the worker never reached its commit"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
        held.rollback()
        blocker.close()

    assert product_rows(settings)[(pid, "mp3")].version == 1
    served = client.get(url(app, "acoustic.Mp3", package_id=pid))
    assert served.data == old_mp3.data and served.headers["ETag"] == old_mp3.headers["ETag"]
    assert client.get(url(app, "acoustic.Info", package_id=pid)).get_json()["products"]["psd"]["version"] == 1
    with engine.connect() as conn:
        assert reprocess_jobs.counts(conn, "killed") == {"pending": 1, "done": 0, "failed": 0}

    reprocessor = wiring.build_reprocessor(settings, engine)
    deadline = time.monotonic() + 60  # PostgreSQL releases the dead worker's row lock when it sees the connection gone
    while reprocessor.run_due_jobs(1) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    with engine.connect() as conn:
        assert reprocess_jobs.counts(conn, "killed") == {"pending": 0, "done": 1, "failed": 0}
    engine.dispose()
    rows = product_rows(settings)
    assert (rows[(pid, "mp3")].version, rows[(pid, "psd")].version) == (2, 2)
    rebuilt = client.get(url(app, "acoustic.Mp3", package_id=pid))
    assert rebuilt.headers["ETag"].strip('"') == rows[(pid, "mp3")].sha256 == hashlib.sha256(rebuilt.data).hexdigest()
    assert rebuilt.data != old_mp3.data
    assert client.get(url(app, "acoustic.Psd", package_id=pid)).get_json()["nfft"] == 4096


def test_import_again_names_the_resume_cursor_and_the_command_that_reprocesses(settings, runner, synthetic_files):
    files = [str(path) for path in synthetic_files()]
    first = runner("import", "--json", *files).json()
    assert first["before_resume_cursor"] == {}
    again = runner("import", *files, env={"HYDROSERVE_PSD_NFFT": "4096"})
    assert again.exit_code == 0 and "packages made: 0" in again.output
    # frames from 19:27:59.047 (window 19:27:58, 2 s windows); the last window, 19:28:08-10, was final: cursor 19:28:10
    command = (f"hydroserve reprocess --sensor {SENSOR} --start 2020-12-23T19:27:58.000000Z "
               f"--end 2020-12-23T19:28:10.000000Z")
    assert "16 frames lie before the resume cursor 2020-12-23T19:28:10.000000Z" in again.output
    assert f"run: {command}" in again.output
    as_json = runner("import", "--json", *files).json()["before_resume_cursor"][str(SENSOR)]
    assert as_json == {"frames": 16, "first_window_start": "2020-12-23T19:27:58.000000Z",
                       "resume_cursor": "2020-12-23T19:28:10.000000Z", "reprocess": command}

    done = runner(*shlex.split(command)[1:], "--run-here", "--json", env={"HYDROSERVE_PSD_NFFT": "4096"})
    assert done.exit_code == 0
    assert done.json()["new_versions"] == {"mp3": 0, "psd": len(first["packages_made"]), "hmd": 0}


def test_a_package_with_damaged_samples_fails_its_job_and_keeps_its_products(settings, runner, packages):
    pid = packages[1]
    engine = wiring.open_catalog(settings)
    with engine.connect() as conn:
        samples = settings.blob_dir / catalog.get_package(conn, pid).samples_key
    engine.dispose()
    data = bytearray(samples.read_bytes())
    data[1000] ^= 0xFF
    samples.write_bytes(bytes(data))
    rows = product_rows(settings)

    result = runner("reprocess", "--sensor", str(SENSOR), "--run-here", "--json", env={"HYDROSERVE_PSD_NFFT": "4096"})
    assert result.exit_code == 1
    summary = result.json()
    assert [entry["package_id"] for entry in summary["failed"]] == [pid]
    assert f"the samples of {pid} cannot be read" in summary["failed"][0]["error"]
    assert summary["new_versions"]["psd"] == len(packages) - 1 and pid not in summary["rebuilt"]
    assert product_rows(settings)[(pid, "psd")] == rows[(pid, "psd")]


@pytest.mark.parametrize("failing_attempts", [1, 99])
def test_a_storage_error_defers_the_job_then_it_succeeds_or_fails_after_its_attempts(settings, runner, packages, monkeypatch,
                                                                                    failing_attempts):
    """A storage error is not a verdict on the package: the job waits and is tried again (once here it recovers), and
    after ``reprocess_attempts`` it fails with the error, instead of being retried for ever."""
    pid = packages[1]
    put = LocalBlobStore.put
    failed_at, stored = [], []

    def full_disk(store, key, chunks):
        if pid in key:
            if len(failed_at) < failing_attempts:
                failed_at.append(time.monotonic())
                raise OSError(28, "No space left on device")
            stored.append(time.monotonic())
        return put(store, key, chunks)

    monkeypatch.setattr(LocalBlobStore, "put", full_disk)
    result = runner("reprocess", "--sensor", str(SENSOR), "--run-here", "--json",
                    env={"HYDROSERVE_PSD_NFFT": "4096", "HYDROSERVE_REPROCESS_ATTEMPTS": "3",
                         "HYDROSERVE_REPROCESS_RETRY_S": "0.2", "HYDROSERVE_POLL_INTERVAL_S": "0.01"})
    summary = result.json()
    engine = wiring.open_catalog(settings)
    with engine.connect() as conn:
        job = conn.execute(select(reprocess_jobs.jobs).where(reprocess_jobs.jobs.c.package_id == pid)).one()
        current = catalog.get_package(conn, pid).products["psd"].version
    engine.dispose()
    attempts_at = failed_at + stored[:1]
    assert all(later - earlier >= 0.2 for earlier, later in zip(attempts_at, attempts_at[1:]))  # it waited in between
    assert "No space left on device" in job.last_error
    if failing_attempts == 1:
        assert result.exit_code == 0 and summary["failed"] == [] and pid in summary["rebuilt"]
        assert (job.state, job.attempts, current, len(failed_at)) == ("done", 1, 2, 1)
    else:
        assert result.exit_code == 1 and [entry["package_id"] for entry in summary["failed"]] == [pid]
        assert summary["failed"][0]["error"] == "gave up after 3 attempts: OSError: [Errno 28] No space left on device"
        assert (job.state, job.attempts, current, len(failed_at), stored) == ("failed", 3, 1, 3, [])
        assert summary["new_versions"]["psd"] == len(packages) - 1
