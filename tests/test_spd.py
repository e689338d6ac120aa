"""SPD and percentiles from per-day level histograms, checked against numpy on the same minutes."""

from __future__ import annotations

import numpy as np
import pytest

from hydroserve.acoustics import spd


def minutes(seed: int, n_minutes: int = 1440, n_bands: int = 40) -> np.ndarray:
    """Linear densities whose levels spread over ~40 dB, differently per band."""
    rng = np.random.default_rng(seed)
    level_db = 40 + 10 * np.arange(n_bands) / n_bands + rng.normal(0, 6, (n_minutes, n_bands))
    return 10 ** (level_db / 10)


def test_percentiles_of_merged_days_match_numpy_within_half_a_bin():
    days = [minutes(seed) for seed in range(5)]
    merged = spd.merge([spd.histogram(d, calibrated=True) for d in days])
    levels = 10 * np.log10(np.concatenate(days))
    expected = np.percentile(levels, spd.PERCENTILES, axis=0, method="inverted_cdf").T
    found = spd.percentiles(merged)
    assert np.abs(found - expected).max() <= spd.LEVEL_STEP_DB / 2 + 1e-9
    assert np.abs(found - expected).max() > 0  # it is a histogram: not the exact values


def test_linear_mean_is_the_mean_of_linear_densities_not_of_dB():
    days = [minutes(seed) for seed in range(3)]
    merged = spd.merge([spd.histogram(d, calibrated=True) for d in days])
    everything = np.concatenate(days)
    np.testing.assert_allclose(spd.mean_db(merged), 10 * np.log10(everything.mean(axis=0)), atol=1e-9)
    assert np.all(spd.mean_db(merged) > np.median(10 * np.log10(everything), axis=0))  # Jensen: spread lifts the mean


def test_invalid_minutes_do_not_count():
    density = minutes(1, n_minutes=100, n_bands=3)
    valid = np.ones_like(density, bool)
    valid[:50, 0] = False
    h = spd.histogram(density, valid, calibrated=True)
    assert h.n_minutes.tolist() == [50, 100, 100]
    np.testing.assert_allclose(spd.mean_db(h)[0], 10 * np.log10(density[50:, 0].mean()))


def test_density_integrates_to_one_and_puts_a_constant_level_in_its_bin():
    density = np.full((60, 2), 10 ** (53.27 / 10))
    density[:, 1] = 10 ** (20.0 / 10)
    edges, pdf = spd.density(spd.histogram(density, calibrated=True), bin_db=1.0)
    np.testing.assert_allclose((pdf * np.diff(edges)).sum(axis=1), 1.0)
    assert edges[np.argmax(pdf[0])] == pytest.approx(53.0) and edges[np.argmax(pdf[1])] == pytest.approx(20.0)
    assert np.count_nonzero(pdf[0]) == 1


def test_rebinned_density_equals_numpy_histogram():
    density = minutes(7, n_minutes=500, n_bands=4)
    edges, pdf = spd.density(spd.histogram(density, calibrated=True), bin_db=0.5)
    for band in range(4):
        counts, _ = np.histogram(10 * np.log10(density[:, band]), bins=edges)
        np.testing.assert_allclose(pdf[band], counts / (500 * 0.5))


def test_histogram_round_trips_through_npz():
    h = spd.histogram(minutes(3, n_minutes=30, n_bands=5), calibrated=True)
    back = spd.LevelHistogram.from_npz_bytes(h.to_npz_bytes())
    for name in ("first_bin", "counts", "linear_sum", "n_minutes"):
        np.testing.assert_array_equal(getattr(back, name), getattr(h, name))


@pytest.mark.parametrize("bin_db", [0.0, 0.25, -1.0])
def test_bin_width_must_be_a_multiple_of_the_storage_step(bin_db):
    with pytest.raises(ValueError, match="bin_db"):
        spd.density(spd.histogram(minutes(0, 10, 2), calibrated=True), bin_db)
