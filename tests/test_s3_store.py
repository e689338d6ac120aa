"""The S3 blob store against a real S3-compatible server on loopback (moto's server, boto3 as the client): atomic and
idempotent puts, multipart uploads, ranged reads, checksums, listing, deletion, notes, configuration."""

from __future__ import annotations

import hashlib
import os

import pytest

from hydroserve.acoustics.blobstore import CHECKSUM_CHUNK_BYTES, BlobDamaged, BlobNotFound, ChecksumsMissing, LocalBlobStore
from hydroserve.acoustics.s3store import S3BlobStore, parse_url
from hydroserve.api import wiring
from hydroserve.api.config import ConfigError, load_settings

MIB = 1 << 20


class Calls:
    """The S3 operations a client makes, as (operation, parameters given) (botocore's ``provide-client-params`` event)."""

    def __init__(self, client):
        self.made: list[tuple[str, dict]] = []
        client.meta.events.register("provide-client-params.s3", self._record)

    def _record(self, model, params, **kwargs):
        self.made.append((model.name, dict(params)))  # a copy: botocore wraps the body afterwards

    def named(self, operation: str) -> list[dict]:
        return [params for name, params in self.made if name == operation]

    def clear(self) -> None:
        self.made.clear()


@pytest.fixture
def bucket(s3):
    return s3.new_bucket()


@pytest.fixture
def store(s3, bucket):
    return S3BlobStore(f"s3://{bucket}/some/prefix", endpoint_url=s3.endpoint_url, part_bytes=5 * MIB)


def pattern(n_bytes: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(256)) * (n_bytes // 256) + b"\x01" * (n_bytes % 256)


def test_put_stores_the_bytes_and_their_chunk_checksums_beside_them(store, s3, bucket):
    data = pattern(2 * CHECKSUM_CHUNK_BYTES + 1000)
    info = store.put("DOM_1_CH1/2020/12/23/p.f32", [data[:5], memoryview(data)[5:]])
    assert (info.size_bytes, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    stored = s3.client().get_object(Bucket=bucket, Key="some/prefix/DOM_1_CH1/2020/12/23/p.f32")["Body"].read()
    assert stored == data
    checksums = store.checksums("DOM_1_CH1/2020/12/23/p.f32")
    assert checksums.size_bytes == len(data) and checksums.sha256 == info.sha256
    assert checksums.chunk_sha256 == tuple(hashlib.sha256(data[i : i + MIB]).hexdigest() for i in range(0, len(data), MIB))
    assert store.size("DOM_1_CH1/2020/12/23/p.f32") == len(data) and store.exists("DOM_1_CH1/2020/12/23/p.f32")
    assert not store.exists("DOM_1_CH1/2020/12/23/q.f32")
    with pytest.raises(BlobNotFound):
        store.size("DOM_1_CH1/2020/12/23/q.f32")
    with pytest.raises(BlobNotFound):
        store.checksums("nothing")


def test_an_empty_blob_is_stored(store):
    info = store.put("empty.bin", [])
    assert info.size_bytes == 0 and store.size("empty.bin") == 0 and store.open("empty.bin").read() == b""
    assert store.checksums("empty.bin").chunk_sha256 == ()


def test_a_large_blob_goes_up_in_parts_and_appears_only_when_complete(store, s3, bucket):
    data = pattern(12 * MIB + 3, seed=1)
    calls = Calls(store.client)
    store.put("big.f32", [data])
    parts = calls.named("UploadPart")
    assert [len(p["Body"]) for p in parts] == [5 * MIB, 5 * MIB, 2 * MIB + 3]
    assert not calls.named("PutObject")[1:]  # only the checksums went up as one PUT
    head = s3.client().head_object(Bucket=bucket, Key="some/prefix/big.f32")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')  # a multipart object of 3 parts
    assert store.open("big.f32").read() == data
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_failed_upload_leaves_no_object_and_no_open_upload(store, s3, bucket):
    def chunks():
        yield pattern(6 * MIB)
        raise OSError("the producer failed")

    with pytest.raises(OSError, match="the producer failed"):
        store.put("broken.f32", chunks())
    assert not store.exists("broken.f32")
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_put_of_identical_bytes_writes_nothing_and_other_bytes_replace(store):
    data = pattern(3 * MIB)
    store.put("p.mp3", [data])
    calls = Calls(store.client)
    store.put("p.mp3", [data])
    blob_puts = [p for p in calls.named("PutObject") if p["Key"] == "some/prefix/p.mp3"]
    assert [p.get("IfNoneMatch") for p in blob_puts] == ["*"]  # the conditional PUT was refused, nothing followed it
    calls.clear()
    other = pattern(3 * MIB, seed=5)
    store.put("p.mp3", [other])
    blob_puts = [p for p in calls.named("PutObject") if p["Key"] == "some/prefix/p.mp3"]
    assert [p.get("IfNoneMatch") for p in blob_puts] == ["*", None]
    assert store.open("p.mp3").read() == other and store.checksums("p.mp3").sha256 == hashlib.sha256(other).hexdigest()


def test_a_multipart_put_of_identical_bytes_is_aborted(store, s3, bucket):
    data = pattern(11 * MIB, seed=2)
    store.put("big.f32", [data])
    etag = s3.client().head_object(Bucket=bucket, Key="some/prefix/big.f32")["ETag"]
    calls = Calls(store.client)
    store.put("big.f32", [data])
    assert [p.get("IfNoneMatch") for p in calls.named("CompleteMultipartUpload")] == ["*"]
    assert len(calls.named("AbortMultipartUpload")) == 1
    assert s3.client().head_object(Bucket=bucket, Key="some/prefix/big.f32")["ETag"] == etag
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_ranged_reads_ask_for_growing_ranges_while_reading_on(store):
    data = pattern(15 * MIB, seed=3)
    store.put("s.f32", [data])
    calls = Calls(store.client)
    with store.open("s.f32") as stored:
        stored.seek(10 * MIB + 17)
        assert stored.read(100) == data[10 * MIB + 17 : 10 * MIB + 117]
        assert [p["Range"] for p in calls.named("GetObject")] == [f"bytes={10 * MIB + 17}-{10 * MIB + 116}"]
        calls.clear()
        stored.seek(0)
        pieces = []
        while piece := stored.read(MIB):
            pieces.append(piece)
    assert b"".join(pieces) == data
    ranges = [p["Range"] for p in calls.named("GetObject")]
    assert ranges == [f"bytes=0-{MIB - 1}", f"bytes={MIB}-{3 * MIB - 1}", f"bytes={3 * MIB}-{7 * MIB - 1}",
                      f"bytes={7 * MIB}-{15 * MIB - 1}"]
    assert all(p["IfMatch"] for p in calls.named("GetObject"))


def test_a_blob_replaced_while_it_is_read_fails_the_read(store):
    store.put("s.f32", [pattern(2 * MIB)])
    with store.open("s.f32") as stored:
        assert len(stored.read(10)) == 10
        store.put("s.f32", [pattern(2 * MIB, seed=9)])
        stored.seek(MIB)
        with pytest.raises(OSError, match="replaced or deleted while it was read"):
            stored.read(10)


def test_checksums_missing_unreadable_and_added(store, s3, bucket):
    s3.client().put_object(Bucket=bucket, Key="some/prefix/old.mp3", Body=b"stored before checksums")
    with pytest.raises(ChecksumsMissing):
        store.checksums("old.mp3")
    store.put("new.mp3", [b"abc"])
    store.put_checksums("old.mp3", store.checksums("new.mp3"))
    assert store.checksums("old.mp3").sha256 == hashlib.sha256(b"abc").hexdigest()
    s3.client().put_object(Bucket=bucket, Key="some/prefix/.checksums/old.mp3.json", Body=b"{not json")
    with pytest.raises(BlobDamaged, match="checksum record .*old.mp3.json is unreadable"):
        store.checksums("old.mp3")


def test_keys_list_one_level_without_checksums_or_notes_and_delete_removes_both(store, s3, bucket):
    for key in ("A/2020/p1.f32", "A/2020/p1.mp3", "A/2020/p2.f32", "A/2020/deeper/p1.x", "B/p1.f32"):
        store.put(key, [key.encode()])
    store.create_note(".catalog-id", "abc\n")
    assert store.keys("A/2020/p1.") == ["A/2020/p1.f32", "A/2020/p1.mp3"]
    assert store.keys("A/2020/") == ["A/2020/p1.f32", "A/2020/p1.mp3", "A/2020/p2.f32"]
    assert store.keys("") == [] and store.keys("C/") == []
    assert store.holds("A") and store.holds("B/p") and not store.holds("C")
    store.delete("A/2020/p1.mp3")
    store.delete("A/2020/p1.mp3")  # deleting what is gone is no error
    assert store.keys("A/2020/p1.") == ["A/2020/p1.f32"]
    names = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert "some/prefix/.checksums/A/2020/p1.mp3.json" not in names and "some/prefix/.checksums/A/2020/p1.f32.json" in names


def test_a_note_is_created_once(store):
    assert store.read_note(".catalog-id") is None
    assert store.create_note(".catalog-id", "first\n") == "first\n"
    assert store.create_note(".catalog-id", "second\n") == "first\n"
    assert store.read_note(".catalog-id") == "first\n"
    with pytest.raises(ValueError):
        store.create_note(".checksums", "x")


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path):
    """Each implementation of the store interface."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs", fsync=False)
    return request.getfixturevalue("store")


def test_both_stores_list_hold_delete_and_keep_notes_alike(any_store):
    for key in ("DOM_1_CH1/2020/p1.f32", "DOM_1_CH1/2020/p1.mp3", "DOM_1_CH1/2020/p2.f32", "DOM_1_CH1/2020/sub/p1.x"):
        any_store.put(key, [key.encode()])
    assert any_store.keys("DOM_1_CH1/2020/p1.") == ["DOM_1_CH1/2020/p1.f32", "DOM_1_CH1/2020/p1.mp3"]
    assert any_store.holds("DOM_") and any_store.holds("DOM_1_CH1/2020/p2") and not any_store.holds("DOM_2")
    any_store.delete("DOM_1_CH1/2020/p1.mp3")
    any_store.delete("DOM_1_CH1/2020/p1.mp3")
    any_store.delete("DOM_9/none")  # nothing there: no error
    assert any_store.keys("DOM_1_CH1/2020/p1.") == ["DOM_1_CH1/2020/p1.f32"] and not any_store.exists("DOM_1_CH1/2020/p1.mp3")
    with pytest.raises(BlobNotFound):
        any_store.checksums("DOM_1_CH1/2020/p1.mp3")
    assert any_store.read_note(".catalog-id") is None
    assert any_store.create_note(".catalog-id", "one\n") == "one\n" and any_store.create_note(".catalog-id", "two\n") == "one\n"
    assert any_store.read_note(".catalog-id") == "one\n" and any_store.keys("") == []
    assert any_store.purge_incoming(older_than_s=3600) == 0


def test_unfinished_uploads_of_writers_that_died_are_purged(store, s3, bucket):
    client = s3.client()
    client.create_multipart_upload(Bucket=bucket, Key="some/prefix/dead.f32")
    client.create_multipart_upload(Bucket=bucket, Key="elsewhere/dead.f32")  # not this store's
    # (moto reports every upload as begun in 2010, so "not old enough yet" cannot be shown against it)
    assert store.purge_incoming(older_than_s=0) == 1
    assert [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket)["Uploads"]] == ["elsewhere/dead.f32"]


def test_keys_are_checked_before_any_request(store):
    for key in ("../x", ".checksums/a", "a//b", "/abs"):
        with pytest.raises(ValueError, match="blob key"):
            store.put(key, [b"x"])


@pytest.mark.parametrize("url", ["s3://", "s3://ab/x", "s3://Bucket/x", "http://bucket/x", "s3://bucket/../x", "s3://bucket/a b"])
def test_bad_urls_are_refused_naming_the_key(url, tmp_path):
    with pytest.raises(ValueError):
        parse_url(url)
    with pytest.raises(ConfigError, match="blob_url"):
        load_settings(env={}, data_dir=str(tmp_path), blob_url=url)


def test_the_configuration_chooses_the_store(tmp_path, s3, bucket):
    assert parse_url(f"s3://{bucket}") == (bucket, "") and parse_url(f"s3://{bucket}/a/b/") == (bucket, "a/b")
    local = wiring.open_blobs(load_settings(env={}, data_dir=str(tmp_path)))
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "blobs"
    settings = load_settings(env={"HYDROSERVE_BLOB_URL": f"s3://{bucket}/archive"}, data_dir=str(tmp_path))
    os.environ["AWS_ENDPOINT_URL"] = s3.endpoint_url  # boto3's own variable names the endpoint
    try:
        remote = wiring.open_blobs(settings)
        remote.put("k.bin", [b"through AWS_ENDPOINT_URL"])
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
    assert isinstance(remote, S3BlobStore) and str(remote) == f"s3://{bucket}/archive"
    assert s3.client().get_object(Bucket=bucket, Key="archive/k.bin")["Body"].read() == b"through AWS_ENDPOINT_URL"
    assert wiring.blob_redirect(settings, remote) is None  # streaming is the default
