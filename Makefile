# hydroserve — the two-command quick start is `make demo` and `make test`.
# Both create .venv with the Python found below and install what they need.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast bench bench-catalog load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade "pip>=24" "setuptools>=69" wheel

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/hydroserve demo

# mbari-pbp (the SoundCoop HMD reference, tests/test_hmd_pbp.py) pins numpy < 2: it gets an environment of its own
.venv-pbp/.installed:
	$(PYTHON) -m venv .venv-pbp
	.venv-pbp/bin/pip install "mbari-pbp==1.9.0"
	touch $@

# the suite in TEST_WORKERS processes (pytest-xdist), a test file's tests in one of them (its module-scoped servers and
# archives are made once); TEST_WORKERS=0 runs it in this process
TEST_WORKERS ?= 2
TEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile

test: $(VENV)/.installed-test .venv-pbp/.installed
	$(BIN)/python -m pytest $(TEST_PARALLEL)

test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(TEST_PARALLEL) -m "not slow"

bench: $(VENV)/.installed-test
	$(BIN)/python -m tests.benchmarks

# the catalog's hot queries on PostgreSQL at detector size; HYDROSERVE_BENCH_DATABASE_URL names the server,
# BENCH_CATALOG_ARGS e.g. "--packages 1000000" (default 10 million: 209 GB, an hour of generation;
# README Scaling out shows a compressed tablespace for a smaller disk)
bench-catalog: $(VENV)/.installed-test
	$(BIN)/python -m tests.benchmarks.bench_catalog $(BENCH_CATALOG_ARGS)

load: $(VENV)/.installed-test
	$(BIN)/python -m tests.benchmarks.load

clean:
	rm -rf $(VENV) .venv-pbp build *.egg-info
