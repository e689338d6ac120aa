"""Reading one object of an S3-compatible store as a seekable file: ranged GETs (``Range: bytes=``).

Every GET is conditional on the object's ETag when it was opened
(``If-Match``): an object replaced while it is read fails the read instead of
mixing two versions. A sequential reader asks for ever larger ranges (twice
the previous, up to :data:`MAX_RANGE_BYTES`), so a short Range request costs
one small GET and a whole download a few large ones.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from .seekable import SizedReader

MAX_RANGE_BYTES = 64 << 20
MISSING = {"404", "NoSuchKey", "NotFound"}
CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict"}


def error_code(error: ClientError) -> str:
    """The S3 error code of a failed request (``NoSuchKey``, ``PreconditionFailed``, ``404``...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Reader(SizedReader):
    """A seekable, read-only file over one version of an object (ranged GETs with ``If-Match`` on its ETag).

    Parameters
    ----------
    client : botocore client
    bucket, name : str
        Where the object is.
    size_bytes : int
        Its size.
    etag : str
        Its ETag when it was opened.
    """

    def __init__(self, client, bucket: str, name: str, size_bytes: int, etag: str):
        self.client = client
        self.bucket = bucket
        self.name = name
        self._size = size_bytes
        self.etag = etag
        self.position = 0
        self._body = None  # the open GET, and where it stands
        self._body_position = -1
        self._body_end = -1
        self._next_range = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        stop = min(self.position + len(view), self._size)
        filled = 0
        while self.position < stop:
            if self._body is None or self._body_position != self.position or self._body_position >= self._body_end:
                self._get(stop - self.position)
            data = self._body.read(min(stop, self._body_end) - self.position)
            if not data:
                raise OSError(f"s3://{self.bucket}/{self.name}: the answer ended at byte {self.position} of {self._size}")
            view[filled : filled + len(data)] = data
            filled += len(data)
            self.position += len(data)
            self._body_position = self.position
        return filled

    def _get(self, wanted: int) -> None:
        """Open a GET from ``position``: twice the previous range when reading on, else what is ``wanted``."""
        sequential = self._body is not None and self._body_position == self.position
        self._release()
        length = min(max(wanted, 2 * self._next_range if sequential else wanted), max(wanted, MAX_RANGE_BYTES))
        end = min(self.position + length, self._size)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.name, Range=f"bytes={self.position}-{end - 1}",
                                            IfMatch=self.etag)
        except ClientError as error:
            if error_code(error) in CONFLICT | MISSING:
                raise OSError(f"s3://{self.bucket}/{self.name} was replaced or deleted while it was read") from None
            raise
        self._body, self._body_position, self._body_end, self._next_range = answer["Body"], self.position, end, end - self.position

    def _release(self) -> None:
        """Let go of the open GET: read to its end (its connection goes back to the pool), or closed mid-way."""
        if self._body is not None:
            if self._body_position >= self._body_end:
                self._body.read()
            else:
                self._body.close()
            self._body = None

    def close(self) -> None:
        self._release()
        super().close()
