"""The MP3 tells the truth (issue 13, point 5): decoded by ffmpeg and by libmpg123 (soundfile) it is
time-aligned with the samples and exactly as long; its gain is fixed per sensor (calibrated: a pressure
maps to full scale), transients are soft-limited, never clipped; gain and limiting are in the ID3 tags."""

from __future__ import annotations

import io
import json
import subprocess
import tempfile

import numpy as np
import pytest
import soundfile
from scipy import signal

from hydroserve.acoustics import mp3_product
from hydroserve.acoustics.loudness import Loudness, LoudnessPolicy
from hydroserve.acoustics.product_settings import ProductSettings
from hydroserve.acoustics.sensors import Calibration
from hydroserve.codecs import mp3, raw

FS_HZ = float(raw.SAMPLE_RATE_HZ)
SETTINGS = ProductSettings()


def ffmpeg_decode(data: bytes) -> np.ndarray:
    """ffmpeg reading a file (a seekable input, as a download or an HTTP URL with Range: it then also trims the end)."""
    with tempfile.NamedTemporaryFile(suffix=".mp3") as file:
        file.write(data)
        file.flush()
        result = subprocess.run(["ffmpeg", "-v", "error", "-i", file.name, "-f", "f32le", "-ac", "1", "pipe:1"],
                                capture_output=True, check=True)
    return np.frombuffer(result.stdout, dtype="<f4")


def ffprobe(data: bytes) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".mp3") as file:
        file.write(data)
        file.flush()
        return json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", file.name],
                                         capture_output=True, check=True).stdout)


def soundfile_decode(data: bytes) -> np.ndarray:
    decoded, rate_hz = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate_hz == 48_000
    return decoded


def lag_samples(decoded: np.ndarray, reference: np.ndarray, at: int, half_width: int = 480) -> int:
    """Lag (48 kHz samples) maximising the cross-correlation of ``decoded`` with ``reference`` around sample ``at``."""
    a = decoded[at - half_width : at + half_width].astype(np.float64)
    b = reference[at - half_width : at + half_width]
    correlation = signal.correlate(a, b, mode="full")
    return int(np.argmax(correlation)) - (len(b) - 1)


def background(n, seed, rms=3e-4):
    return np.random.default_rng(seed).normal(0, rms, n).astype(np.float32)


@pytest.mark.parametrize("decode", [ffmpeg_decode, soundfile_decode], ids=["ffmpeg", "libmpg123"])
def test_decoded_mp3_is_aligned_with_the_samples_to_the_sample_at_start_and_end(decode):
    n = 390_625  # a 2 s package
    x = background(n, 1)
    clicks = (2_000, n - 3_000)  # 10 ms after the start, 15 ms before the end
    for at in clicks:
        x[at] += 5e-3  # a click 25 dB above the background, below the limiter's knee
    data, details = mp3_product.make([x], SETTINGS)
    decoded = decode(data)
    # independent reference: scipy's own resample_poly (its default filter), same gain
    reference = signal.resample_poly(x.astype(np.float64) - x.mean(dtype=np.float64), 768, 3125) * details["gain"] / 32767
    assert len(decoded) == len(reference) == details["n_samples"] == 96_000
    for at in clicks:
        at_48k = at * 768 // 3125
        assert lag_samples(decoded, reference, at_48k) == 0  # within one 48 kHz sample (21 us), far inside 1 ms
        assert abs(int(np.argmax(np.abs(decoded[at_48k - 200 : at_48k + 200]))) - 200) <= 1


def test_the_tag_says_encoder_delay_and_padding_as_ffprobe_reads_it():
    pcm = (np.random.default_rng(2).normal(0, 300, 48_000 + 123)).astype(np.int16)
    data = mp3.encode(pcm, sample_rate_hz=48_000, tags={"a": "b"}, title="t")
    tag_end = 10 + sum(b << s for b, s in zip(data[6:10], (21, 14, 7, 0)))
    offsets = mp3.frame_offsets(data[tag_end:])
    info = data[tag_end : tag_end + offsets[1]]
    assert info[21:25] == b"Info" and info[141:145] == b"LAME"
    delay_padding = int.from_bytes(info[141 + 21 : 141 + 24], "big")
    n_audio_frames = len(offsets) - 1
    assert delay_padding >> 12 == 576 and (delay_padding & 4095) == n_audio_frames * 1152 - 576 - len(pcm)
    assert int.from_bytes(info[175:177], "big") == mp3.crc16(info[:175])
    assert ffprobe(data)["format"]["tags"] == {"title": "t", "a": "b"}  # the ID3v2.4 tag, as ffprobe reads it
    assert len(ffmpeg_decode(data)) == len(soundfile_decode(data)) == len(pcm)


def test_crc16_is_crc16_arc():
    assert mp3.crc16(b"123456789") == 0xBB3D  # the check value of CRC-16/ARC


def test_gain_is_fixed_per_sensor_so_a_click_does_not_push_the_background_down():
    n = 390_625
    quiet = background(n, 3)
    loud = background(n, 4)
    loud[200_000:200_010] += 0.3  # a click 60 dB above the background
    quiet_mp3, quiet_details = mp3_product.make([quiet], SETTINGS)
    loud_mp3, loud_details = mp3_product.make([loud], SETTINGS)
    assert quiet_details["gain"] == loud_details["gain"]
    assert quiet_details["n_samples_limited"] == 0 and loud_details["n_samples_limited"] > 0
    a, b = ffmpeg_decode(quiet_mp3), ffmpeg_decode(loud_mp3)
    away = np.r_[0:40_000, 60_000:96_000]  # away from the click (at 48 kHz sample 49 152)
    level_db = [10 * np.log10(np.mean(np.square(d[away], dtype=np.float64))) for d in (a, b)]
    assert level_db[0] == pytest.approx(level_db[1], abs=0.2)  # the background sounds the same in both
    # expected background level from the gain: 3e-4 RMS, of which the 0-20 kHz band (20/97.66 of the power) passes
    expected_db = 20 * np.log10(3e-4 * quiet_details["gain"] / 32767) + 10 * np.log10(20_000 / (FS_HZ / 2))
    assert level_db[0] == pytest.approx(expected_db, abs=0.5)
    assert np.abs(b).max() < 1.0  # the click is limited, not clipped
    tags = ffprobe(loud_mp3)["format"]["tags"]  # anyone can undo it: the processing is in the file
    assert float(tags["hydroserve_gain_counts_per_sample_unit"]) == loud_details["gain"]
    assert int(tags["hydroserve_samples_limited"]) == loud_details["n_samples_limited"]
    assert float(tags["hydroserve_dc_offset_removed"]) == loud_details["dc_offset_removed"]
    assert tags["hydroserve_limiter"] == loud_details["limiter"]


def test_a_calibrated_sensor_maps_the_configured_pressure_to_full_scale():
    calibration = Calibration(sensitivity_db_re_1v_per_upa=-165.0, gain_db=20.0, volts_per_unit=2.0)
    policy = LoudnessPolicy(full_scale_db_re_1upa=140.0)
    # by hand: 1 unit = 2 V at the ADC = 2 / 10**((-165 + 20) / 20) uPa; a 120 dB re 1 uPa (1 Pa) peak tone is 20 dB below 140
    upa_per_unit = 2.0 / 10 ** (-145 / 20)
    t = np.arange(390_625) / FS_HZ
    x = (1e6 / upa_per_unit * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    # at 320 kbps: the 128 kbps default codes a pure 1 kHz tone 0.44 dB low (libmp3lame in ffmpeg does the same)
    data, details = mp3_product.make([x], ProductSettings(mp3_bit_rate_kbps=320, loudness=policy), calibration)
    assert details["gain"] == pytest.approx(32767 * upa_per_unit / 10 ** (140 / 20), rel=1e-12)
    decoded = soundfile_decode(data)[4_800:-4_800]
    assert 20 * np.log10(np.abs(decoded).max()) == pytest.approx(-20.0, abs=0.05)
    assert "140 dB re 1 uPa (peak) = int16 full scale" in details["gain_rule"]


def test_the_soft_limiter_is_the_documented_curve_and_can_be_undone():
    loudness = Loudness(gain=32767.0, knee_dbfs=-9.0, rule="test")
    knee, ceiling = 10 ** (-9 / 20), 10 ** (-3 / 20)
    x = np.array([0.0, 0.25, -0.3, knee, 0.5, -2.0, 10.0], dtype=np.float32)
    pcm, n_limited, peak_dbfs = loudness.apply(x)
    span = ceiling - knee
    expected = np.where(np.abs(x) <= knee, x, np.sign(x) * (knee + span * np.tanh((np.abs(x) - knee) / span)))
    np.testing.assert_allclose(pcm, np.rint(expected * 32767), atol=1)  # float32 arithmetic in apply
    assert n_limited == 3 and peak_dbfs == pytest.approx(20.0) and np.abs(pcm).max() <= np.ceil(ceiling * 32767)
    np.testing.assert_allclose(loudness.undo(pcm)[:5], x[:5], atol=5e-4)  # rounding to int16 only
