"""``make load``: a bounded mixed load on a real gunicorn while ingest keeps running.

Setup: three synthetic sensors write ADF files into a spool directory in real
time (after back-filling five minutes); ``hydroserve ingest`` follows it the
whole time (10 s packages), ``hydroserve serve`` answers (its defaults: 2
gevent workers; ``HYDROSERVE_WORKER_CLASS=gthread`` compares the threaded ones). Load: ``LOAD_CONNECTIONS`` keep-alive clients (32)
for ``LOAD_SECONDS`` (60), each picking requests at random with fixed
weights: PSD polls (full and band), package listings, /info, whole WAV
downloads and Range reads of WAV and MP3 (what a player does when seeking).

Printed: per request kind the count, errors (anything but 200/206), rate,
p50/p99 latency and MB/s; the packages ingested during the run; the
gunicorn processes' resident memory in the first and the last ten seconds.
Exits 1 if any request failed.
"""

from __future__ import annotations

import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import requests

from hydroserve.codecs.raw import SensorId
from hydroserve.samples.live import LiveSpoolWriter
from hydroserve.samples.synthetic import SyntheticSensor

from .bench_http import ServerMemory, start_hydroserve
from .common import MB, machine, table

SECONDS = float(os.environ.get("LOAD_SECONDS", 60))
CONNECTIONS = int(os.environ.get("LOAD_CONNECTIONS", 32))
BACKFILL_S = 300
SENSORS = [SensorId(808956920, 1), SensorId(808974724, 1), SensorId(808432836, 0)]
MIX = {"psd": 35, "psd band": 10, "listing": 20, "info": 10, "wav": 5, "wav range": 10, "mp3 range": 10}
RANGE_BYTES = 64 * 1024


def environment(data_dir: Path) -> dict:
    return {**os.environ, "HYDROSERVE_DATA_DIR": str(data_dir), "HYDROSERVE_SNIPPET_DURATION_S": "10",
            "HYDROSERVE_SNIPPET_INTERVAL_S": "10", "HYDROSERVE_SPOOL_SETTLE_S": "5", "HYDROSERVE_POLL_INTERVAL_S": "0.5",
            "HYDROSERVE_LOG_LEVEL": "WARNING"}


def package_count(url: str) -> int:
    return sum(s["n_packages"] for s in requests.get(f"{url}/api/v1/sensors", timeout=10).json()["items"])


def packages(url: str) -> list[dict]:
    return requests.get(f"{url}/api/v1/packages?limit=1000", timeout=30).json()["items"]


def request_for(kind: str, package: dict, rng: random.Random) -> tuple[str, dict]:
    links, products = package["links"], package["products"]
    if kind == "psd":
        return links["psd"], {}
    if kind == "psd band":
        return links["psd"] + f"?fmin={rng.choice([10, 100, 1000])}&fmax={rng.choice([5000, 20000, 50000])}", {}
    if kind == "listing":
        return links["self"].rsplit("/", 1)[0] + f"?sensor={package['sensor']}&limit=20", {}
    if kind == "info":
        return links["info"], {}
    if kind == "wav":
        return links["wav"], {}
    product = "wav" if kind == "wav range" else "mp3"
    start = rng.randrange(0, max(1, products[product]["size_bytes"] - RANGE_BYTES))
    return links[product], {"Range": f"bytes={start}-{start + RANGE_BYTES - 1}"}


def client(url_packages: list[dict], seed: int, deadline: float, results: list) -> None:
    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    base = urlsplit(url_packages[0]["links"]["self"])
    connection = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
    buffer = memoryview(bytearray(1 << 20))
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        url, headers = request_for(kind, rng.choice(url_packages), rng)
        parts = urlsplit(url)
        started = time.perf_counter()
        try:
            connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
            response = connection.getresponse()
            received = 0
            while n := response.readinto(buffer):
                received += n
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            status, received = f"{type(error).__name__}", 0
            connection.close()
            connection = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
        results.append((kind, status, time.perf_counter() - started, received))
    connection.close()


def main() -> None:
    print(f"machine: {machine()}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="hydroserve-load-") as tmp:
        data_dir = Path(tmp)
        env = environment(data_dir)
        writer = LiveSpoolWriter(data_dir / "spool", [SyntheticSensor(s, seed=i) for i, s in enumerate(SENSORS)],
                                 backfill_s=BACKFILL_S)
        writer.write_due()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hydroserve.api.cli", "ingest", "--once"], env=env, check=True)
        print(f"archive: {BACKFILL_S} s of {len(SENSORS)} sensors ingested in {time.perf_counter() - started:.0f} s", flush=True)
        stop = threading.Event()
        daq = threading.Thread(target=writer.run, args=(stop,), daemon=True)
        daq.start()
        ingest = subprocess.Popen([sys.executable, "-m", "hydroserve.api.cli", "ingest"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = None
        try:
            server, url = start_hydroserve(data_dir, data_dir / "gunicorn.log")
            listed = packages(url)
            before = package_count(url)
            memory = ServerMemory(server.pid)
            results: list = []
            deadline = time.perf_counter() + SECONDS
            clients = [threading.Thread(target=client, args=(listed, seed, deadline, results)) for seed in range(CONNECTIONS)]
            memory_series = []
            for thread in clients:
                thread.start()
            while any(thread.is_alive() for thread in clients):
                time.sleep(10)
                memory_series.append(memory.reset())
            for thread in clients:
                thread.join()
            memory.stop()
            after = package_count(url)
        finally:
            stop.set()
            daq.join()
            for process in (server, ingest):
                if process is not None:
                    process.terminate()
                    process.wait(30)
    report(results, SECONDS, before, after, memory_series)


def report(results: list, seconds: float, before: int, after: int, memory_series: list[float]) -> None:
    by_kind = defaultdict(list)
    for kind, status, latency, received in results:
        by_kind[kind].append((status, latency, received))
    rows, errors = [], 0
    for kind in [*MIX, "all"]:
        entries = [e for k in MIX for e in by_kind[k]] if kind == "all" else by_kind[kind]
        if not entries:
            continue
        failed = sum(status not in (200, 206) for status, _, _ in entries)
        errors += failed if kind != "all" else 0
        latencies = sorted(latency for _, latency, _ in entries)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        rows.append([kind, str(len(entries)), str(failed), f"{len(entries) / seconds:.0f}",
                     f"{statistics.median(latencies) * 1000:.1f}", f"{p99 * 1000:.1f}",
                     f"{sum(r for _, _, r in entries) / MB / seconds:.1f}"])
    print(table(f"{CONNECTIONS} clients for {seconds:.0f} s while ingest runs",
                ["requests", "count", "errors", "per s", "p50 ms", "p99 ms", "MB/s"], rows))
    print(f"packages ingested during the run: {after - before} ({before} -> {after})")
    print("gunicorn resident memory, peak per 10 s: " + ", ".join(f"{m:.0f} MB" for m in memory_series))
    if memory_series:
        print(f"memory, first vs last 10 s: {memory_series[0]:.0f} MB -> {memory_series[-1]:.0f} MB")
    if errors:
        print(f"FAILED: {errors} requests did not succeed")
        sys.exit(1)


if __name__ == "__main__":
    main()
