"""The MP3 product: anti-alias resampling to 48 kHz (checked by decoding with soundfile) and the resampler itself."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from scipy import signal

from hydroserve.acoustics import hmd_fast, mp3_product
from hydroserve.acoustics.loudness import LoudnessPolicy
from hydroserve.acoustics.product_settings import ProductSettings
from hydroserve.acoustics.resample import LowpassSpec, PolyphaseResampler, design_lowpass, kaiser_beta, kaiser_lowpass
from hydroserve.codecs import raw

FS_HZ = float(raw.SAMPLE_RATE_HZ)
T_S = np.arange(round(2 * FS_HZ)) / FS_HZ
UNLIMITED = ProductSettings(loudness=LoudnessPolicy(full_scale_sample_units=0.1))
"""Loud enough for the signals below (peaks at most 0.03 = -10 dB re full scale), never limited."""


def decoded_spectrum_db(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make the MP3 product, decode it with libsndfile, return (frequency_hz, level in dB re the strongest line)."""
    data, details = mp3_product.make([samples.astype(np.float32)], UNLIMITED)
    assert details["n_samples_limited"] == 0
    decoded, rate_hz = soundfile.read(io.BytesIO(data), dtype="float64")
    assert rate_hz == details["sample_rate_hz"] == 48_000 and decoded.ndim == 1
    steady = decoded[4800:-4800]  # away from the encoder's start and end
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady))))
    return np.fft.rfftfreq(len(steady), 1 / rate_hz), 20 * np.log10(spectrum / spectrum.max() + 1e-30)


def level_near(frequency_hz, level_db, at_hz):
    return level_db[np.abs(frequency_hz - at_hz) < 30].max()


@pytest.mark.parametrize(("tone_hz", "alias_hz"), [(30_000, 18_000), (43_000, 5_000), (60_000, 12_000)])
def test_ultrasonic_tone_does_not_alias_into_the_audible_band(tone_hz, alias_hz):
    """Without the filter, decimating to 48 kHz folds tone_hz to alias_hz at the tone's own level."""
    x = 3e-3 + 1e-2 * np.sin(2 * np.pi * 1000 * T_S) + 1e-2 * np.sin(2 * np.pi * tone_hz * T_S)
    frequency_hz, level_db = decoded_spectrum_db(x)
    assert level_near(frequency_hz, level_db, 1000) == pytest.approx(0, abs=0.01)
    assert level_near(frequency_hz, level_db, alias_hz) < -75


def test_a_genuine_18_khz_tone_survives_the_mp3():
    """The check above could see an alias: a real 18 kHz line 40 dB down is decoded at -40 dB."""
    x = 1e-2 * np.sin(2 * np.pi * 1000 * T_S) + 1e-4 * np.sin(2 * np.pi * 18_000 * T_S)
    frequency_hz, level_db = decoded_spectrum_db(x)
    assert level_near(frequency_hz, level_db, 18_000) == pytest.approx(-40, abs=0.5)


def test_mp3_details_record_gain_and_length():
    x = (2e-3 + 0.025 * np.sin(2 * np.pi * 440 * T_S)).astype(np.float32)
    data, details = mp3_product.make([x[:200_000], x[200_000:]], UNLIMITED)
    assert details["n_samples"] == 49_152 + 46_848  # ceil(200000 * 768 / 3125) + ceil(190625 * 768 / 3125)
    assert details["dc_offset_removed"] == pytest.approx(2e-3, abs=1e-5)
    assert details["gain"] == 32767 / 0.1 and details["gain_db"] == pytest.approx(20 * np.log10(327670))
    assert details["peak_before_limiter_dbfs"] == pytest.approx(20 * np.log10(0.25), abs=0.02)
    info = soundfile.info(io.BytesIO(data))
    assert info.samplerate == 48_000 and info.channels == 1 and info.frames == details["n_samples"]


@pytest.mark.parametrize("n", [1, 7, 3125, 3126, 100_003])
def test_resampler_equals_scipy_resample_poly_with_the_same_filter(n):
    resampler = mp3_product.resampler()
    taps = design_lowpass(mp3_product.MP3_ANTI_ALIAS, FS_HZ * 768)
    x = np.random.default_rng(n).normal(0.5, 1, n).astype(np.float32)
    expected = signal.resample_poly(x.astype(np.float64) - 0.5, 768, 3125, window=taps)
    got = resampler(x, 0.5)
    assert got.dtype == np.float32 and len(got) == len(expected) == -(-n * 768 // 3125)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * np.abs(expected).max())


@pytest.mark.parametrize(("up", "down"), [(3, 2), (2, 3), (1, 4), (5, 1)])
def test_resampler_equals_scipy_resample_poly_for_other_ratios(up, down):
    taps = signal.firwin(41, 1 / max(up, down))
    x = np.random.default_rng(up * 10 + down).normal(size=1001)
    np.testing.assert_allclose(PolyphaseResampler(taps, up, down)(x), signal.resample_poly(x, up, down, window=taps), atol=1e-6)


def test_anti_alias_filter_meets_its_specification():
    spec = mp3_product.MP3_ANTI_ALIAS
    rate_hz = FS_HZ * 768
    taps = design_lowpass(spec, rate_hz)
    frequency_hz, response = signal.freqz(taps, worN=np.array([0, 10_000, spec.passband_hz, spec.stopband_hz, 30_000, 97_000.0]), fs=rate_hz)
    gain_db = 20 * np.log10(np.abs(response))
    assert np.all(np.abs(gain_db[:3]) < 2e-3)  # flat to 20 kHz (Kaiser ripple ~ 10**(-80/20))
    assert np.all(gain_db[3:] < -spec.attenuation_db)


@pytest.mark.parametrize(("passband_hz", "stopband_hz", "attenuation_db", "rate_hz"),
                         [(20_000, 28_000, 80, FS_HZ * 768), (1_000, 3_000, 40, 48_000), (10, 20, 60, 100), (30, 32, 25, 100)])
def test_lowpass_design_equals_scipy_kaiserord_and_firwin(passband_hz, stopband_hz, attenuation_db, rate_hz):
    spec = LowpassSpec(passband_hz=passband_hz, stopband_hz=stopband_hz, attenuation_db=attenuation_db)
    numtaps, beta = signal.kaiserord(attenuation_db, (stopband_hz - passband_hz) / (rate_hz / 2))
    expected = signal.firwin(numtaps | 1, (passband_hz + stopband_hz) / 2, window=("kaiser", beta), fs=rate_hz)
    taps = design_lowpass(spec, rate_hz)
    assert len(taps) == len(expected)
    np.testing.assert_allclose(taps, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("attenuation_db", [10, 21, 30, 50, 80, 110])
def test_kaiser_beta_equals_scipy(attenuation_db):
    assert kaiser_beta(attenuation_db) == pytest.approx(signal.kaiser_beta(attenuation_db), rel=1e-15, abs=0)


def test_kaiser_lowpass_equals_scipy_firwin_for_the_hmd_filter():
    beta = kaiser_beta(hmd_fast.FILTER_ATTENUATION_DB)
    taps = kaiser_lowpass(hmd_fast.FILTER_TAPS, hmd_fast.FILTER_CUTOFF_HZ, beta, FS_HZ)
    expected = signal.firwin(hmd_fast.FILTER_TAPS, hmd_fast.FILTER_CUTOFF_HZ, window=("kaiser", beta), fs=FS_HZ)
    np.testing.assert_allclose(taps, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_invalid_designs_are_named():
    with pytest.raises(ValueError, match="stopband_hz=10"):
        LowpassSpec(passband_hz=20, stopband_hz=10, attenuation_db=80)
    with pytest.raises(ValueError, match="taps must be 1-D with an odd length"):
        PolyphaseResampler(np.ones(4), 2, 3)
