"""The command line as a user runs it: start-up, and ``hydroserve import`` of one 300 s snippet as a black box.

*Start-up*: the wall time (and the CPU time) of ``hydroserve --help`` and of ``hydroserve list`` (on a small archive of
:data:`LIST_FILES` ADF files cut into 10 s packages, the demo's length, imported untimed first), each a new process,
against the bare interpreter ``python -c pass`` in the same run. Goals (issue 19): ``--help`` < 0.3 s, ``list``
< 0.5 s.

*Black box*: ``hydroserve import --json DIR`` of the benchmark's 300 s snippet (the ADF files of
:mod:`.bench_pipeline`), process start included, on a fresh data directory every run; real-time factor = 300 s /
wall, goal >= 100x. The reference is the same import in this process (:class:`.bench_pipeline.Ingest`: the same
wiring, settings and files), not ``cat`` of the files: reading them from the page cache takes a few hundredths of a
second and says nothing about ingest, while the in-process import is what the command would cost if starting it
(interpreter, imports, catalog creation, summary) were free, so the difference is what the command line adds.

Every case runs interleaved with its reference, after one untimed warm-up round. The children run on every CPU of
this process, with the HYDROSERVE_* variables of the caller removed, and with bytecode caches (the warm-up writes
them where ``PYTHONDONTWRITEBYTECODE`` would prevent it), as after ``pip install``.

Usage: ``python -m tests.benchmarks.bench_cli DATA_DIR`` (``make bench`` runs it).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .bench_pipeline import Ingest
from .common import SNIPPET_S, Measurement, load_frames, machine, measure, ratio, seconds, table, write_adf_files

STARTUP_REPEAT = 7
IMPORT_REPEAT = 3
LIST_FILES = 3
"""ADF files (16 frames, 10.1 s each) in the archive ``list`` reads."""
LIST_SNIPPET_S = 10
GOALS_S = {"hydroserve --help": 0.3, "hydroserve list": 0.5}
REALTIME_GOAL = 100
HYDROSERVE = Path(sys.executable).with_name("hydroserve")
"""The console script ``pip install`` made beside this interpreter: what a user types."""


def child_env(**settings: str) -> dict[str, str]:
    """This environment without HYDROSERVE_* variables and without PYTHONDONTWRITEBYTECODE, plus ``settings`` as
    HYDROSERVE_<KEY> variables."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("HYDROSERVE_") and key != "PYTHONDONTWRITEBYTECODE"}
    return env | {f"HYDROSERVE_{key.upper()}": value for key, value in settings.items()}


def run(argv: list, env: dict[str, str], cpu_s: list[float] | None = None) -> str:
    """Run a command to its end; its standard output (it must succeed; its log, on standard error, is shown only
    when it fails). The CPU seconds it used (user + system) are appended to ``cpu_s`` if given."""
    before = os.times()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    after = os.times()
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited with status {done.returncode}:\n{done.stderr}")
    if cpu_s is not None:
        cpu_s.append(after.children_user - before.children_user + after.children_system - before.children_system)
    return done.stdout


def timed_cpu_s(cpu_s: list[float]) -> float:
    """The median CPU seconds of the timed runs (the first entry is the warm-up's)."""
    return statistics.median(cpu_s[1:])


class BlackBoxImport:
    """``hydroserve import --json`` of the snippet's ADF files; :meth:`prepare` picks a fresh data directory (untimed)."""

    def __init__(self, adf_dir: Path, work_dir: Path):
        self.adf_dir, self.work_dir = adf_dir, work_dir
        self.runs = 0
        self.cpu_s: list[float] = []

    def data_dir(self) -> Path:
        return self.work_dir / f"cli-data{self.runs}"

    def prepare(self) -> None:
        shutil.rmtree(self.data_dir(), ignore_errors=True)  # the last run's archive (none before the first)
        self.runs += 1

    def __call__(self) -> None:
        env = child_env(data_dir=str(self.data_dir()))
        summary = json.loads(run([HYDROSERVE, "import", "--json", self.adf_dir], env, self.cpu_s))
        if len(summary["packages_made"]) != 1 or summary["input_problems"]:
            raise RuntimeError(f"expected one package and no problem, got {summary}")


def met(ok: bool) -> str:
    return "yes" if ok else "no"


def startup(adf_files: list[Path], work_dir: Path) -> tuple[dict[str, Measurement], dict[str, list[float]]]:
    """Wall times and CPU seconds of ``python -c pass``, ``hydroserve --help`` and ``hydroserve list`` (a few 10 s
    packages archived first)."""
    env = child_env(data_dir=str(work_dir / "list-data"), snippet_duration_s=str(LIST_SNIPPET_S),
                    snippet_interval_s=str(LIST_SNIPPET_S))
    run([HYDROSERVE, "import", *adf_files[:LIST_FILES]], env)
    listed = json.loads(run([HYDROSERVE, "list", "--json"], env))
    if not 2 <= len(listed) <= LIST_FILES:
        raise RuntimeError(f"the archive for `list` holds {len(listed)} packages, expected 2..{LIST_FILES}")
    print(f"archive for `hydroserve list`: {len(listed)} packages of {LIST_SNIPPET_S} s\n")
    commands = {"python -c pass": [sys.executable, "-c", "pass"], "hydroserve --help": [HYDROSERVE, "--help"],
                "hydroserve list": [HYDROSERVE, "list"]}
    cpu_s = {name: [] for name in commands}
    cases = {name: functools.partial(run, argv, env, cpu_s[name]) for name, argv in commands.items()}
    return measure(cases, STARTUP_REPEAT), cpu_s


def main(data_dir: Path) -> None:
    if not HYDROSERVE.is_file():
        raise SystemExit(f"bench_cli: no {HYDROSERVE}: install hydroserve into this interpreter's environment first")
    frames = load_frames(data_dir)
    with tempfile.TemporaryDirectory(prefix="cli-", dir=data_dir) as tmp:
        work_dir = Path(tmp)
        adf_files = write_adf_files(frames, work_dir / "adf")
        del frames
        started, started_cpu_s = startup(adf_files, work_dir)
        ingest, black_box = Ingest(adf_files, work_dir), BlackBoxImport(work_dir / "adf", work_dir)
        imported = measure({"in-process import": ingest, "hydroserve import": black_box}, IMPORT_REPEAT,
                           setups={"in-process import": ingest.prepare, "hydroserve import": black_box.prepare})
        ingest.engine.dispose()

    bare = started["python -c pass"]
    rows = []
    for name, case in started.items():
        goal_s = GOALS_S.get(name)
        rows.append([name, seconds(case.median_s), f"{100 * case.spread:.0f} %", seconds(case.median_s - bare.median_s),
                     ratio(case.median_s, bare.median_s), seconds(timed_cpu_s(started_cpu_s[name])),
                     "reference" if goal_s is None else f"< {goal_s} s",
                     "" if goal_s is None else met(case.median_s < goal_s)])
    print(table(f"Command-line start-up, wall time of a new process; median of {STARTUP_REPEAT} interleaved runs",
                ["command", "median", "spread", "over the bare interpreter", "x the bare interpreter", "CPU", "goal", "met"],
                rows))

    reference, ours = imported["in-process import"], imported["hydroserve import"]
    realtime = SNIPPET_S / ours.median_s
    print()
    print(table(f"Black box: `hydroserve import` of one {SNIPPET_S} s snippet (ADF files), process start included, "
                f"{len(os.sched_getaffinity(0))} CPUs; median of {IMPORT_REPEAT} interleaved runs",
                ["case", "median", "spread", "CPU", "real-time factor", "in-process / black box"],
                [["in-process import (reference)", seconds(reference.median_s), f"{100 * reference.spread:.0f} %",
                  seconds(reference.median_cpu_s), f"{SNIPPET_S / reference.median_s:.0f}x", ""],
                 ["hydroserve import (new process)", seconds(ours.median_s), f"{100 * ours.spread:.0f} %",
                  seconds(timed_cpu_s(black_box.cpu_s)), f"{realtime:.0f}x",
                  f"{100 * reference.median_s / ours.median_s:.0f} %"]]))
    print(f"\nblack box real-time factor {realtime:.0f}x (goal >= {REALTIME_GOAL}x): met {met(realtime >= REALTIME_GOAL)}; "
          f"the command line adds {seconds(ours.median_s - reference.median_s)} to the in-process import "
          f"(interpreter start, imports, catalog creation, summary)")
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
