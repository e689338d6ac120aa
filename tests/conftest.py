"""Shared fixtures: settings on a temporary data directory, synthetic ADF files, the real test file."""

from __future__ import annotations

import pytest

from hydroserve.api.config import load_settings
from hydroserve.samples.synthetic import SyntheticSensor, write_adf_files
from support import REAL_FILE, REAL_START_TICK, SENSOR


@pytest.fixture
def real_adf_path():
    from km3net_testdata import data_path

    return data_path(REAL_FILE)


@pytest.fixture
def short_settings(tmp_path):
    """2 s snippets every 2 s on a fresh data directory, no fsync-free shortcuts."""
    return load_settings(
        env={},
        data_dir=str(tmp_path / "data"),
        snippet_duration_s="2",
        snippet_interval_s=2,
        spool_settle_s=0,
    )


@pytest.fixture
def synthetic_files(tmp_path):
    """Factory: write synthetic ADF files; returns their paths."""

    def make(sensor=SENSOR, *, start_tick=REAL_START_TICK, n_frames=16, frames_per_file=4, drop_frames=frozenset(), seed=0, directory=None):
        return write_adf_files(
            directory or tmp_path / "adf",
            SyntheticSensor(sensor, seed=seed),
            start_tick=start_tick,
            n_frames=n_frames,
            frames_per_file=frames_per_file,
            drop_frames=frozenset(drop_frames),
        )

    return make
