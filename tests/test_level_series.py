"""Band-level series: effort-weighted resampling that composes, band selection by nominal centre, the byte layout."""

from __future__ import annotations

import numpy as np
import pytest

from hydroserve.acoustics import level_series
from hydroserve.acoustics.hmd_bands import decidecade_bands
from hydroserve.acoustics.level_series import NS_PER_S, LevelSeries

CENTRES = decidecade_bands(10 ** 0.95, 97656.25)[0]


def minutes(n: int = 3 * 1440, seed: int = 1) -> LevelSeries:
    rng = np.random.default_rng(seed)
    start = 1608681600 * NS_PER_S + np.arange(n) * 60 * NS_PER_S
    effort = rng.uniform(1, 60, n)
    return LevelSeries(start, effort, CENTRES, rng.uniform(1, 2, (n, len(CENTRES))), rng.uniform(1, 2, n), False)


def test_hours_then_days_equal_days_from_minutes():
    series = minutes()
    direct = level_series.resample(series, 86400)
    via_hours = level_series.resample(level_series.resample(series, 3600), 86400)
    np.testing.assert_allclose(via_hours.mean_square, direct.mean_square, rtol=1e-12)
    np.testing.assert_allclose(via_hours.effort_s, direct.effort_s, rtol=1e-12)
    assert direct.start_unix_ns.tolist() == [(1608681600 + d * 86400) * NS_PER_S for d in range(3)]


def test_a_bin_is_the_effort_weighted_mean_of_its_minutes():
    series = minutes(n=120)
    hour = level_series.resample(series, 3600)
    first = slice(0, 60)
    expected = np.average(series.broadband_mean_square[first], weights=series.effort_s[first])
    assert hour.broadband_mean_square[0] == pytest.approx(expected, rel=1e-12)
    assert hour.effort_s[0] == pytest.approx(series.effort_s[first].sum())


def test_bins_without_effort_are_left_out():
    series = minutes(n=180)
    silent = LevelSeries(series.start_unix_ns, np.where(np.arange(180) >= 60, series.effort_s, 0.0), CENTRES,
                         series.mean_square, series.broadband_mean_square, False)
    assert len(level_series.resample(silent, 3600).start_unix_ns) == 2


def test_nominal_centres_name_their_bands():
    found = level_series.select_bands(CENTRES, [63, 125, 1000, 10000])
    np.testing.assert_allclose(CENTRES[found], [10 ** 1.8, 10 ** 2.1, 10 ** 3, 10 ** 4])
    with pytest.raises(ValueError, match="no decidecade band"):
        level_series.select_bands(CENTRES, [1e6])


def test_the_byte_layout_round_trips_and_refuses_a_truncated_blob():
    series = minutes(n=30)
    back = LevelSeries.from_bytes(series.to_bytes())
    for name in ("start_unix_ns", "effort_s", "centre_hz", "mean_square", "broadband_mean_square"):
        np.testing.assert_array_equal(getattr(back, name), getattr(series, name))
    assert back.calibrated is False
    with pytest.raises(ValueError, match="bytes"):
        LevelSeries.from_bytes(series.to_bytes()[:-8])


def test_mixing_calibrated_and_uncalibrated_series_is_refused():
    series = minutes(n=10)
    calibrated = LevelSeries(series.start_unix_ns + 600 * NS_PER_S, series.effort_s, CENTRES, series.mean_square,
                             series.broadband_mean_square, True)
    with pytest.raises(ValueError, match="calibrated"):
        level_series.concatenate([series, calibrated])
