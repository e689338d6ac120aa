"""The HMD product: band layout, physical invariants, the fast engine against the definition, quality flags, storage.

The band centres are checked against mbari-pbp itself in test_hmd_pbp.py; here every expected value is computed by
hand from the definitions (Martin et al. 2021, IEC 61260-1, Parseval), not by the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from hydroserve.acoustics import hmd_product
from hydroserve.acoustics.hmd_bands import decidecade_bands, hmd_bands
from hydroserve.acoustics.hmd_fast import SPLIT_HZ
from hydroserve.acoustics.hmd_spectrum import band_integrals_naive
from hydroserve.acoustics.sensors import Calibration
from hydroserve.acoustics.window import Run
from hydroserve.codecs import raw, raw_decoder

FS = 195312.5
MINUTE_TICK = 28_333_334 * 60 * raw.TICKS_PER_SECOND  # a UTC minute boundary (2023-11-14T22:14:00Z)
BANDS = hmd_bands()


def seconds(value: float) -> int:
    return int(round(value * FS))


def one_run(samples: np.ndarray, start_tick: int = MINUTE_TICK) -> tuple[list[np.ndarray], tuple[Run, ...]]:
    return [samples.astype(np.float32)], (Run(start_tick, 0, len(samples)),)


def db(value):
    return 10 * np.log10(value)


def test_bands_follow_the_stated_rule_at_the_service_rate():
    c, lo, hi = BANDS.centre_hz, BANDS.lower_hz, BANDS.upper_hz
    assert len(BANDS) == 2787 and BANDS.n_linear == 435 and BANDS.bin_width_hz == 1.0
    assert np.array_equal(c[:435], np.arange(435.0)) and np.array_equal(lo[:435], np.arange(435.0) - 0.5)
    n = np.arange(1639, 1639 + 2787 - 435)  # millidecade band numbers: 10**(1 + (2n - 1)/2000)
    np.testing.assert_allclose(c[435:], 10 ** (1 + (2 * n - 1) / 2000), rtol=1e-14)
    assert round(c[435], 3) == 435.011 and round(c[-1], 2) == 97611.28 and hi[-1] == 97656.25
    width = lambda centre: centre * (10 ** (1 / 2000) - 10 ** (-1 / 2000))  # noqa: E731
    assert width(c[435]) >= 1 > width(10 ** (1 + (2 * 1638 - 1) / 2000))  # the first millidecade band at least 1 Hz wide
    assert np.array_equal(lo[1:], hi[:-1]) and hi[434] == lo[435]  # contiguous: the last 1 Hz band reaches 434.510 Hz
    assert not np.any(np.isclose(c, 1000.0, rtol=1e-6))  # no centre on 1 kHz


def test_decidecade_bands_are_the_iec_base_ten_bands():
    centre, lower, upper = decidecade_bands(10**0.95, FS / 2)
    assert len(centre) == 40
    np.testing.assert_allclose(centre, 10 ** (np.arange(10, 50) / 10), rtol=1e-14)
    np.testing.assert_allclose(upper / centre, 10**0.05) and np.testing.assert_allclose(centre / lower, 10**0.05)
    assert np.isclose(centre, 63.0957, atol=1e-4).any() and np.isclose(centre, 125.8925, atol=1e-4).any()  # MSFD 63, 125 Hz
    assert upper[-1] <= FS / 2 < 10**5.05


def test_minutes_are_utc_minutes_with_whole_segments_only():
    rng = np.random.default_rng(1)
    run_samples, runs = one_run(rng.normal(size=seconds(7)), MINUTE_TICK - 3 * raw.TICKS_PER_SECOND)
    result = hmd_product.compute(run_samples, runs, None)
    assert result.minute_start_unix_ns.tolist() == [(MINUTE_TICK - 60 * raw.TICKS_PER_SECOND) * 16, MINUTE_TICK * 16]
    # 3 s before the boundary (585,937 or 585,938 samples: 5 segments), 4 s after (781,250 samples: 7 segments)
    assert result.n_segments.tolist() == [5, 7] and np.isclose(result.effort_s.sum(), 7.0, atol=1 / FS)
    assert result.band_density.shape == (2, 2787) and result.decidecade_mean_square.shape == (2, 40)


def test_parseval_broadband_level_from_the_hmd_equals_the_time_domain_rms():
    rng = np.random.default_rng(2)
    t = np.arange(seconds(20)) / FS
    x = rng.normal(0, 0.01, len(t)) + 0.02 * np.sin(2 * np.pi * 1234.5 * t) + np.cumsum(rng.normal(0, 1e-4, len(t)))
    run_samples, runs = one_run(x)
    result = hmd_product.compute(run_samples, runs, None)
    from_hmd = float(np.sum(result.band_density[0].astype(np.float64) * BANDS.width_hz))
    time_domain = float(np.mean(run_samples[0].astype(np.float64) ** 2))
    assert abs(db(from_hmd / time_domain)) < 0.05
    assert result.broadband_mean_square[0] == pytest.approx(time_domain, rel=1e-6)


def test_a_calibrated_tone_lands_at_its_hand_computed_level_in_its_band():
    calibration = Calibration(sensitivity_db_re_1v_per_upa=-170.0, gain_db=6.0, volts_per_unit=0.5)
    offset_db = 20 * np.log10(0.5) + 170 - 6  # dB re 1 uPa^2 per unit^2
    band = 1900  # the millidecade band centred at 12.69 kHz
    frequency = BANDS.centre_hz[band]
    amplitude = 0.1
    t = np.arange(seconds(10)) / FS
    run_samples, runs = one_run(amplitude * np.sin(2 * np.pi * frequency * t))
    result = hmd_product.compute(run_samples, runs, calibration)
    expected_spl = 10 * np.log10(amplitude**2 / 2) + offset_db  # mean square of a sine, in dB re 1 uPa^2
    band_power = result.band_density[0].astype(np.float64) * BANDS.width_hz
    assert int(np.argmax(band_power)) == band
    assert db(band_power[band]) == pytest.approx(expected_spl, abs=0.01)  # the Hann main lobe (+-2 Hz) lies in the band
    decidecade = int(np.argmin(abs(np.log10(result.decidecade_centre_hz / frequency))))
    assert db(result.decidecade_mean_square[0, decidecade]) == pytest.approx(expected_spl, abs=0.01)
    assert db(result.broadband_mean_square[0]) == pytest.approx(expected_spl, abs=0.01)
    assert result.peak_spl_db == pytest.approx(20 * np.log10(amplitude) + offset_db, abs=0.01)
    assert result.sel_db == pytest.approx(expected_spl + 10 * np.log10(10.0), abs=0.01)
    assert (result.calibrated, result.units_note, result.level_unit("density")) == (True, "µPa", "dB re 1 µPa²/Hz")


def test_white_noise_gives_a_flat_hmd_at_the_expected_density():
    rng = np.random.default_rng(3)
    sigma = 0.05
    run_samples, runs = one_run(rng.normal(0, sigma, seconds(30)))
    result = hmd_product.compute(run_samples, runs, None)
    level = db(result.band_density[0].astype(np.float64))
    expected = db(2 * sigma**2 / FS)  # one-sided density of white noise of variance sigma^2
    wide = BANDS.width_hz >= 50  # averages over >= 50 bins x 59 segments: statistical spread ~0.1 dB
    assert db(np.mean(result.band_density[0, BANDS.centre_hz >= 10].astype(np.float64))) == pytest.approx(expected, abs=0.05)
    assert np.max(abs(level[wide] - expected)) < 0.5
    slope_db_per_decade = np.polyfit(np.log10(BANDS.centre_hz[10:]), level[10:], 1)[0]
    assert abs(slope_db_per_decade) < 0.05


def test_fast_engine_gives_the_definition_to_a_hundredth_of_a_decibel():
    """Noise with tones at band centres on both sides of the 10 kHz split; one minute (119 segments)."""
    rng = np.random.default_rng(4)
    t = np.arange(seconds(60)) / FS
    x = rng.normal(0, 1, len(t)) + 0.3 * np.cumsum(rng.normal(0, 0.01, len(t)))
    tones = [20.0, 434.0, 2416.4, BANDS.centre_hz[2200], BANDS.centre_hz[2600]]
    for frequency in tones:
        x += 3 * np.sin(2 * np.pi * frequency * t + 0.7)
    run_samples, runs = one_run(x)
    fast = hmd_product.compute(run_samples, runs, None)
    naive = hmd_product.compute(run_samples, runs, None, band_integrals=band_integrals_naive)
    error_db = abs(db(fast.band_density[0].astype(np.float64) / naive.band_density[0]))
    assert fast.n_segments.tolist() == naive.n_segments.tolist() == [119]
    assert np.max(error_db[BANDS.centre_hz < SPLIT_HZ]) < 1e-4  # exact N-grid values (float32 storage: ~5e-7 dB)
    assert np.max(error_db[BANDS.centre_hz >= 10]) < 0.01
    assert np.max(abs(db(fast.decidecade_mean_square / naive.decidecade_mean_square))) < 0.01


@pytest.mark.parametrize("name", ["DC offset of half the full scale", "tone 110 dB over the background", "real file"])
def test_fast_engine_keeps_every_band_exact_below_the_split_whatever_the_dynamic_range(name, real_adf_path):
    """float32 transforms with the mean taken out, and float64 where a band comes near float32's rounding floor.

    24-bit counts as the detector's ADC gives them: a DC offset of 2^22 counts over 3 counts of noise (float32 without
    the offset taken out: bands up to 18 dB wrong), a 50 Hz tone of 2^20 counts over 2 counts of noise (float32 alone:
    up to 8 dB wrong), and the real KM3NeT file (its anti-alias roll-off puts the top bands 140 dB under the DC bands;
    one segment; float32 without the offset taken out: 0.002 dB).
    """
    rng = np.random.default_rng(11)
    t = np.arange(seconds(12)) / FS
    samples = {
        "DC offset of half the full scale": np.round(2.0**22 + rng.normal(0, 3, len(t))),
        "tone 110 dB over the background": np.round(2.0**20 * np.sin(2 * np.pi * 50 * t) + rng.normal(0, 2, len(t))),
    }.get(name)
    if samples is None:
        samples = raw_decoder.read_file(real_adf_path, frame_length=raw.DEFAULT_FRAME_LENGTH).samples.reshape(-1)
    run_samples, runs = one_run(samples)
    fast = hmd_product.compute(run_samples, runs, None)
    naive = hmd_product.compute(run_samples, runs, None, band_integrals=band_integrals_naive)
    error_db = abs(db(fast.band_density[0].astype(np.float64) / naive.band_density[0]))
    assert np.max(error_db[BANDS.centre_hz < SPLIT_HZ]) < 1e-3  # the rounding floor's stated bound: 1e-3 dB in one segment


def test_fast_engine_splits_a_tone_on_a_band_edge_above_the_split_slightly_differently():
    """The one stated approximation: above 10 kHz a tone within a few bins of a band edge."""
    rng = np.random.default_rng(5)
    t = np.arange(seconds(10)) / FS
    edge = BANDS.lower_hz[2100]  # 20.09 kHz
    run_samples, runs = one_run(rng.normal(0, 1, len(t)) + 10 * np.sin(2 * np.pi * edge * t))
    fast = hmd_product.compute(run_samples, runs, None)
    naive = hmd_product.compute(run_samples, runs, None, band_integrals=band_integrals_naive)
    error_db = abs(db(fast.band_density[0].astype(np.float64) / naive.band_density[0]))
    assert 0.01 < max(error_db[2099], error_db[2100]) < 0.5
    both = (fast.band_density[0, 2099:2101].astype(np.float64) * BANDS.width_hz[2099:2101]).sum()
    assert db(both / (naive.band_density[0, 2099:2101] * BANDS.width_hz[2099:2101]).sum()) == pytest.approx(0, abs=0.01)


def test_quality_flags_and_effort():
    rng = np.random.default_rng(6)
    noise = rng.normal(0, 0.1, seconds(5))
    bands = len(BANDS)

    def flags(samples):
        return hmd_product.compute(*one_run(samples), None).quality_flag[0]

    assert (flags(noise) == 1).all()
    clipped_once = noise.copy()
    top = int(np.argmax(abs(noise)))
    clipped_once[top - 1 : top + 2] = noise[top]  # one flat top of 3 samples at the peak
    assert (flags(clipped_once) == 3).all()
    sine = np.sin(2 * np.pi * 100 * np.arange(len(noise)) / FS)
    assert (flags(np.clip(sine, -0.9, 0.9)) == 4).all()  # flat tops: 29 % of the samples
    dc = flags(noise + 0.5)
    assert (dc[:2] == 4).all() and (dc[2:] == 1).all() and len(dc) == bands
    assert (flags(np.full(seconds(3), 0.25)) == 4).all()
    short = hmd_product.compute(*one_run(noise[: seconds(0.6)]), None)
    assert (short.n_segments[0], short.effort_s[0]) == (0, pytest.approx(0.6, abs=1 / FS))
    assert (short.quality_flag == 2).all() and np.isnan(short.band_density).all()


def test_a_gap_lowers_the_effort_and_segments_never_span_it():
    rng = np.random.default_rng(7)
    first, second = seconds(2.5), seconds(3)
    gap_ticks = int(1.5 * raw.TICKS_PER_SECOND)
    runs = (Run(MINUTE_TICK, 0, first), Run(MINUTE_TICK + first * raw.TICKS_PER_SAMPLE + gap_ticks, first, second))
    samples = rng.normal(0, 1, first + second).astype(np.float32)
    result = hmd_product.compute([samples[:first], samples[first:]], runs, None)
    assert result.effort_s[0] == pytest.approx(5.5, abs=1e-5)
    assert result.n_segments[0] == 4 + 5  # (2.5 s: 4 segments) + (3 s: 5 segments)
    assert (result.quality_flag == 1).all()


def test_npz_round_trip_keeps_every_field_without_pickle():
    rng = np.random.default_rng(8)
    result = hmd_product.compute(*one_run(rng.normal(size=seconds(3))), Calibration(-165.0))
    data = result.to_npz_bytes()
    back = hmd_product.PackageHmd.from_npz_bytes(data)
    for name in ("minute_start_unix_ns", "effort_s", "n_segments", "band_density", "quality_flag", "decidecade_centre_hz",
                 "decidecade_mean_square", "broadband_mean_square"):
        stored, made = getattr(back, name), getattr(result, name)
        assert stored.dtype == made.dtype and np.array_equal(stored, made)
    assert (back.sel_db, back.peak_spl_db, back.calibrated, back.units_note, back.calibration) == (
        result.sel_db, result.peak_spl_db, True, "µPa", result.calibration)
    import io
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_combined_minutes_weight_by_segments_and_effort():
    rng = np.random.default_rng(9)
    a_runs = one_run(rng.normal(0, 1, seconds(20)))
    b_runs = one_run(rng.normal(0, 2, seconds(10)), MINUTE_TICK + 30 * raw.TICKS_PER_SECOND)
    a, b = hmd_product.compute(*a_runs, None), hmd_product.compute(*b_runs, None)
    combined = hmd_product.combine_minutes([b, a])
    assert combined.minute_start_unix_ns.tolist() == [MINUTE_TICK * 16]
    assert (combined.n_segments[0], combined.effort_s[0]) == (39 + 19, pytest.approx(30.0, abs=1e-5))
    expected = (39 * a.band_density[0].astype(np.float64) + 19 * b.band_density[0]) / 58
    np.testing.assert_allclose(combined.band_density[0], expected, rtol=1e-6)
    assert combined.broadband_mean_square[0] == pytest.approx((20 * 1 + 10 * 4) / 30, rel=0.02)
    assert combined.sel_db == pytest.approx(db(10 ** (a.sel_db / 10) + 10 ** (b.sel_db / 10)))
    with pytest.raises(ValueError, match="calibration"):
        hmd_product.combine_minutes([a, hmd_product.compute(*b_runs, Calibration(-160.0))])
