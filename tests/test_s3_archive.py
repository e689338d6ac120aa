"""The whole archive on an S3-compatible store (moto's server on loopback): ingest, serving (streamed through the
app, and redirected to presigned URLs, through a real gunicorn), ``hydroserve verify``, and damaged objects."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import numpy as np
import pytest
import requests
import soundfile

from hydroserve.acoustics import catalog
from hydroserve.api import wiring
from hydroserve.api.app import create_app
from support import url

FIRST = "DOM_808956920_CH1_1608751680"
PRODUCTS = ("acoustic.Raw", "acoustic.Wav", "acoustic.Mp3", "acoustic.Psd")


@pytest.fixture
def settings(settings, s3):
    """The tests' settings (catalog on SQLite and on PostgreSQL) with the blobs in a new bucket of the session's S3
    server: every fixture built on ``settings`` (archive, app, CLI, gunicorn) uses it."""
    return dataclasses.replace(settings, blob_url=f"s3://{s3.new_bucket()}/archive", s3_endpoint_url=s3.endpoint_url)


@pytest.fixture
def files(synthetic_files):
    return synthetic_files(n_frames=11, frames_per_file=4, drop_frames={8})


@pytest.fixture
def packages(archived, files):
    report = archived(files)
    assert report.packages_made == [FIRST, "DOM_808956920_CH1_1608751682", "DOM_808956920_CH1_1608751684"]
    return report.packages_made


@pytest.fixture
def local_client(settings, files, tmp_path):
    """The same files archived on the local folder store (the reference every S3 answer must equal byte for byte)."""
    local = dataclasses.replace(settings, blob_url=None, data_dir=tmp_path / "local",
                                database_url=f"sqlite:///{tmp_path / 'local' / 'catalog.sqlite'}")
    engine = wiring.init_catalog(local)
    ingestor = wiring.build_ingestor(local, wiring.build_archive(local, engine), retry_for_s=5)
    from hydroserve.codecs import raw, raw_decoder

    for path in files:
        ingestor.feed(raw.RawFileName.parse(path).sensor, raw_decoder.read_file(path, frame_length=local.adf_frame_length))
    ingestor.flush()
    engine.dispose()
    return create_app(local).test_client()


def record_of(settings, package_id: str) -> catalog.PackageRecord:
    engine = wiring.open_catalog(settings)
    with engine.connect() as conn:
        record = catalog.get_package(conn, package_id)
    engine.dispose()
    return record


def flip_object_byte(s3, settings, key: str, offset: int) -> None:
    """Change one byte of a stored object on the server, behind the store's back."""
    bucket, name = settings.blob_url[len("s3://"):].split("/", 1)
    client = s3.client()
    data = bytearray(client.get_object(Bucket=bucket, Key=f"{name}/{key}")["Body"].read())
    data[offset] ^= 0x40
    client.put_object(Bucket=bucket, Key=f"{name}/{key}", Body=bytes(data))


def test_ingest_serve_and_verify_run_on_s3(app, client, local_client, settings, packages, s3, runner):
    bucket, prefix = settings.blob_url[len("s3://"):].split("/", 1)
    names = {o["Key"] for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])}
    record = record_of(settings, FIRST)
    for key in (record.samples_key, record.products["mp3"].blob_key, record.products["psd"].blob_key):
        assert f"{prefix}/{key}" in names and f"{prefix}/.checksums/{key}.json" in names
    assert f"{prefix}/.catalog-id" in names
    assert not settings.blob_dir.exists()  # nothing went to the local folder
    for endpoint in PRODUCTS:
        for package_id in packages:
            answer = client.get(url(app, endpoint, package_id=package_id))
            reference = local_client.get(url(app, endpoint, package_id=package_id))
            assert answer.status_code == reference.status_code == 200
            assert answer.data == reference.data and answer.headers["ETag"] == reference.headers["ETag"], (endpoint, package_id)
    wav_url = url(app, "acoustic.Wav", package_id=FIRST)
    whole = client.get(wav_url).data
    assert hashlib.sha256(whole).hexdigest() == record.products["wav"].sha256
    decoded, rate = soundfile.read(io.BytesIO(whole), dtype="float32")
    assert rate == 195312 and len(decoded) == record.n_samples
    for header, expected in (("bytes=1000-1999", whole[1000:2000]), ("bytes=-44", whole[-44:]),
                             (f"bytes={(1 << 20) - 10}-{(1 << 20) + 9}", whole[(1 << 20) - 10 : (1 << 20) + 10])):
        part = client.get(wav_url, headers={"Range": header})
        assert part.status_code == 206 and part.data == expected, header
    assert client.get(wav_url, headers={"If-None-Match": client.get(wav_url).headers["ETag"]}).status_code == 304
    result = runner("verify", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    summary = result.json()
    assert summary["ok"] == summary["blobs_checked"] >= 3 * 4 and summary["damaged"] == summary["missing"] == []
    assert summary["bytes_checked"] >= 3 * record.n_samples * 4 * 0.6


def test_a_damaged_object_is_found_and_never_served_as_valid(app, client, settings, packages, s3, runner):
    record = record_of(settings, FIRST)
    flip_object_byte(s3, settings, record.samples_key, 1234)
    answer = client.get(url(app, "acoustic.Wav", package_id=FIRST))
    assert answer.status_code == 503 and answer.json["type"].endswith("blob-damaged")
    last_byte = min(record.products["flac"].size_bytes, 1 << 20) - 1  # the samples, stored as FLAC; chunks of 1 MiB
    assert f"chunk 0 (bytes 0-{last_byte}) does not match its SHA-256" in answer.json["detail"]
    mp3 = record.products["mp3"]
    flip_object_byte(s3, settings, mp3.blob_key, 500)  # a product that is made again from intact samples...
    second = record_of(settings, packages[1])
    flip_object_byte(s3, settings, second.products["mp3"].blob_key, 500)
    served = client.get(url(app, "acoustic.Mp3", package_id=packages[1]))
    assert served.status_code == 200 and hashlib.sha256(served.data).hexdigest() == second.products["mp3"].sha256
    result = runner("verify", "--json")
    assert result.exit_code == 1
    summary = result.json()
    damaged = {entry["blob_key"] for entry in summary["damaged"]}
    assert damaged == {record.samples_key, mp3.blob_key}  # the remade MP3 of the second package is intact again
    assert summary["damaged_owners"] == [FIRST]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["stream", "redirect"])
def test_gunicorn_serves_s3_blobs_streamed_or_redirected(settings, packages, s3, gunicorn_server, mode):
    # no view cache: the whole /wav below would fill it, and the damaged samples' /wav would then come from it
    base = gunicorn_server(workers=1, HYDROSERVE_S3_SERVE=mode, HYDROSERVE_S3_PRESIGN_EXPIRY_S=120,
                           HYDROSERVE_VIEW_CACHE_BYTES=0)
    record = record_of(settings, FIRST)
    mp3_url = f"{base}/api/v1/packages/{FIRST}/mp3"
    first = requests.get(mp3_url, allow_redirects=False, timeout=30)
    if mode == "redirect":
        assert first.status_code == 307 and first.headers["Location"].startswith(f"{s3.endpoint_url}/")
        assert "X-Amz-Expires=120" in first.headers["Location"] and first.headers["Cache-Control"] == "no-store"
        assert first.headers["ETag"] == f'"{record.products["mp3"].sha256}"' and first.content == b""
    else:
        assert first.status_code == 200
    whole = requests.get(mp3_url, timeout=30)  # redirects followed, as clients do
    assert whole.status_code == 200 and whole.headers["Content-Type"] == "audio/mpeg"
    assert hashlib.sha256(whole.content).hexdigest() == record.products["mp3"].sha256
    assert whole.headers["Content-Disposition"].startswith("inline; filename=") and f"{FIRST}.mp3" in whole.headers["Content-Disposition"]
    part = requests.get(mp3_url, headers={"Range": "bytes=100-199"}, timeout=30)
    assert part.status_code == 206 and part.content == whole.content[100:200]
    etag = f'"{record.products["mp3"].sha256}"'
    assert requests.get(mp3_url, headers={"If-None-Match": etag}, allow_redirects=False, timeout=30).status_code == 304
    wav = requests.get(f"{base}/api/v1/packages/{FIRST}/wav", allow_redirects=False, timeout=30)  # a view: always streamed
    assert wav.status_code == 200 and hashlib.sha256(wav.content).hexdigest() == record.products["wav"].sha256
    wav_part = requests.get(f"{base}/api/v1/packages/{FIRST}/wav", headers={"Range": "bytes=44-1043"}, timeout=30)
    assert wav_part.status_code == 206
    np.testing.assert_array_equal(np.frombuffer(wav_part.content, "<f4"), np.frombuffer(wav.content[44:1044], "<f4"))
    psd = requests.get(f"{base}/api/v1/packages/{FIRST}/psd", timeout=30)
    assert psd.status_code == 200 and hashlib.sha256(psd.content).hexdigest() == record.products["psd"].sha256
    flip_object_byte(s3, settings, record.products["mp3"].blob_key, 700)
    again = requests.get(mp3_url, timeout=30)  # found damaged, made again from the samples, then served
    assert again.status_code == 200 and hashlib.sha256(again.content).hexdigest() == record.products["mp3"].sha256
    flip_object_byte(s3, settings, record.samples_key, 10)
    broken = requests.get(f"{base}/api/v1/packages/{FIRST}/wav", timeout=30)
    assert broken.status_code == 503 and broken.headers["Content-Type"] == "application/problem+json"


def test_a_new_catalog_beside_an_s3_store_of_another_catalogs_packages_is_refused(settings, packages, runner, tmp_path):
    other = {"HYDROSERVE_DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite'}"}
    assert runner("db", "init", env=other).exit_code == 0  # a new, empty catalog; the store keeps its marker
    result = runner("ingest", "--once", env=other)
    assert result.exit_code == 2
    assert f"but the blob store {settings.blob_url} holds packages of catalog" in result.stderr
    assert f"move {settings.blob_url} away first" in result.stderr
    assert runner("ingest", "--once").exit_code == 0  # the store's own catalog is accepted


def test_redirected_event_table_files_are_checked_first(settings, s3):
    from hydroserve.api.db import writer
    from hydroserve.api.events import publishing
    from hydroserve.samples import events

    redirecting = dataclasses.replace(settings, s3_serve="redirect", s3_presign_expiry_s=60)
    engine = wiring.init_catalog(redirecting)
    table = publishing.publish(writer(engine), wiring.open_blobs(redirecting), wiring.event_settings(redirecting),
                               (events.EXAMPLE_DIR / f"{events.TABLE_ID}.csv").read_bytes(),
                               (events.EXAMPLE_DIR / f"{events.TABLE_ID}.meta.json").read_bytes()).record
    engine.dispose()
    app = create_app(redirecting)
    client = app.test_client()
    csv = table.products["csv"]
    answer = client.get(url(app, "events.Csv", table_id=table.table_id))
    assert answer.status_code == 307 and "X-Amz-Expires=60" in answer.headers["Location"]
    fetched = requests.get(answer.headers["Location"], timeout=30)
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == csv["sha256"]
    assert fetched.headers["Content-Type"].startswith("text/csv") and "Content-Type" not in answer.headers  # no body
    flip_object_byte(s3, redirecting, csv["key"], 5)
    damaged = client.get(url(app, "events.Csv", table_id=table.table_id))
    assert damaged.status_code == 503 and damaged.json["type"].endswith("blob-damaged")  # never sent to the bad object


def test_a_missing_bucket_stops_the_commands_saying_so(settings, runner, s3):
    missing = {"HYDROSERVE_BLOB_URL": "s3://hydroserve-no-such-bucket/archive"}
    for command in (("db", "init"), ("ingest", "--once")):
        result = runner(*command, env=missing)
        assert result.exit_code == 2, command
        assert result.stderr.strip().endswith(
            f"the blob store s3://hydroserve-no-such-bucket/archive at {s3.endpoint_url}: the bucket hydroserve-no-such-bucket "
            "does not exist"), result.stderr
