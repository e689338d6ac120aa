"""Blobs in an S3-compatible object store (boto3): the second :class:`~.blobstore.BlobStore`.

A store is named by a URL ``s3://<bucket>/<prefix>``; every blob key
``K`` is the object ``<prefix>/K``, its :class:`~.blobstore.ChunkChecksums`
the JSON object ``<prefix>/.checksums/K.json`` and the store's notes (the
catalog marker) ``<prefix>/.<name>``. Keys cannot start with ``.``, so no key
reaches them. The endpoint, region and credentials are boto3's own: the
``AWS_*`` variables (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``,
``AWS_ACCESS_KEY_ID``...), ``~/.aws/config`` and ``~/.aws/credentials``, or
an instance role; an ``endpoint_url`` given here wins.

Puts are atomic: an object appears whole when its PUT (or its multipart
upload's completion) succeeds, or not at all. A blob of more than
``part_bytes`` is sent as a multipart upload of ``part_bytes`` parts; a part
that fails aborts the upload (what a writer that died leaves is aborted by
:meth:`S3BlobStore.purge_incoming`). Every put is conditional
(``If-None-Match: *``): when the key exists already, its stored bytes are
compared with the new ones chunk by chunk, and a put of identical bytes
changes nothing; different bytes (a damaged object being repaired) replace
them. A store that does not implement conditional writes gets the same
comparison before an unconditional put. A single-part PUT carries the
SHA-256 of its body (``x-amz-checksum-sha256``), which S3 checks on arrival.

Reads are ranged GETs (:class:`~.s3reader.S3Reader`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from .blobstore import (
    BlobDamaged,
    BlobInfo,
    BlobNotFound,
    BlobStoreUnavailable,
    ChecksumsMissing,
    ChecksumWriter,
    ChunkChecksums,
    check_key,
)
from .s3reader import CONFLICT, MISSING, S3Reader, error_code

MAX_CONNECTIONS = 64
PART_BYTES = 64 << 20
"""Parts of a multipart upload (S3 allows 5 MiB to 5 GiB, at most 10,000 parts: blobs up to 625 GiB)."""
_URL_RE = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/(?P<prefix>[A-Za-z0-9_.=/-]*))?")
_UNSUPPORTED = {"NotImplemented"}


def parse_url(url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (the prefix without slashes at either end, possibly empty).

    Raises
    ------
    ValueError
        Naming what is wrong with ``url``.
    """
    match = _URL_RE.fullmatch(url)
    if match is None:
        raise ValueError(f"{url!r} is not s3://<bucket>/<prefix> (a bucket of 3-63 characters a-z 0-9 . -, "
                         "a prefix of A-Z a-z 0-9 _ . = - /)")
    prefix = (match["prefix"] or "").strip("/")
    if prefix:
        check_key(prefix)
    return match["bucket"], prefix


class S3BlobStore:
    """Blobs as objects in a bucket, under a prefix.

    Parameters
    ----------
    url : str
        ``s3://<bucket>/<prefix>``.
    endpoint_url : str, optional
        The S3 endpoint; by default boto3's (``AWS_ENDPOINT_URL``, the AWS configuration, else AWS itself).
    client : botocore client, optional
        An S3 client to use instead of making one.
    part_bytes : int
        Blobs larger than this are multipart uploads of parts this size (at least 5 MiB, S3's minimum).
    """

    def __init__(self, url: str, *, endpoint_url: str | None = None, client=None, part_bytes: int = PART_BYTES):
        if part_bytes < 5 << 20:
            raise ValueError(f"{part_bytes=} is below S3's smallest multipart part (5 MiB)")
        self.bucket, self.prefix = parse_url(url)
        if client is None:
            import boto3  # half a second: paid only by the processes that use S3
            from botocore.config import Config

            # Signature V4 (presigned URLs too: boto3 would sign them with V2 in some regions, which AWS refuses);
            # a gevent worker reads many objects at once, each holding a connection (botocore keeps 10 by default)
            client = boto3.client("s3", endpoint_url=endpoint_url,
                                  config=Config(signature_version="s3v4", max_pool_connections=MAX_CONNECTIONS))
        self.client = client
        self.part_bytes = part_bytes

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _checksums_name(self, key: str) -> str:
        return self._name(f".checksums/{check_key(key)}.json")

    # writing

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> BlobInfo:
        name = self._name(check_key(key))
        writer = ChecksumWriter()
        parts = _parts(chunks, self.part_bytes)
        first = next(parts)
        writer.update(first)
        second = next(parts, None)
        if second is None:
            checksums = writer.result()
            self.put_checksums(key, checksums)
            sha256 = base64.b64encode(bytes.fromhex(checksums.sha256)).decode()
            self._create(name, checksums, lambda **condition: self.client.put_object(
                Bucket=self.bucket, Key=name, Body=first, ChecksumSHA256=sha256, **condition))
        else:
            checksums = self._put_multipart(key, name, writer, first, itertools.chain([second], parts))
        return BlobInfo(key, checksums.size_bytes, checksums.sha256)

    def _put_multipart(self, key: str, name: str, writer: ChecksumWriter, first: bytes, rest: Iterator[bytes]) -> ChunkChecksums:
        """Upload ``first`` (which ``writer`` has seen) and ``rest`` as the parts of one multipart upload."""
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        done = False
        try:
            uploaded = []
            for number, part in enumerate(itertools.chain([first], rest), start=1):
                if number > 1:
                    writer.update(part)
                answer = self.client.upload_part(Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number,
                                                 Body=part)
                uploaded.append({"ETag": answer["ETag"], "PartNumber": number})
            checksums = writer.result()
            self.put_checksums(key, checksums)
            done = self._create(name, checksums, lambda **condition: self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": uploaded}, **condition))
            return checksums
        finally:
            if not done:
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
                except ClientError:
                    pass  # purge_incoming aborts it later

    def _create(self, name: str, checksums: ChunkChecksums, write) -> bool:
        """Run ``write`` conditionally (the object must not exist); when it exists and holds other bytes than
        ``checksums`` say, run it again unconditionally. Return whether ``write`` stored the object."""
        try:
            write(IfNoneMatch="*")
            return True
        except ClientError as error:
            if error_code(error) not in CONFLICT | _UNSUPPORTED:
                raise
        if self._holds_bytes(name, checksums):
            return False
        write()
        return True

    def _holds_bytes(self, name: str, checksums: ChunkChecksums) -> bool:
        """Whether the object ``name`` holds exactly the bytes ``checksums`` describe (read and compared)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as error:
            if error_code(error) in MISSING:
                return False
            raise
        if head["ContentLength"] != checksums.size_bytes:
            return False
        with S3Reader(self.client, self.bucket, name, checksums.size_bytes, head["ETag"]) as stored:
            for expected in checksums.chunk_sha256:
                if hashlib.sha256(stored.read(checksums.chunk_bytes)).hexdigest() != expected:
                    return False
        return True

    def put_checksums(self, key: str, checksums: ChunkChecksums) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._checksums_name(key), Body=json.dumps(checksums.as_json()).encode(),
                               ContentType="application/json")

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(check_key(key)))
        self.client.delete_object(Bucket=self.bucket, Key=self._checksums_name(key))

    def purge_incoming(self, older_than_s: float = 3600.0) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        removed = 0
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self._name("")):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                    removed += 1
        return removed

    # reading

    def open(self, key: str) -> BinaryIO:
        name = self._name(check_key(key))
        head = self._head(key, name)
        return S3Reader(self.client, self.bucket, name, head["ContentLength"], head["ETag"])

    def size(self, key: str) -> int:
        return self._head(key, self._name(check_key(key)))["ContentLength"]

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def _head(self, key: str, name: str) -> dict:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as error:
            if error_code(error) in MISSING:
                raise BlobNotFound(key) from None
            raise

    def checksums(self, key: str) -> ChunkChecksums:
        try:
            document = self.client.get_object(Bucket=self.bucket, Key=self._checksums_name(key))["Body"].read()
        except ClientError as error:
            if error_code(error) not in MISSING:
                raise
            if not self.exists(key):
                raise BlobNotFound(key) from None
            raise ChecksumsMissing(key) from None
        try:
            return ChunkChecksums.from_json(json.loads(document))
        except (ValueError, KeyError, TypeError) as error:
            raise BlobDamaged(key, f"its checksum record {self._checksums_name(key)} is unreadable ({error})") from None

    def keys(self, prefix: str) -> list[str]:
        directory = prefix.rpartition("/")[0]
        if directory:
            check_key(directory)
        found = []
        strip = len(self._name(""))
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._name(prefix),
                                                                           Delimiter="/"):
            found += [item["Key"][strip:] for item in page.get("Contents", [])]
        return sorted(key for key in found if not key.rpartition("/")[2].startswith("."))

    def holds(self, prefix: str) -> bool:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._name(prefix), MaxKeys=1)
        return bool(listed.get("Contents"))

    def read_note(self, name: str) -> str | None:
        """The note's text, or None. The first use of a store at start: BlobStoreUnavailable says what is wrong."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._note_name(name))["Body"].read().decode()
        except ClientError as error:
            if error_code(error) in MISSING:
                return None
            raise self._unavailable(error) from None
        except BotoCoreError as error:
            raise self._unavailable(error) from None

    def create_note(self, name: str, text: str) -> str:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._note_name(name), Body=text.encode(), IfNoneMatch="*")
        except ClientError as error:
            if error_code(error) not in CONFLICT | _UNSUPPORTED:
                raise self._unavailable(error) from None
            existing = self.read_note(name)
            if existing is not None:
                return existing
            self.client.put_object(Bucket=self.bucket, Key=self._note_name(name), Body=text.encode())
        except BotoCoreError as error:
            raise self._unavailable(error) from None
        return text

    def replace_note(self, name: str, text: str) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._note_name(name), Body=text.encode())
        except (ClientError, BotoCoreError) as error:
            raise self._unavailable(error) from None

    def _unavailable(self, error: Exception) -> BlobStoreUnavailable:
        endpoint = self.client.meta.endpoint_url
        if isinstance(error, ClientError) and error_code(error) == "NoSuchBucket":
            return BlobStoreUnavailable(f"the blob store {self} at {endpoint}: the bucket {self.bucket} does not exist")
        return BlobStoreUnavailable(f"the blob store {self} at {endpoint} cannot be used: {error}")

    def _note_name(self, name: str) -> str:
        if not re.fullmatch(r"\.[A-Za-z0-9_-]+", name) or name == ".checksums":
            raise ValueError(f"note name {name!r} must be '.' and [A-Za-z0-9_-] characters, not a folder of the store")
        return self._name(name)

    def presigned_url(self, key: str, *, expires_s: int, media_type: str, download_name: str | None = None) -> str:
        """A URL that GETs the blob (Range allowed) without credentials for ``expires_s`` seconds, answered with
        ``media_type`` and, given a ``download_name``, ``Content-Disposition: inline; filename=...``."""
        params = {"Bucket": self.bucket, "Key": self._name(check_key(key)), "ResponseContentType": media_type}
        if download_name is not None:
            params["ResponseContentDisposition"] = f'inline; filename="{download_name}"'
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)


def _parts(chunks: Iterable[bytes | memoryview], part_bytes: int) -> Iterator[bytes]:
    """The concatenated ``chunks`` in pieces of ``part_bytes`` (the last one shorter; one empty piece for no bytes)."""
    buffer = bytearray()
    given = False
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        while len(view):
            n = min(len(view), part_bytes - len(buffer))
            buffer += view[:n]
            view = view[n:]
            if len(buffer) == part_bytes:
                yield bytes(buffer)
                given = True
                buffer.clear()
    if buffer or not given:
        yield bytes(buffer)

