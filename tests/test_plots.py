"""Spectrogram in bounded memory, band levels and the PNG pictures (signal side, no HTTP)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from hydroserve.acoustics import bands, plots
from hydroserve.acoustics.psd import Psd, welch_quantiles
from hydroserve.acoustics.spectrogram import column_count, stored_spectrogram
from hydroserve.acoustics.window import Run
from hydroserve.codecs.raw import SAMPLE_RATE_HZ, TICKS_PER_SAMPLE

FS = float(SAMPLE_RATE_HZ)
START = 1_000_000 * 62_500_000


def stored(samples: np.ndarray) -> io.BytesIO:
    return io.BytesIO(samples.astype("<f4").tobytes())


def tone(frequency_hz: float, n_samples: int, first_sample: int = 0) -> np.ndarray:
    return np.sin(2 * np.pi * frequency_hz * (first_sample + np.arange(n_samples)) / FS)


def test_each_column_peaks_at_the_tone_playing_then():
    n = 2 * 195_312  # 2 s: 10 kHz, then 30 kHz
    samples = np.concatenate([tone(10_000, n // 2), tone(30_000, n - n // 2, n // 2)])
    result = stored_spectrogram(stored(samples), (Run(START, 0, n),), window_start_tick=START, n_expected=n,
                                sample_rate_hz=SAMPLE_RATE_HZ, nfft=1024, max_columns=100)
    assert result.power.shape == (513, 100) and result.segments_per_column.min() >= 3
    peaks_hz = result.frequency_hz[np.argmax(result.power, axis=0)]
    resolution_hz = FS / 1024
    first, last = result.time_s < 0.99, result.time_s > 1.01
    assert np.abs(peaks_hz[first] - 10_000).max() <= resolution_hz
    assert np.abs(peaks_hz[last] - 30_000).max() <= resolution_hz


def test_white_noise_level_is_two_variance_over_rate():
    """Parseval: white noise of variance s^2 has a one-sided PSD of 2 s^2 / fs."""
    sigma = 0.25
    samples = np.random.default_rng(1).normal(0, sigma, 400_000)
    result = stored_spectrogram(stored(samples), (Run(START, 0, len(samples)),), window_start_tick=START,
                                n_expected=len(samples), sample_rate_hz=SAMPLE_RATE_HZ, nfft=512, max_columns=50)
    assert np.mean(result.power[1:-1]) == pytest.approx(2 * sigma**2 / FS, rel=0.02)


def test_a_gap_leaves_its_columns_empty_and_never_filled():
    """Two runs of 0.8 s with 0.4 s missing between them fill a 2 s window."""
    run_samples = round(0.8 * FS)
    gap_ticks = round(0.4 * FS) * TICKS_PER_SAMPLE
    runs = (Run(START, 0, run_samples), Run(START + run_samples * TICKS_PER_SAMPLE + gap_ticks, run_samples, run_samples))
    samples = np.random.default_rng(2).normal(0, 1, 2 * run_samples)
    n_expected = round(2 * FS)
    result = stored_spectrogram(stored(samples), runs, window_start_tick=START, n_expected=n_expected,
                                sample_rate_hz=SAMPLE_RATE_HZ, nfft=1024, max_columns=200)
    in_gap = (result.time_s - result.column_s / 2 >= 0.8) & (result.time_s + result.column_s / 2 <= 1.2)
    assert in_gap.sum() >= 35
    assert np.isnan(result.power[:, in_gap]).all() and (result.segments_per_column[in_gap] == 0).all()
    inside_runs = (result.time_s + result.column_s / 2 <= 0.79) | (result.time_s - result.column_s / 2 >= 1.21)
    assert np.isfinite(result.power[:, inside_runs]).all() and (result.segments_per_column[inside_runs] > 0).all()
    assert result.segments_per_column.sum() == 2 * ((run_samples - 1024) // 512 + 1)


def test_reading_in_small_chunks_gives_the_same_spectrogram():
    samples = np.random.default_rng(3).normal(0, 1, 300_000)
    runs = (Run(START, 0, 120_000), Run(START + 130_000 * TICKS_PER_SAMPLE, 120_000, 180_000))
    common = dict(window_start_tick=START, n_expected=310_000, sample_rate_hz=SAMPLE_RATE_HZ, nfft=256, max_columns=300)
    whole = stored_spectrogram(stored(samples), runs, chunk_segments=100_000, **common)
    chunked = stored_spectrogram(stored(samples), runs, chunk_segments=7, **common)
    np.testing.assert_array_equal(whole.segments_per_column, chunked.segments_per_column)
    np.testing.assert_allclose(chunked.power, whole.power, rtol=1e-9, equal_nan=True)


def test_columns_are_never_narrower_than_a_segment():
    assert column_count(390_625, 1024, 800) == 381
    assert column_count(58_593_750, 1024, 800) == 800
    assert column_count(100, 1024, 800) == 1
    with pytest.raises(ValueError, match="max_columns=0"):
        column_count(1000, 16, 0)


def test_band_level_is_the_power_average_in_db():
    frequency = np.arange(11) * 100.0
    median = np.array([1, 1, 1e-3, 1e-2, 1e-1, 1, 1, 1, 1, 1, 1])
    flat = np.ones(11)
    result = Psd(frequency, flat, median, flat, flat, 20, 5, 1.0)
    levels = bands.band_levels_db(result, (bands.Band(200, 400), bands.Band(1000, None)))
    np.testing.assert_allclose(levels, [10 * np.log10(0.111 / 3), 0.0])
    assert bands.band_levels_db(result, (bands.Band(200, 400),), "mean") == pytest.approx(0.0)
    with pytest.raises(ValueError, match="holds no frequency"):
        bands.band_levels_db(result, (bands.Band(1001, 1050),))
    with pytest.raises(ValueError, match="statistic='p99'"):
        bands.band_levels_db(result, (bands.Band(0, 100),), "p99")
    assert [b.label for b in bands.DEFAULT_BANDS] == ["0.1–1 kHz", "1–10 kHz", "10–50 kHz", "50 kHz–Nyquist"]


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def test_pictures_are_pngs_of_the_stated_sizes():
    samples = tone(5_000, 100_000) + np.random.default_rng(4).normal(0, 0.1, 100_000)
    result = welch_quantiles([samples], SAMPLE_RATE_HZ, 1024)
    for log_frequency in (False, True):
        data = plots.psd_png(result, offset_db=0.0, unit="dB re 1 (sample unit)²/Hz", title="t", log_frequency=log_frequency)
        assert png_size(data) == plots.PSD_SIZE_PX
    spectrogram = stored_spectrogram(stored(samples), (Run(START, 0, 100_000),), window_start_tick=START,
                                     n_expected=100_000, sample_rate_hz=SAMPLE_RATE_HZ)
    assert png_size(plots.spectrogram_png(spectrogram, offset_db=115.0, unit="dB re 1 µPa²/Hz", title="t")) == plots.SPECTROGRAM_SIZE_PX
    assert png_size(plots.spectrogram_thumbnail_png(spectrogram, offset_db=115.0)) == plots.THUMBNAIL_SIZE_PX
    levels = np.array([[1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5]])
    starts = [datetime(2020, 12, 23, 19, 28, tzinfo=UTC), datetime(2020, 12, 23, 19, 33, tzinfo=UTC)]
    data = plots.band_levels_png(starts, levels, bands.DEFAULT_BANDS, unit="dB", title="t")
    assert png_size(data) == plots.BAND_LEVELS_SIZE_PX


def test_colour_range_spans_the_percentiles_in_whole_db():
    levels = np.concatenate([np.linspace(-100.0, -50.0, 1001), [np.nan, -np.inf]])
    assert plots.colour_range_db(levels) == (-100.0, -50.0)
    with pytest.raises(ValueError, match="no finite level"):
        plots.colour_range_db(np.array([np.nan]))
