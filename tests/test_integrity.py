"""Never serve corrupted bytes as valid: stored files damaged on disk (bytes flipped, zeroed, truncated) are never
served as a complete answer, are recorded and counted, rebuilt where they can be, and found by ``hydroserve verify``."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil

import pytest
import requests

from hydroserve.acoustics import catalog
from hydroserve.acoustics.blobstore import CHECKSUM_CHUNK_BYTES, BlobDamaged, ChecksumWriter, LocalBlobStore
from hydroserve.acoustics.integrity import VerifiedBlob
from hydroserve.api import wiring
from hydroserve.api.db import writer
from hydroserve.api.events import publishing
from hydroserve.samples import events
from support import url

pytestmark = pytest.mark.fault
PID = "DOM_808956920_CH1_1608751680"
SAMPLE_BYTES = 390_625 * 4  # 2 s at 195312.5 Hz: two checksum chunks


def flip_at(offset: int):
    def damage(path):
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x5A
        path.write_bytes(bytes(data))
    return damage


def zero(path):
    path.write_bytes(bytes(path.stat().st_size))


def truncate(path):
    os.truncate(path, path.stat().st_size // 2)


SAMPLE_DAMAGE = {"flip in the second chunk": flip_at(CHECKSUM_CHUNK_BYTES + 1000), "zeroed": zero, "truncated": truncate}


@pytest.fixture
def settings(settings):
    """These faults are those of the float32 samples blob (two checksum chunks; blobs from before checksums had
    a WAV-prefixed digest); the FLAC store's are in test_flac_storage.py. No view cache: the first, intact read would
    fill it, and the views would then be served from it (its own faults are in test_view_cache.py)."""
    return dataclasses.replace(settings, samples_storage="float32", view_cache_bytes=0)


@pytest.fixture
def package(archived, synthetic_files, settings):
    """One archived package (2 s); returns its catalog record."""
    assert archived(synthetic_files(n_frames=5)).packages_made == [PID]
    with wiring.init_catalog(settings).connect() as conn:
        record = catalog.get_package(conn, PID)
    assert record.n_samples * 4 == SAMPLE_BYTES
    return record


def fetch(client, path, headers=None) -> tuple[int, bytes | None, str]:
    """Status, the body if it arrived whole (None if the transfer stopped short), media type."""
    response = client.get(path, headers=headers)
    try:
        body = response.get_data()
    except BlobDamaged:
        return response.status_code, None, response.mimetype
    assert len(body) == int(response.headers["Content-Length"])
    return response.status_code, body, response.mimetype


def metric(client, name: str) -> float:
    text = client.get(url(client, "metrics.metrics")).get_data(as_text=True)
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def verify(runner, *args):
    result = runner("verify", "--json", *args)
    return result.exit_code, result.json()


def test_verified_reads_check_each_chunk_and_stop_at_the_first_bad_one(tmp_path):
    store = LocalBlobStore(tmp_path, fsync=False)
    data = os.urandom(2 * CHECKSUM_CHUNK_BYTES + 12345)
    store.put("a/blob", [data[:7], data[7:]])
    checksums = store.checksums("a/blob")
    assert checksums.size_bytes == len(data) and checksums.sha256 == hashlib.sha256(data).hexdigest()
    assert checksums.chunk_sha256 == tuple(hashlib.sha256(data[i : i + CHECKSUM_CHUNK_BYTES]).hexdigest()
                                           for i in range(0, len(data), CHECKSUM_CHUNK_BYTES))
    with VerifiedBlob(store.open("a/blob"), checksums, "a/blob") as blob:
        blob.seek(CHECKSUM_CHUNK_BYTES - 5)
        assert blob.read(10) == data[CHECKSUM_CHUNK_BYTES - 5 : CHECKSUM_CHUNK_BYTES + 5]  # across a chunk boundary
        blob.seek(0)
        assert blob.read() == data
    flip_at(2 * CHECKSUM_CHUNK_BYTES + 3)(tmp_path / "a/blob")
    found = []
    with VerifiedBlob(store.open("a/blob"), checksums, "a/blob", on_damage=found.append) as blob:
        assert blob.read(2 * CHECKSUM_CHUNK_BYTES) == data[: 2 * CHECKSUM_CHUNK_BYTES]  # the intact chunks
        with pytest.raises(BlobDamaged, match="chunk 2 .* does not match"):
            blob.read(1)
    assert [error.key for error in found] == ["a/blob"]


def test_checksum_writer_hashes_any_pieces_like_the_whole():
    data = os.urandom(3 * 1000 + 17)
    whole, pieces = ChecksumWriter(1000, prefix=b"hdr"), ChecksumWriter(1000, prefix=b"hdr")
    whole.update(data)
    for start in range(0, len(data), 333):
        pieces.update(memoryview(data)[start : start + 333])
    assert whole.result() == pieces.result() and len(whole.result().chunk_sha256) == 4
    assert pieces.prefix_sha256() == hashlib.sha256(b"hdr" + data).hexdigest()
    plain = ChecksumWriter(1000)
    plain.update(data)
    assert plain.prefix_sha256() == plain.result().sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("damage", list(SAMPLE_DAMAGE), ids=list(SAMPLE_DAMAGE))
def test_damaged_samples_are_never_served_whole_then_answer_503(app, client, settings, package, damage):
    paths = {kind: url(app, f"acoustic.{kind}", package_id=PID) for kind in ("Raw", "Wav")}
    intact = {kind: client.get(path).get_data() for kind, path in paths.items()}
    SAMPLE_DAMAGE[damage](settings.blob_dir / package.samples_key)
    for kind, path in paths.items():
        for headers in (None, {"Range": "bytes=100-"}, {"Range": f"bytes={CHECKSUM_CHUNK_BYTES}-{CHECKSUM_CHUNK_BYTES + 99}"}):
            status, body, media_type = fetch(client, path, headers)
            assert body is None or status == 503, (kind, headers, status)  # a transfer stopped short, or an error
            if status == 503:
                assert media_type == "application/problem+json"
    assert {kind: hashlib.sha256(body).hexdigest() for kind, body in intact.items()} == {
        "Wav": package.products["wav"].sha256, "Raw": package.products["raw"].sha256}
    info = client.get(url(app, "acoustic.Info", package_id=PID)).json["integrity"]
    assert info["damaged"] is True and [d["blob_key"] for d in info["damage"]] == [package.samples_key]
    assert metric(client, "hydroserve_damaged_packages") == 1
    status, body, media_type = fetch(client, paths["Wav"], {"Range": "bytes=0-99"})  # even an intact chunk: 503 until repaired
    assert (status, media_type) == (503, "application/problem+json")


@pytest.mark.slow
def test_a_real_client_sees_a_broken_transfer_then_503(settings, package, gunicorn_server):
    base = gunicorn_server(workers=1)
    wav = f"{base}/api/v1/packages/{PID}/wav"
    intact = requests.get(wav, timeout=30).content
    flip_at(CHECKSUM_CHUNK_BYTES + 1000)(settings.blob_dir / package.samples_key)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(wav, timeout=30)  # headers said 200 and the length; the body stops at the bad chunk
    again = requests.get(wav, timeout=30)
    assert again.status_code == 503 and again.headers["Content-Type"] == "application/problem+json"
    assert again.json()["type"].endswith("/blob-damaged")
    shown = requests.get(f"{base}/api/v1/packages/{PID}/info", timeout=30).json()["integrity"]
    assert shown["damaged"] is True
    assert "hydroserve_damaged_packages 1.0" in requests.get(f"{base}/metrics", timeout=30).text
    assert hashlib.sha256(intact).hexdigest() == package.products["wav"].sha256


@pytest.mark.parametrize("kind, key", [("Mp3", "mp3"), ("Psd", "psd")])
def test_damaged_products_are_rebuilt_identically_from_intact_samples(app, client, settings, package, caplog, kind, key):
    product = package.products[key]
    path = url(app, f"acoustic.{kind}", package_id=PID)
    flip_at(product.size_bytes // 2)(settings.blob_dir / product.blob_key)
    status, body, _ = fetch(client, path)
    assert status == 200 and hashlib.sha256(body).hexdigest() == product.sha256
    assert hashlib.sha256((settings.blob_dir / product.blob_key).read_bytes()).hexdigest() == product.sha256
    assert any(product.blob_key in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    [entry] = client.get(url(app, "acoustic.Info", package_id=PID)).json["integrity"]["damage"]
    assert entry["blob_key"] == product.blob_key and entry["repaired"] is not None
    assert metric(client, 'hydroserve_damaged_blobs{state="repaired"}') == 1
    assert metric(client, "hydroserve_damaged_packages") == 0


def test_a_product_of_damaged_samples_is_not_rebuilt_wrong(app, client, settings, package):
    zero(settings.blob_dir / package.samples_key)
    flip_at(10)(settings.blob_dir / package.products["mp3"].blob_key)
    status, body, media_type = fetch(client, url(app, "acoustic.Mp3", package_id=PID))
    assert (status, media_type) == (503, "application/problem+json")


@pytest.fixture
def event_table(app, settings):
    table_bytes = (events.EXAMPLE_DIR / f"{events.TABLE_ID}.csv").read_bytes()
    meta_bytes = (events.EXAMPLE_DIR / f"{events.TABLE_ID}.meta.json").read_bytes()
    engine = wiring.init_catalog(settings)
    published = publishing.publish(writer(engine), wiring.open_blobs(settings), wiring.event_settings(settings),
                                   table_bytes, meta_bytes)
    return published.record


def test_damaged_event_table_file_answers_503(app, client, settings, event_table):
    csv = event_table.products["csv"]
    flip_at(5)(settings.blob_dir / csv["key"])
    status, body, media_type = fetch(client, url(app, "events.Csv", table_id=event_table.table_id))
    assert (status, media_type) == (503, "application/problem+json")
    hdf5 = fetch(client, url(app, "events.Hdf5", table_id=event_table.table_id))
    assert hdf5[0] == 200 and hashlib.sha256(hdf5[1]).hexdigest() == event_table.products["hdf5"]["sha256"]
    assert metric(client, 'hydroserve_damaged_blobs{state="damaged"}') == 1


def test_verify_passes_an_intact_archive(runner, package, event_table):
    exit_code, summary = verify(runner)
    assert exit_code == 0 and summary["damaged"] == [] and summary["missing"] == []
    # samples, MP3, PSD arrays and /psd document, HMD; the table's files
    assert summary["ok"] == summary["blobs_checked"] == 5 + len(event_table.products)
    assert runner("verify", "--sensor", "DOM_808956920_CH1").exit_code == 0


@pytest.mark.parametrize("damage", ["samples flipped", "samples zeroed", "samples truncated", "mp3", "psd", "event csv"])
def test_verify_finds_each_damage_and_a_replica_repairs_it(app, client, runner, settings, package, event_table, damage):
    key = {"mp3": package.products["mp3"].blob_key, "psd": package.products["psd"].blob_key,
           "event csv": event_table.products["csv"]["key"]}.get(damage, package.samples_key)
    path = settings.blob_dir / key
    replica = path.read_bytes()
    {"samples zeroed": zero, "samples truncated": truncate}.get(damage, flip_at(len(replica) // 2))(path)
    exit_code, summary = verify(runner)
    assert exit_code == 1 and [d["blob_key"] for d in summary["damaged"]] == [key]
    owner = event_table.table_id if damage == "event csv" else PID
    assert summary["damaged_owners"] == [owner]
    assert runner("verify").exit_code == 1  # still damaged
    path.write_bytes(replica)  # put back from a replica
    exit_code, summary = verify(runner)
    assert exit_code == 0 and summary["repaired"] == [key]
    assert client.get(url(app, "acoustic.Info", package_id=PID)).json["integrity"]["damaged"] is False


def test_verify_filters_by_sensor_and_time(runner, package):
    exit_code, summary = verify(runner, "--sensor", "DOM_1_CH1")
    assert exit_code == 0 and summary["blobs_checked"] == 0
    exit_code, summary = verify(runner, "--since", "2020-12-23T19:28:02Z")
    assert exit_code == 0 and summary["blobs_checked"] == 0
    exit_code, summary = verify(runner, "--since", "2020-12-23T19:28:00")
    assert exit_code == 0 and summary["blobs_checked"] == 5
    with pytest.raises(SystemExit, match="2"):  # argparse: the usage and the reason on stderr
        runner("verify", "--since", "yesterday")


def test_archives_from_before_checksums_keep_working(app, client, runner, settings, package):
    """Blobs without chunk checksums are served and get them when their SHA-256 still matches the catalog's."""
    wav_path = url(app, "acoustic.Wav", package_id=PID)
    shutil.rmtree(settings.blob_dir / ".checksums")
    status, body, _ = fetch(client, wav_path)
    assert status == 200 and hashlib.sha256(body).hexdigest() == package.products["wav"].sha256
    assert (settings.blob_dir / ".checksums" / (package.samples_key + ".json")).is_file()  # added on first use
    shutil.rmtree(settings.blob_dir / ".checksums")
    exit_code, summary = verify(runner)
    assert exit_code == 0 and len(summary["checksums_added"]) == 4  # the PSD arrays have no digest: made again when used
    assert [entry["blob_key"] for entry in summary["unchecked"]] == [package.samples_key.replace(".f32", ".psd.npz")]
    shutil.rmtree(settings.blob_dir / ".checksums")
    flip_at(CHECKSUM_CHUNK_BYTES + 5)(settings.blob_dir / package.samples_key)
    exit_code, summary = verify(runner)
    assert exit_code == 1 and "no longer matches" in summary["damaged"][0]["detail"]
    assert fetch(client, wav_path)[0] == 503
