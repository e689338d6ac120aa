"""The S3 blob store on moto's server (loopback): storing and reading back, checked, one 300 s samples blob (234 MB).

Each case is compared with boto3's own transfer manager on the same server
in the same run (``upload_fileobj`` / ``download_fileobj``, 8 MiB parts on
10 threads): ours stores with 64 MiB parts one after the other, computing
the chunk checksums, and reads through the checks of every 1 MiB chunk
(:class:`~hydroserve.acoustics.integrity.VerifiedBlob`). The local folder
store (fsync on) is shown for scale. moto is a Python server sharing the
machine's CPUs with the client: the figures are of this set-up, not of a
real object store.

Usage: ``python -m tests.benchmarks.bench_s3 DATA_DIR``.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.acoustics.integrity import VerifiedBlob
from hydroserve.acoustics.s3store import S3BlobStore

from .. import s3_server
from ..support import free_port
from .common import MB, load_frames, measure, ratio, seconds, snippet_samples, table

REPEAT = 3


class _Sink(io.RawIOBase):
    """Counts the bytes written to it (a download's destination that keeps nothing)."""

    size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)


def main(data_dir: Path) -> None:
    data = memoryview(snippet_samples(load_frames(data_dir)).tobytes())
    with tempfile.TemporaryDirectory(prefix="hydroserve-bench-s3-") as tmp:
        os.environ.update(s3_server.environment(Path(tmp)))
        server = s3_server.start(Path(tmp) / "moto.log", free_port())
        try:
            bucket = server.new_bucket()
            store = S3BlobStore(f"s3://{bucket}/bench", endpoint_url=server.endpoint_url)
            local = LocalBlobStore(Path(tmp) / "blobs")
            client = store.client

            def put_ours():
                store.delete("samples.f32")  # a new object each time (a put of identical bytes writes nothing)
                return store.put("samples.f32", [data])

            def read_checked(blobs):
                def run():
                    blob = VerifiedBlob(blobs.open("samples.f32"), blobs.checksums("samples.f32"), "samples.f32")
                    with blob:
                        blob.verify_all()
                    return blob.size_bytes
                return run

            def download_boto3():
                sink = _Sink()
                client.download_fileobj(bucket, "reference.f32", sink)
                return sink.size

            writes = measure({
                "boto3 upload_fileobj": lambda: client.upload_fileobj(io.BytesIO(data), bucket, "reference.f32"),
                "S3BlobStore.put": put_ours,
                "LocalBlobStore.put": lambda: local.put("samples.f32", [data]),
            }, REPEAT)
            reads = measure({
                "boto3 download_fileobj": download_boto3,
                "S3BlobStore, every chunk checked": read_checked(store),
                "LocalBlobStore, every chunk checked": read_checked(local),
            }, REPEAT)
        finally:
            server.stop()
    size_mb = len(data) / MB
    for title, results in (("Store one 234 MB samples blob", writes), ("Read it back", reads)):
        reference = next(iter(results.values())).median_s
        rows = [[name, seconds(m.median_s), f"{size_mb / m.median_s:.0f} MB/s", ratio(reference, m.median_s),
                 f"{m.peak_mb:.0f} MB"] for name, m in results.items()]
        print(table(f"{title} (moto on loopback; median of {REPEAT})", ["case", "time", "throughput", "vs boto3", "extra memory"],
                    rows), end="\n\n", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
