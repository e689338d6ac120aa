"""``make bench``: generate the synthetic input once, then run each benchmark in its own process.

The sample storage and HMD benchmarks run pinned to one CPU (their goals are per core); the pipeline pins
itself to one CPU and to all of them in turn; the PSD and HTTP benchmarks may use every CPU of this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import generate_input, machine

BENCHMARKS = (("bench_psd", False), ("bench_hmd", True), ("bench_pipeline", False), ("bench_storage", True), ("bench_reprocess", True),
              ("bench_http", False), ("bench_workers", False), ("bench_s3", False), ("bench_soundscape", False),
              ("bench_overview", False), ("bench_cli", False))


def run(module: str, data_dir: Path, one_cpu: bool) -> None:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # as the hydroserve command runs (its threads are its own)
    cpus = sorted(os.sched_getaffinity(0))
    pin = None
    if one_cpu:
        pin = lambda: os.sched_setaffinity(0, {cpus[-1]})  # noqa: E731
    subprocess.run([sys.executable, "-m", f"tests.benchmarks.{module}", str(data_dir)], env=env, preexec_fn=pin, check=True)


def main(selected: list[str]) -> None:
    started = time.perf_counter()
    print(f"machine: {machine()}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="hydroserve-bench-") as tmp:
        data_dir = Path(tmp)
        generated = time.perf_counter()
        generate_input(data_dir)
        print(f"input: 300 s of the synthetic sensor generated in {time.perf_counter() - generated:.1f} s\n", flush=True)
        for module, one_cpu in BENCHMARKS:
            if not selected or module in selected:
                run(module, data_dir, one_cpu)
                print(flush=True)
    print(f"all benchmarks: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
