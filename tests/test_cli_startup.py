"""The command line starts without the libraries its command does not use (issue 19: ``hydroserve --help`` at once,
``hydroserve list`` in well under a second). What is checked is which modules a fresh interpreter has imported, not
how long it took (the times are in ``make bench``, tests/benchmarks/bench_cli.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hydroserve.api.config import settings_env

COMPUTING = ("scipy", "matplotlib", "astropy", "h5py", "h5netcdf")
"""What building products, pictures and event tables needs; no command that only reads the catalog imports them."""
CATALOG_AND_SERVING = ("sqlalchemy", "alembic", "flask", "numpy")
"""What opening the catalog or serving needs; parsing the arguments and printing help import none of them."""

# runs ``hydroserve ARGV...`` in a fresh interpreter, then prints its output and the top-level modules it imported
RUN_AND_REPORT = """
import contextlib, io, json, sys
from hydroserve.api import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        status = cli.main(sys.argv[1:])
    except SystemExit as stop:
        status = stop.code
print(json.dumps({"status": status, "out": out.getvalue(), "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def run_cli(*argv: str, env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN_AND_REPORT, *argv], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def test_help_imports_neither_the_catalog_nor_the_computing_libraries():
    for argv in (["--help"], ["list", "--help"], ["import", "--help"], ["reprocess", "--help"]):
        report = run_cli(*argv)
        assert report["status"] == 0 and "usage: hydroserve" in report["out"], argv
        assert sorted(set(report["modules"]) & {*COMPUTING, *CATALOG_AND_SERVING}) == [], argv


@pytest.mark.sqlite_only
def test_list_reads_the_catalog_without_the_computing_libraries(settings, synthetic_files, runner):
    assert runner("import", *map(str, synthetic_files(n_frames=8, frames_per_file=8))).exit_code == 0
    report = run_cli("list", "--json", env=settings_env(settings))
    assert report["status"] == 0
    listed = json.loads(report["out"])
    # the frames cover 2020-12-23T19:27:59Z ... 19:28:04Z: the whole 2 s windows at 19:28:00 and 19:28:02
    assert [row["package_id"] for row in listed] == ["DOM_808956920_CH1_1608751680", "DOM_808956920_CH1_1608751682"]
    assert "sqlalchemy" in report["modules"]  # it did open the catalog, and checked its schema without Alembic (migrations)
    assert sorted(set(report["modules"]) & {*COMPUTING, "alembic"}) == []
