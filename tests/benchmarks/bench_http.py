"""HTTP under a real gunicorn on loopback: /psd vs /healthz requests per second, /wav download throughput.

The archive holds the 300 s package made by the real ingest (its samples are 24-bit counts: stored as FLAC, so
/wav is decoded as it is sent). ``hydroserve
serve`` runs with its defaults (2 gevent workers, access log on;
``HYDROSERVE_WORKER_CLASS=gthread`` for the threaded ones); the load comes from :mod:`.loadgen` in another process, for a fixed
time per run, runs interleaved. Both share the machine's CPUs with the
server. Server memory is the summed resident size of the gunicorn master
and workers, sampled every 50 ms. The reference for /wav is the loopback
ceiling: the package's float32 samples (as many bytes) sent with
``os.sendfile`` by a bare threaded server to the same clients.

Usage: ``python -m tests.benchmarks.bench_http DATA_DIR``.
"""

from __future__ import annotations

import json
import os
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import requests

from hydroserve.api import wiring
from hydroserve.api.config import load_settings
from hydroserve.codecs import raw_decoder

from ..support import start_server
from .common import MB, SENSOR, load_frames, machine, snippet_samples, table, write_adf_files

REPEAT = 3
REQUEST_SECONDS = 4.0
REQUEST_CONNECTIONS = 8
DOWNLOAD_REPEAT = 2
DOWNLOAD_SECONDS = 5.0
DOWNLOAD_CLIENTS = 16


def archive_one_package(data_dir: Path, frames) -> str:
    settings = load_settings(env={}, data_dir=str(data_dir))
    engine = wiring.init_catalog(settings)
    ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=0)
    for path in write_adf_files(frames, data_dir.parent / "adf"):
        ingestor.feed(SENSOR, raw_decoder.read_file(path, frame_length=settings.adf_frame_length))
    ingestor.flush()
    engine.dispose()
    (package_id,) = ingestor.report.packages_made
    return package_id


class ServerMemory:
    """Peak summed VmRSS of a process and its children, sampled in a thread between :meth:`reset` calls."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _rss_kb(self, pid: int) -> int:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            return 0
        own = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        return own + sum(self._rss_kb(int(child)) for child in children)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, self._rss_kb(self.pid))

    def reset(self) -> float:
        """Peak in MB since the last reset."""
        peak, self.peak_kb = self.peak_kb * 1024 / MB, 0
        return peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class _SendfileHandler(socketserver.StreamRequestHandler):
    """Answers every GET of a keep-alive connection with the whole file, by ``os.sendfile``."""

    def handle(self) -> None:
        try:
            self._serve(self.server.path)
        except OSError:  # the client stopped at its deadline
            return

    def _serve(self, path: Path) -> None:
        size = path.stat().st_size
        with path.open("rb") as stored:
            while self.rfile.readline():  # request line
                while self.rfile.readline() not in (b"\r\n", b""):  # headers
                    pass
                self.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
                offset = 0
                while offset < size:
                    offset += os.sendfile(self.connection.fileno(), stored.fileno(), offset, size - offset)


class SendfileServer(socketserver.ThreadingTCPServer):
    """The loopback ceiling for downloads: no framework, the kernel copies the file."""

    daemon_threads = True

    def __init__(self, path: Path):
        super().__init__(("127.0.0.1", 0), _SendfileHandler)
        self.path = path
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


def load(url: str, connections: int, seconds: float) -> dict:
    output = subprocess.run([sys.executable, "-m", "tests.benchmarks.loadgen", url, str(connections), str(seconds)],
                            capture_output=True, text=True, check=True).stdout
    result = json.loads(output)
    if result["failures"]:
        raise RuntimeError(f"{url}: {result['failures']} responses were not 200")
    return result


def start_hydroserve(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """``hydroserve serve`` with its defaults over the archive in ``data_dir``."""
    env = {**os.environ, "HYDROSERVE_DATA_DIR": str(data_dir), "HYDROSERVE_LOG_LEVEL": "WARNING"}
    return start_server(env, log_path, ready_within_s=60)


def main(data_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="http-", dir=data_dir) as tmp:
        archive_dir = Path(tmp) / "data"
        package_id = archive_one_package(archive_dir, load_frames(data_dir))
        server, url = start_hydroserve(archive_dir, Path(tmp) / "gunicorn.log")
        try:
            memory = ServerMemory(server.pid)
            package = f"{url}/api/v1/packages/{package_id}"
            psd_document = requests.get(f"{package}/psd", timeout=30)
            wav_bytes = int(requests.head(f"{package}/wav", timeout=30).headers["Content-Length"])
            if psd_document.status_code != 200 or len(psd_document.json()["median"]) != 4097 or wav_bytes < 234e6:
                raise RuntimeError("the archive does not serve the expected products")
            rates = {"healthz": [], "psd": []}
            peaks = {"healthz": 0.0, "psd": 0.0, "wav": 0.0}
            endpoints = {"healthz": f"{url}/healthz", "psd": f"{package}/psd"}
            memory.reset()
            for _ in range(REPEAT):
                for name, endpoint in endpoints.items():
                    result = load(endpoint, REQUEST_CONNECTIONS, REQUEST_SECONDS)
                    rates[name].append(result["responses"] / result["elapsed_s"])
                    peaks[name] = max(peaks[name], memory.reset())
            throughputs, ceilings = [], []
            samples_file = Path(tmp) / "samples.f32"  # the package's float32 samples, as many bytes as its WAV's data
            samples_file.write_bytes(snippet_samples(load_frames(data_dir)).tobytes())
            ceiling = SendfileServer(samples_file)
            for _ in range(DOWNLOAD_REPEAT):
                result = load(ceiling.url, DOWNLOAD_CLIENTS, DOWNLOAD_SECONDS)
                ceilings.append(result["bytes"] / MB / result["elapsed_s"])
                memory.reset()
                result = load(f"{package}/wav", DOWNLOAD_CLIENTS, DOWNLOAD_SECONDS)
                throughputs.append(result["bytes"] / MB / result["elapsed_s"])
                peaks["wav"] = max(peaks["wav"], memory.reset())
            ceiling.shutdown()
            memory.stop()
        finally:
            server.terminate()
            server.wait(timeout=30)
    healthz, psd_rate = statistics.median(rates["healthz"]), statistics.median(rates["psd"])
    rows = [
        [f"/psd ({len(psd_document.content) / 1e3:.0f} kB JSON), {REQUEST_CONNECTIONS} keep-alive clients (reference: /healthz)",
         f"{healthz:.0f} req/s", f"{psd_rate:.0f} req/s", f"{100 * psd_rate / healthz:.0f} %",
         f"{max(peaks['healthz'], peaks['psd']):.0f} MB",
         f"{100 * (max(rates['psd']) - min(rates['psd'])) / psd_rate:.0f} %"],
        [f"/wav of the 300 s package ({wav_bytes / MB:.0f} MB), {DOWNLOAD_CLIENTS} clients (reference: os.sendfile ceiling)",
         f"{statistics.median(ceilings):.0f} MB/s", f"{statistics.median(throughputs):.0f} MB/s",
         f"{100 * statistics.median(throughputs) / statistics.median(ceilings):.0f} %", f"{peaks['wav']:.0f} MB",
         f"{100 * (max(throughputs) - min(throughputs)) / statistics.median(throughputs):.0f} %"],
    ]
    print(table(
        f"HTTP, gunicorn {os.environ.get('HYDROSERVE_WORKER_CLASS', 'gevent')} workers (2) on loopback; median of {REPEAT} (req/s, {REQUEST_SECONDS:g} s each) "
        f"and {DOWNLOAD_REPEAT} ({DOWNLOAD_SECONDS:g} s) interleaved runs",
        ["case", "reference", "ours", "ratio", "peak server memory", "spread"], rows,
    ))
    print(f"\nmachine: {machine()}; the load generator runs on the same CPUs")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
