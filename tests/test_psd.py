"""Welch PSD with exact per-frequency quantiles: equal to scipy + numpy on realistic data, physical invariants."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from hydroserve.acoustics import psd
from hydroserve.codecs import raw, raw_decoder
from hydroserve.codecs.psdjson import STATISTICS
from hydroserve.samples.synthetic import SyntheticSensor
from support import SENSOR

FS_HZ = float(raw.SAMPLE_RATE_HZ)


def reference(runs, nfft):
    """scipy.signal.spectrogram in float64, segments of every run side by side, then numpy statistics."""
    spectra = [
        signal.spectrogram(np.asarray(run, dtype=np.float64), FS_HZ, window="hann", nperseg=nfft, noverlap=nfft // 2,
                           detrend="constant", scaling="density")[2]
        for run in runs if len(run) >= nfft
    ]
    power = np.concatenate(spectra, axis=1)
    median, p75, p95 = np.quantile(power, [0.5, 0.75, 0.95], axis=1)
    return {"mean": power.mean(axis=1), "median": median, "p75": p75, "p95": p95}, power.shape[1]


def max_db_difference(result: psd.Psd, expected: dict) -> dict:
    return {name: float(np.max(np.abs(psd.to_db(getattr(result, name)) - psd.to_db(expected[name])))) for name in STATISTICS}


@pytest.fixture(scope="module")
def synthetic_30s():
    """30 s of the synthetic sensor (DC offset 3e-3, shipping, whales, clicks, pulses)."""
    return SyntheticSensor(SENSOR).samples(1608751680 * 195312, round(30 * FS_HZ))


@pytest.mark.parametrize("workers", [1, 2])
def test_equals_scipy_reference_within_1e_4_db_on_synthetic_data(synthetic_30s, workers):
    result = psd.welch_quantiles([synthetic_30s], raw.SAMPLE_RATE_HZ, 8192, workers=workers)
    expected, n_segments = reference([synthetic_30s], 8192)
    assert result.n_segments == n_segments == 1429
    assert max(max_db_difference(result, expected).values()) < 1e-4
    np.testing.assert_allclose(result.frequency_hz, np.fft.rfftfreq(8192, 1 / FS_HZ))


def test_equals_scipy_reference_within_1e_4_db_on_the_real_file(real_adf_path):
    """The real spectrum spans over 100 dB (anti-alias roll-off near Nyquist): float32 FFTs miss by 1e-2 dB."""
    frames = raw_decoder.read_file(real_adf_path, frame_length=raw.DEFAULT_FRAME_LENGTH)
    samples = np.ascontiguousarray(frames.records["samples"].reshape(-1))
    result = psd.welch_quantiles([samples], raw.SAMPLE_RATE_HZ, 8192)
    expected, n_segments = reference([samples], 8192)
    assert result.n_segments == n_segments == 59
    levels = psd.to_db(expected["mean"])
    assert levels.max() - levels.min() > 100
    assert max(max_db_difference(result, expected).values()) < 1e-4


def test_result_does_not_depend_on_the_number_of_workers(synthetic_30s):
    one = psd.welch_quantiles([synthetic_30s[:2_000_000]], FS_HZ, 4096, workers=1)
    two = psd.welch_quantiles([synthetic_30s[:2_000_000]], FS_HZ, 4096, workers=2)
    for name in STATISTICS:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 1000, 1001])
def test_exact_quantiles_equal_numpy_quantile(n):
    rows = np.random.default_rng(n).exponential(size=(7, n)).astype(np.float32)
    rows[0] = 1.0  # ties
    quantiles = (0.0, 0.5, 0.75, 0.95, 1.0)
    expected = np.quantile(rows.astype(np.float64), quantiles, axis=1)
    got = psd.exact_quantiles(rows.copy(), quantiles, workers=2)
    np.testing.assert_array_equal(np.array(got), expected)


@pytest.mark.parametrize("negative", [False, True])
def test_exact_quantiles_equal_numpy_quantile_at_zeros_subnormals_and_negative_values(negative):
    """Rows without a sign bit set are selected through their bit patterns, rows with one (-1, -0.0) as floats."""
    rows = np.random.default_rng(5).exponential(size=(3, 301)).astype(np.float32)
    rows[0, ::3] = 0.0
    rows[1, ::5] = 1e-42  # subnormal
    if negative:
        rows[2] -= 1.0
        rows[0, ::4] = -0.0
    quantiles = (0.0, 0.5, 0.75, 0.95, 1.0)
    expected = np.quantile(rows.astype(np.float64), quantiles, axis=1)
    np.testing.assert_array_equal(np.array(psd.exact_quantiles(rows.copy(), quantiles)), expected)


def test_order_statistics_are_the_sorted_values_at_the_ranks():
    rows = np.random.default_rng(3).normal(size=(5, 101))
    ranks = [0, 50, 51, 75, 100]
    np.testing.assert_array_equal(psd.order_statistics(rows.copy(), ranks), np.sort(rows, axis=1)[:, ranks].T)
    with pytest.raises(ValueError, match="ranks"):
        psd.order_statistics(rows, [51, 50])


def test_tone_peaks_at_its_bin_with_its_power_on_top_of_a_dc_offset():
    """A bin-centred tone A sin(2 pi f t): Hann puts A^2 nfft / (3 fs) in its bin, A^2/2 over bins k-1..k+1."""
    nfft, bin_index, amplitude = 4096, 300, 0.02
    t_s = np.arange(40 * nfft) / FS_HZ
    x = 5.0 + amplitude * np.sin(2 * np.pi * (bin_index * FS_HZ / nfft) * t_s)
    result = psd.welch_quantiles([x], FS_HZ, nfft)
    resolution_hz = FS_HZ / nfft
    assert int(np.argmax(result.mean)) == bin_index
    for name in STATISTICS:
        level = getattr(result, name)
        assert level[bin_index] == pytest.approx(amplitude**2 * nfft / (3 * FS_HZ), rel=1e-6)
        assert np.sum(level[bin_index - 1 : bin_index + 2]) * resolution_hz == pytest.approx(amplitude**2 / 2, rel=1e-6)
    assert result.mean[0] < 1e-20 * result.mean[bin_index]  # the DC offset is removed per segment


def test_white_noise_obeys_parseval_and_integrates_to_its_variance():
    """Per segment, sum_k P(f_k) df equals sum((w (x - mean))^2) / sum(w^2) exactly (one-sided Parseval)."""
    nfft, sigma = 1024, 0.3
    x = np.random.default_rng(7).normal(1.0, sigma, 200 * nfft).astype(np.float32)
    result = psd.welch_quantiles([x], FS_HZ, nfft)
    window = signal.get_window("hann", nfft)
    segments = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), nfft)[:: nfft // 2]
    windowed_power = np.sum((window * (segments - segments.mean(axis=1, keepdims=True))) ** 2, axis=1) / np.sum(window**2)
    integrated = np.sum(result.mean) * FS_HZ / nfft
    assert integrated == pytest.approx(windowed_power.mean(), rel=1e-12)  # the mean sums |Z|^2 in float64
    assert integrated == pytest.approx(sigma**2, rel=0.02)
    assert np.median(result.mean[1:-1]) == pytest.approx(2 * sigma**2 / FS_HZ, rel=0.05)  # flat: 2 sigma^2 / fs


def test_segments_never_span_gaps():
    nfft = 2048
    rng = np.random.default_rng(11)
    first, second = rng.normal(0, 1, 10 * nfft + 700), rng.normal(4, 3, 6 * nfft + 100)
    short = rng.normal(0, 1, nfft - 1)  # too short for one segment: contributes nothing
    result = psd.welch_quantiles([first, short, second], FS_HZ, nfft)
    expected, n_segments = reference([first, second], nfft)
    assert result.n_segments == n_segments == 19 + 11
    assert result.effort_s == pytest.approx((10 * nfft + 6 * nfft) / FS_HZ)  # 19 and 11 half-overlapping segments
    assert max(max_db_difference(result, expected).values()) < 1e-4
    joined = psd.welch_quantiles([np.concatenate([first, second])], FS_HZ, nfft)
    assert joined.n_segments == 31 and not np.allclose(joined.p95, result.p95)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"nfft": 1001}, "nfft=1001"), ({"nfft": 8}, "nfft=8"), ({"workers": 0}, "workers=0"),
     ({"sample_rate_hz": 0}, "sample_rate_hz=0"), ({"runs": [np.zeros((2, 4096))]}, r"runs\[0\] must be 1-D"),
     ({"runs": [np.zeros(100)]}, "no contiguous run")],
)
def test_invalid_arguments_are_named(kwargs, message):
    arguments = {"runs": [np.zeros(4096)], "sample_rate_hz": FS_HZ, "nfft": 1024, **kwargs}
    with pytest.raises(ValueError, match=message):
        psd.welch_quantiles(arguments.pop("runs"), **arguments)


def test_segment_powers_equal_scipy_spectrogram_segments():
    from hydroserve.acoustics.psd import segment_powers

    x = np.random.default_rng(11).normal(3e-3, 3e-4, 50_000).astype(np.float32)
    _, _, reference = signal.spectrogram(x.astype(np.float64), FS_HZ, window="hann", nperseg=1024, noverlap=512,
                                         detrend="constant", scaling="density")
    ours = segment_powers(x, FS_HZ, 1024)
    assert ours.shape == reference.shape == (513, (50_000 - 1024) // 512 + 1)
    np.testing.assert_allclose(10 * np.log10(ours), 10 * np.log10(reference), atol=1e-4, rtol=0)
