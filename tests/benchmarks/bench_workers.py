"""Ingest scaling: archive throughput of 1 and 2 ``hydroserve ingest`` workers on one PostgreSQL catalog.

Each run starts the workers (real processes, each pinned to its own CPU) on a
fresh catalog and data directory with an empty spool, waits until every
worker is registered, then puts ADF files of ``N_SENSORS`` sensors into the
spool at once and measures the wall time until every window is in the
catalog. 1-worker and 2-worker runs alternate, ``REPEAT`` times. The
throughput is seconds of sensor data archived per second (and per CPU second of the workers, which a
machine shared with other work does not distort); the sizing table
for the full detector is derived from the measured figures (sensors per core,
cores, catalog rows per package counted in the catalog).

The PostgreSQL server is ``HYDROSERVE_TEST_DATABASE_URL`` or a throwaway one,
as for the tests (``tests/postgres_server.py``).

Usage: ``python -m tests.benchmarks.bench_workers DATA_DIR``.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hydroserve.api import wiring
from hydroserve.api.config import load_settings, settings_env
from hydroserve.codecs import raw

from .common import FIRST_FRAME_TICK, load_frames, machine, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PostgreSQL finder
import postgres_server

REPEAT = 3
N_SENSORS = 8
PACKAGE_S = 30
N_PACKAGES = 3  # per sensor, after one skipped window (the data start 0.122 s before a boundary)
N_FRAMES = math.ceil((N_PACKAGES * PACKAGE_S + 0.122) * float(raw.SAMPLE_RATE_HZ) / raw.DEFAULT_FRAME_LENGTH) + 1
DETECTOR_SENSORS = 6555
DAY_S = 86_400


def write_input(frames: np.ndarray, directory: Path) -> list[Path]:
    """``N_SENSORS`` sensors with the benchmark's samples, 16 frames per file, as the DAQ writes them."""
    directory.mkdir(parents=True)
    samples = frames[: N_FRAMES * raw.DEFAULT_FRAME_LENGTH].reshape(N_FRAMES, raw.DEFAULT_FRAME_LENGTH)
    ticks = FIRST_FRAME_TICK + np.arange(N_FRAMES, dtype=np.int64) * raw.DEFAULT_FRAME_LENGTH * raw.TICKS_PER_SAMPLE
    paths = []
    for index in range(N_SENSORS):
        sensor = raw.SensorId(808900000 + index, 1)
        for first in range(0, N_FRAMES, 16):
            chunk = slice(first, first + 16)
            path = directory / str(raw.RawFileName(sensor, int(ticks[first]) // raw.TICKS_PER_SECOND))
            path.write_bytes(raw.encode(ticks[chunk], samples[chunk]))
            paths.append(path)
    return paths


def count(conn, query: str) -> int:
    """One count on the run's own connection: the polls below open no connection each (a PostgreSQL backend forked
    every 20 ms, on the cores the workers share, was the measurement's own load)."""
    value = conn.execute(text(query)).scalar()
    conn.rollback()  # each poll sees the newest commits
    return value


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(server, inputs: list[Path], work_dir: Path, n_workers: int) -> tuple[float, float, float]:
    """One run; returns the wall seconds from the files' arrival to the last window committed, the CPU seconds the
    workers spent meanwhile, and the catalog rows per package."""
    url = server.create_database()
    settings = load_settings(env={}, data_dir=str(work_dir / f"data-{n_workers}-{time.monotonic_ns()}"), database_url=url,
                             snippet_duration_s=str(PACKAGE_S), snippet_interval_s=PACKAGE_S, spool_settle_s=0,
                             poll_interval_s=0.1, log_level="WARNING")
    wiring.init_catalog(settings).dispose()
    settings.spool_dir.mkdir(parents=True)
    env = {**os.environ, **settings_env(settings), "OPENBLAS_NUM_THREADS": "1"}
    cpus = sorted(os.sched_getaffinity(0))
    workers = []
    for slot in range(n_workers):
        workers.append(subprocess.Popen([sys.executable, "-m", "hydroserve.api.cli", "ingest"], env=env))
        os.sched_setaffinity(workers[-1].pid, {cpus[-1 - slot % len(cpus)]})  # its only busy thread (one BLAS thread)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + 120
            while count(conn, "SELECT count(*) FROM ingest_workers") < n_workers:
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    raise RuntimeError("the workers did not start")
                time.sleep(0.05)
            started, cpu_before = time.perf_counter(), sum(cpu_s(w.pid) for w in workers)
            for path in inputs:
                os.link(path, settings.spool_dir / path.name)
            expected = N_SENSORS * (N_PACKAGES + 1)
            while count(conn, "SELECT (SELECT count(*) FROM packages) + (SELECT count(*) FROM skipped_windows)") < expected:
                if any(w.poll() is not None for w in workers):
                    raise RuntimeError("a worker died")
                time.sleep(0.02)
            elapsed, cpu = time.perf_counter() - started, sum(cpu_s(w.pid) for w in workers) - cpu_before
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    with engine.connect() as conn:
        rows = count(conn, "SELECT (SELECT count(*) FROM packages) + (SELECT count(*) FROM products) + "
                           "(SELECT count(*) FROM resources WHERE subject_id IS NOT NULL) + (SELECT count(*) FROM outbox)")
    engine.dispose()
    server.drop_database(url)
    return elapsed, cpu, rows / (N_SENSORS * N_PACKAGES)


def spread(values: list[float]) -> str:
    return f"{100 * (max(values) - min(values)) / statistics.median(values):.0f} %"


def main(data_dir: Path) -> None:
    try:
        server = postgres_server.find_server()
    except postgres_server.PostgresUnavailable as error:
        print(f"**Ingest scaling**: not measured: {error}")
        return
    data_s = N_SENSORS * N_PACKAGES * PACKAGE_S
    with tempfile.TemporaryDirectory(prefix="workers-", dir=data_dir) as tmp:
        work_dir = Path(tmp)
        inputs = write_input(load_frames(data_dir), work_dir / "adf")
        times: dict[int, list[float]] = {1: [], 2: []}
        cpu_times: dict[int, list[float]] = {1: [], 2: []}
        rows_per_package = []
        for _ in range(REPEAT):
            for n_workers in (1, 2):
                elapsed, cpu, rows = run(server, inputs, work_dir, n_workers)
                times[n_workers].append(elapsed)
                cpu_times[n_workers].append(cpu)
                rows_per_package.append(rows)
    server.stop()
    throughput = {n: [data_s / t for t in ts] for n, ts in times.items()}
    ratios = [t1 / t2 for t1, t2 in zip(times[1], times[2])]
    print(table(
        f"Ingest scaling on PostgreSQL: {N_SENSORS} sensors x {N_PACKAGES} packages of {PACKAGE_S} s, "
        f"median of {REPEAT} alternating runs",
        ["workers (1 CPU each)", "wall time", "throughput (s of data per s)", "spread", "CPU time (all workers)",
         "s of data per CPU s"],
        [[str(n), f"{statistics.median(times[n]):.2f} s", f"{statistics.median(throughput[n]):.0f}", spread(times[n]),
          f"{statistics.median(cpu_times[n]):.2f} s", f"{data_s / statistics.median(cpu_times[n]):.0f}"] for n in (1, 2)],
    ))
    ratio = statistics.median(ratios)
    print(f"\n2 workers / 1 worker: {ratio:.2f}x (goal >= 1.7x; per-run ratios "
          f"{', '.join(f'{r:.2f}' for r in ratios)}; spread {spread(ratios)})\n")
    # sensors per core: seconds of data one worker archives per CPU second (what one core does when it is not shared;
    # the wall-clock figures above also hold the machine's other load), times the 2-worker efficiency in CPU time
    per_core = data_s / statistics.median(cpu_times[1])
    efficiency = statistics.median(cpu_times[1]) / statistics.median(cpu_times[2])
    print(f"load average during the runs: {', '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs; "
          f"CPU time of 2 workers / 1 worker: {1 / efficiency:.2f} (coordination overhead)\n")
    rows = statistics.median(rows_per_package)
    sizing = []
    for label, duty in (("continuous (300 s every 300 s)", 1.0), ("one 300 s snippet per sensor per hour", 1 / 12)):
        packages_per_day = DETECTOR_SENSORS * DAY_S / 300 * duty
        cores = math.ceil(DETECTOR_SENSORS * duty / (per_core * efficiency))
        sizing.append([label, f"{per_core * efficiency / duty:.0f}", str(cores), f"{packages_per_day:,.0f}",
                       f"{packages_per_day * rows:,.0f}", f"{packages_per_day / DAY_S:.1f}"])
    print(table(
        f"Sizing for the full detector ({DETECTOR_SENSORS:,} sensors), from the figures above: sensors per core = "
        f"s of data per CPU s of one worker x CPU efficiency of 2 workers ({efficiency:.2f}); {rows:.0f} catalog rows "
        "per package",
        ["coverage", "sensors per core", "cores", "packages per day", "catalog rows per day", "commits per s"],
        sizing,
    ))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
