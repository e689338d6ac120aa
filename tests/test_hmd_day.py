"""A sensor-day of HMD from per-package products: the SoundCoop netCDF read back with xarray, levels and SPD parts.

Two packages of white noise (90 s each, back to back, so the second minute is split between them) go through the
real per-package HMD computation; the day aggregates are checked against the time-domain truth and numpy.
"""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pytest
import xarray as xr

from hydroserve.acoustics import hmd_day, hmd_product, level_series, spd
from hydroserve.acoustics.hmd_bands import hmd_bands
from hydroserve.acoustics.sensors import Calibration
from hydroserve.acoustics.window import Run
from hydroserve.codecs.raw import TICKS_PER_SAMPLE, TICKS_PER_SECOND, SensorId

DAY = date(2020, 12, 23)
DAY_START_S = 1608681600  # 2020-12-23T00:00:00Z
SENSOR = SensorId(808956920, 1)
SIGMA = 0.01  # rms of the noise, sample units
CALIBRATION = Calibration(sensitivity_db_re_1v_per_upa=-170.0)


@pytest.fixture(scope="module")
def noise_minutes():
    """Combined minutes of two 90 s packages of white noise starting 10:00:00 (minutes 10:00, 10:01, 10:02)."""
    rng = np.random.default_rng(5)
    n = 90 * 195312 + 45  # 90 s of samples (a few over whole seconds)
    parts, samples_all = [], []
    for k in range(2):
        samples = rng.normal(0, SIGMA, n).astype(np.float32)
        start_tick = (DAY_START_S + 36000) * TICKS_PER_SECOND + k * n * TICKS_PER_SAMPLE
        parts.append(hmd_product.compute([samples], (Run(start_tick, 0, n),), CALIBRATION))
        samples_all.append(samples)
    return hmd_product.combine_minutes(parts), np.concatenate(samples_all)


def aggregate(minutes):
    centre_hz = hmd_bands().centre_hz
    attributes = hmd_day.global_attributes(sensor=SENSOR, day=DAY, detector="ARCA", sensor_type="hydrophone",
                                           calibrated=True, calibration=minutes.calibration, n_minutes=3, revision=2,
                                           resource_kid="acoustic20_01_hmd_DOM_808956920_CH1_20201223",
                                           landing_url="https://example.org/api/v1/sensors/DOM_808956920_CH1")
    return hmd_day.aggregate(minutes, centre_hz=centre_hz, calibration_offset_db=np.full(len(centre_hz), 170.0),
                             attributes=attributes)


def test_the_netcdf_has_the_soundcoop_layout_and_reads_back_with_xarray(noise_minutes):
    minutes, _ = noise_minutes
    made = aggregate(minutes)
    with xr.open_dataset(io.BytesIO(made.netcdf), engine="h5netcdf") as ds:
        assert dict(ds.sizes) == {"time": 3, "frequency": 2787, "calibration_frequency": 2787}
        assert ds["psd"].dims == ("time", "frequency") and ds["psd"].dtype == np.float32
        assert ds["quality_flag"].dims == ("time", "frequency") and ds["quality_flag"].dtype == np.int8
        assert ds["effort"].dims == ("time",) and ds["calibration_offset"].dims == ("calibration_frequency",)
        assert ds["psd"].attrs["units"] == "1" and "dB re 1 µPa^2/Hz" in ds["psd"].attrs["long_name"]
        assert [str(t)[:19] for t in ds["time"].values] == ["2020-12-23T10:00:00", "2020-12-23T10:01:00",
                                                              "2020-12-23T10:02:00"]
        np.testing.assert_allclose(ds["effort"].values.sum(), 2 * (90 * 195312 + 45) / 195312.5)
        np.testing.assert_allclose(ds["frequency"].values, hmd_bands().centre_hz)
        np.testing.assert_allclose(ds["psd"].values, 10 * np.log10(minutes.band_density), atol=1e-4)
        assert set(np.unique(ds["quality_flag"].values)) <= {1, 2, 3, 4}
        assert ds.attrs["Conventions"] == "CF-1.6, ACDD-1.3" and ds.attrs["sample_rate_hz"] == 195312.5
        assert ds.attrs["license"] == "CC-BY-4.0" and "hydroserve" in ds.attrs["citation"]
        assert ds.attrs["time_coverage_start"] == "2020-12-23T00:00:00Z" and ds.attrs["time_coverage_duration"] == "P1D"


def test_white_noise_gives_a_flat_hmd_at_the_hand_computed_level(noise_minutes):
    minutes, _ = noise_minutes
    made = aggregate(minutes)
    with xr.open_dataset(io.BytesIO(made.netcdf), engine="h5netcdf") as ds:
        above_10_hz = ds["psd"].sel(frequency=slice(10, 90000)).isel(time=1)
        # one-sided density of white noise: 2 σ² / fs, in µPa²/Hz after the 170 dB offset
        expected_db = 10 * np.log10(2 * SIGMA**2 / 195312.5) + 170
        assert float(above_10_hz.median()) == pytest.approx(expected_db, abs=0.1)


def test_broadband_levels_equal_the_time_domain_rms_and_hours_weight_minutes_by_effort(noise_minutes):
    minutes, samples = noise_minutes
    made = aggregate(minutes)
    # Parseval: the minutes' broadband mean square, effort-weighted, is the mean square of all samples (+170 dB)
    whole = level_series.resample(made.minutes, 3600)
    assert whole.start_unix_ns.tolist() == [(DAY_START_S + 36000) * 10**9]
    truth_db = 10 * np.log10(np.mean(samples.astype(np.float64) ** 2)) + 170
    assert level_series.level_db(whole.broadband_mean_square[0]) == pytest.approx(truth_db, abs=0.05)
    np.testing.assert_allclose(made.hours.broadband_mean_square, whole.broadband_mean_square)
    np.testing.assert_allclose(made.hours.effort_s, made.minutes.effort_s.sum())
    # decidecade band powers of white noise add up to the broadband power within the bands' span (10 Hz .. 89 kHz)
    span_hz = made.minutes.centre_hz[-1] * 10**0.05 - made.minutes.centre_hz[0] * 10**-0.05
    np.testing.assert_allclose(made.hours.mean_square.sum(), 2 * SIGMA**2 / 195312.5 * span_hz * 10**17, rtol=0.02)


def test_the_day_histogram_counts_every_minute_and_band_with_segments(noise_minutes):
    minutes, _ = noise_minutes
    made = aggregate(minutes)
    assert made.histogram.n_minutes.tolist() == [3] * 2787
    levels = 10 * np.log10(minutes.band_density.astype(np.float64))
    median = np.percentile(levels, 50, axis=0, method="inverted_cdf")
    assert np.abs(spd.percentiles(made.histogram, [50])[:, 0] - median).max() <= 0.05 + 1e-9


def test_the_file_name_follows_the_soundcoop_convention():
    assert hmd_day.file_name(SENSOR, DAY, "ARCA") == "KM3NeT.ARCA_DOM808956920.CH1.195kHz_20201223_DAILY_MILLIDEC_MinRes.nc"
