"""HTTP under a real gunicorn on loopback: /psd vs /healthz requests per second, /wav download throughput.

The archive holds the 300 s package made by the real ingest (its samples are 24-bit counts: stored as FLAC). Two
``hydroserve serve`` run over it with their defaults (2 workers, access log on, a view cache in the data directory):
one with the default gevent workers, one with ``worker_class = "gthread"``, to price the worker model. The load comes
from :mod:`.loadgen` in another process, for a fixed time per run; every case runs ``REPEAT`` times, interleaved with
its reference, after one untimed warm-up round (each worker's first use of the cached view hashes it). Both share the
machine's CPUs with the servers.

/psd is asked for as HTTP libraries and browsers ask (``Accept-Encoding: gzip``: the goal's row) and without it. The
reference for /wav is the loopback ceiling: the package's float32 samples (as many bytes) sent with ``os.sendfile``
by a bare threaded server to the same clients. The first /wav request (view cache empty: decoded from the FLAC store
as it is sent, and cached) and the second (sent from the cache) are timed alone, before the runs. Server memory is
the summed resident size of the gunicorn master and workers, sampled every 50 ms.

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
import time
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
DOWNLOAD_SECONDS = 5.0
DOWNLOAD_CLIENTS = 16
WARM_UP_SECONDS = 1.0
GOAL = 0.9  # of the reference: /psd of /healthz, /wav of the sendfile ceiling
WORKER_MODEL_COST = 0.1  # most the default worker class may lose against the other on either figure
WORKER_CLASSES = ("gevent", "gthread")


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


def load(url: str, connections: int, seconds: float, accept_encoding: str | None = None) -> dict:
    command = [sys.executable, "-m", "tests.benchmarks.loadgen", url, str(connections), str(seconds)]
    output = subprocess.run(command + ([accept_encoding] if accept_encoding else []), capture_output=True, text=True,
                            check=True).stdout
    result = json.loads(output)
    if result["failures"]:
        raise RuntimeError(f"{url}: {result['failures']} responses were not 200")
    return result


def start_hydroserve(data_dir: Path, log_path: Path, worker_class: str) -> tuple[subprocess.Popen, str]:
    """``hydroserve serve`` with its defaults over the archive in ``data_dir``, but ``worker_class``."""
    env = {**os.environ, "HYDROSERVE_DATA_DIR": str(data_dir), "HYDROSERVE_LOG_LEVEL": "WARNING",
           "HYDROSERVE_WORKER_CLASS": worker_class}
    return start_server(env, log_path, ready_within_s=60)


def timed_get(url: str) -> tuple[float, int]:
    """Seconds to GET ``url`` whole (one client), and its bytes."""
    started = time.perf_counter()
    with requests.get(url, stream=True, timeout=120) as response:
        response.raise_for_status()
        size = sum(len(chunk) for chunk in response.iter_content(1 << 20))
    return time.perf_counter() - started, size


def rate(result: dict, unit: str) -> float:
    return (result["responses"] if unit == "req/s" else result["bytes"] / MB) / result["elapsed_s"]


class Case:
    """One measured figure: a URL loaded by ``clients`` for ``seconds`` per run, in requests or MB per second."""

    def __init__(self, url: str, clients: int, seconds: float, unit: str, accept_encoding: str | None = None):
        self.url, self.clients, self.seconds, self.unit, self.accept_encoding = url, clients, seconds, unit, accept_encoding
        self.rates: list[float] = []

    def run(self, seconds: float | None = None) -> float:
        return rate(load(self.url, self.clients, seconds or self.seconds, self.accept_encoding), self.unit)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> str:
        return f"{100 * (max(self.rates) - min(self.rates)) / self.median:.0f} %"


def measure(cases: dict[str, Case], memory: dict[str, ServerMemory]) -> dict[str, float]:
    """Warm every case up once, then run them all ``REPEAT`` times, interleaved; the peak server memory (MB) per case."""
    for case in cases.values():
        case.run(WARM_UP_SECONDS)
    peaks = dict.fromkeys(cases, 0.0)
    for _ in range(REPEAT):
        for name, case in cases.items():
            server = next((worker_class for worker_class in memory if name.endswith(worker_class)), None)
            if server is not None:
                memory[server].reset()
            case.rates.append(case.run())
            if server is not None:
                peaks[name] = max(peaks[name], memory[server].reset())
    return peaks


def met(value: float, goal: float) -> str:
    return "yes" if value >= goal else "no"


def main(data_dir: Path) -> None:
    load_before = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="http-", dir=data_dir) as tmp:
        archive_dir = Path(tmp) / "data"
        package_id = archive_one_package(archive_dir, load_frames(data_dir))
        servers = {worker_class: start_hydroserve(archive_dir, Path(tmp) / f"{worker_class}.log", worker_class)
                   for worker_class in WORKER_CLASSES}
        try:
            memory = {worker_class: ServerMemory(server.pid) for worker_class, (server, _) in servers.items()}
            urls = {worker_class: url for worker_class, (_, url) in servers.items()}
            package = f"{urls['gevent']}/api/v1/packages/{package_id}"
            psd_document = requests.get(f"{package}/psd", timeout=30, headers={"Accept-Encoding": "identity"})
            psd_gzip = requests.get(f"{package}/psd", timeout=30, stream=True)
            psd_gzip_bytes = len(psd_gzip.raw.read())
            wav_bytes = int(requests.head(f"{package}/wav", timeout=30).headers["Content-Length"])
            if psd_document.status_code != 200 or len(psd_document.json()["median"]) != 4097 or wav_bytes < 234e6:
                raise RuntimeError("the archive does not serve the expected products")
            if psd_gzip.headers.get("Content-Encoding") != "gzip":
                raise RuntimeError("/psd is not gzipped for a client that accepts gzip")
            first_s, first_bytes = timed_get(f"{package}/wav")  # view cache empty: decoded from FLAC as it is sent
            second_s, second_bytes = timed_get(f"{package}/wav")
            if first_bytes != wav_bytes or second_bytes != wav_bytes:
                raise RuntimeError("/wav did not arrive whole")
            samples_file = Path(tmp) / "samples.f32"  # the package's float32 samples, as many bytes as its WAV's data
            samples_file.write_bytes(snippet_samples(load_frames(data_dir)).tobytes())
            ceiling = SendfileServer(samples_file)
            cases = {"ceiling": Case(ceiling.url, DOWNLOAD_CLIENTS, DOWNLOAD_SECONDS, "MB/s")}
            for worker_class, url in urls.items():
                package = f"{url}/api/v1/packages/{package_id}"
                cases |= {
                    f"healthz {worker_class}": Case(f"{url}/healthz", REQUEST_CONNECTIONS, REQUEST_SECONDS, "req/s"),
                    f"psd gzip {worker_class}": Case(f"{package}/psd", REQUEST_CONNECTIONS, REQUEST_SECONDS, "req/s", "gzip"),
                    f"psd {worker_class}": Case(f"{package}/psd", REQUEST_CONNECTIONS, REQUEST_SECONDS, "req/s"),
                    f"wav {worker_class}": Case(f"{package}/wav", DOWNLOAD_CLIENTS, DOWNLOAD_SECONDS, "MB/s"),
                }
            peaks = measure(cases, memory)
            ceiling.shutdown()
            for server_memory in memory.values():
                server_memory.stop()
        finally:
            for server, _ in servers.values():
                server.terminate()
                server.wait(timeout=30)
    print(report(cases, peaks, psd_sizes=(len(psd_document.content), psd_gzip_bytes), wav_bytes=wav_bytes,
                 first=(first_s, second_s), load_before=load_before))


def report(cases: dict[str, Case], peaks: dict[str, float], *, psd_sizes: tuple[int, int], wav_bytes: int,
           first: tuple[float, float], load_before: str) -> str:
    ratios = {}
    rows = []
    for worker_class in WORKER_CLASSES:
        for name, reference, label in (
                (f"psd gzip {worker_class}", f"healthz {worker_class}",
                 f"/psd ({psd_sizes[1] / 1e3:.0f} kB gzipped), {REQUEST_CONNECTIONS} clients accepting gzip; reference /healthz"),
                (f"psd {worker_class}", f"healthz {worker_class}",
                 f"/psd ({psd_sizes[0] / 1e3:.0f} kB JSON), {REQUEST_CONNECTIONS} clients without Accept-Encoding"),
                (f"wav {worker_class}", "ceiling",
                 f"/wav of the 300 s package ({wav_bytes / MB:.0f} MB, FLAC-stored, from the view cache), "
                 f"{DOWNLOAD_CLIENTS} clients; reference os.sendfile ceiling")):
            ratios[name] = cases[name].median / cases[reference].median
            goal = f"{GOAL:.0%}: met {met(ratios[name], GOAL)}" if worker_class == "gevent" and name != "psd gevent" else ""
            rows.append([f"{worker_class}: {label}", f"{cases[reference].median:.0f} {cases[reference].unit}",
                         f"{cases[name].median:.0f} {cases[name].unit}", f"{100 * ratios[name]:.0f} %", goal,
                         f"{peaks[name]:.0f} MB", f"{cases[reference].spread} / {cases[name].spread}"])
    for figure in ("psd gzip", "wav"):
        ratio_cost = 1 - ratios[f"{figure} gevent"] / ratios[f"{figure} gthread"]
        rate_cost = 1 - cases[f"{figure} gevent"].median / cases[f"{figure} gthread"].median
        worst = max(ratio_cost, rate_cost)
        rows.append([f"worker model: gevent against gthread, {'/psd' if figure == 'psd gzip' else '/wav'} (its ratio; "
                     f"its {cases[f'{figure} gevent'].unit})", f"gthread {cases[f'{figure} gthread'].median:.0f}",
                     f"gevent {cases[f'{figure} gevent'].median:.0f}",
                     f"costs {100 * ratio_cost:.0f} %; {100 * rate_cost:.0f} %",
                     f"<= {WORKER_MODEL_COST:.0%}: met {met(-worst, -WORKER_MODEL_COST)}", "", ""])
    title = (f"HTTP, gunicorn 2 workers per server on loopback, `hydroserve serve` defaults (gevent) and gthread; "
             f"median of {REPEAT} interleaved runs ({REQUEST_SECONDS:g} s per request-rate run, {DOWNLOAD_SECONDS:g} s per "
             f"download run) after a warm-up round")
    text = table(title, ["case", "reference", "ours", "ratio", "goal", "peak server memory", "spread (ref / ours)"], rows)
    return (f"{text}\n\n/wav alone, one client: first request (view cache empty, decoded from the FLAC store as it is sent "
            f"and cached) {first[0]:.2f} s = {wav_bytes / MB / first[0]:.0f} MB/s; second (from the cache; this worker "
            f"checks the file's SHA-256 first unless it wrote it) {first[1]:.2f} s = {wav_bytes / MB / first[1]:.0f} MB/s"
            f"\n\nmachine load average before the run: {load_before}\nmachine: {machine()}; the load generator runs on "
            "the same CPUs")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
