"""Sample-exact under real DAQ timing (issue 13): jittered time stamps and every package duration,
checked end to end through the archive and the /wav product decoded by soundfile."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from prometheus_client.parser import text_string_to_metric_families

from hydroserve.api import wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.codecs import raw, raw_decoder
from support import SENSOR, url

FRAME = 123_260
START_TICK = 1_700_000_001 * raw.TICKS_PER_SECOND + 12_345 * 16  # off the whole second and off the 320-tick lattice


def write_stream(directory, samples, deviations_ticks, frame_length=FRAME):
    """ADF files of a contiguous stream whose frame time stamps deviate by ``deviations_ticks[i]``."""
    directory.mkdir(parents=True, exist_ok=True)
    n_frames = len(samples) // frame_length
    ticks = START_TICK + np.arange(n_frames) * frame_length * raw.TICKS_PER_SAMPLE + np.asarray(deviations_ticks[:n_frames])
    path = directory / f"{SENSOR}_{START_TICK // raw.TICKS_PER_SECOND}.bin"
    path.write_bytes(raw.encode(ticks, samples[: n_frames * frame_length].reshape(n_frames, frame_length)))
    return path


def archive(tmp_path, duration_s, path):
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), snippet_duration_s=str(duration_s),
                             snippet_interval_s=duration_s, min_coverage=1e-6, psd_nfft=1024)
    engine = wiring.init_catalog(settings)
    ingestor = wiring.build_ingestor(settings, wiring.build_archive(settings, engine), retry_for_s=5)
    ingestor.feed(SENSOR, raw_decoder.read_file(path, frame_length=FRAME))
    ingestor.flush()
    engine.dispose()
    assert ingestor.report.input_problems == [] and ingestor.report.windows_skipped == {}
    return create_app(settings).test_client(), ingestor.report.packages_made


def wav_and_info(client, pid):
    wav = client.get(url(client, "acoustic.Wav", package_id=pid))
    samples, _ = soundfile.read(io.BytesIO(wav.data), dtype="float32")
    return samples, client.get(url(client, "acoustic.Info", package_id=pid)).get_json()


def adc_like(n, seed):
    """24-bit ADC values as float32 (exact multiples of 2**-23), like the real data."""
    return (np.random.default_rng(seed).integers(-2**20, 2**20, n) / 2**23).astype(np.float32)


@pytest.mark.parametrize("amplitude_ticks", [3, 150])
def test_jittered_time_stamps_lose_and_double_nothing(tmp_path, amplitude_ticks):
    n_frames = 10
    samples = adc_like(n_frames * FRAME, amplitude_ticks)
    deviations = np.random.default_rng(1).integers(-amplitude_ticks, amplitude_ticks + 1, n_frames)
    deviations[0], deviations[1:3] = 0, (-amplitude_ticks, amplitude_ticks)  # every frame jitters, both extremes occur
    client, published = archive(tmp_path, 2, write_stream(tmp_path / "adf", samples, deviations))
    parts, infos = zip(*(wav_and_info(client, pid) for pid in published))
    np.testing.assert_array_equal(np.concatenate(parts), samples)  # bit for bit, from the first sample to the last
    assert [len(info["data"]["runs"]) for info in infos] == [1] * len(infos)  # one run per contiguous stretch
    for info in infos[1:-1]:
        assert info["data"]["gaps"] == [] and info["data"]["n_samples"] == info["data"]["n_expected"] == 390625
    deviation = [info["timing"]["timestamp_deviation"] for info in infos]
    assert sum(d["n_frames_continuing"] for d in deviation) == n_frames - 1
    assert sum(d["n_frames_deviated"] for d in deviation) == np.count_nonzero(deviations[1:])
    assert max(d["max_abs_ns"] for d in deviation) == amplitude_ticks * 16
    assert infos[0]["timing"]["timing_tolerance_ns"] == 159 * 16
    # the run keeps the first frame's grid: every package starts a whole number of samples after it
    assert all((info["timing"]["start_unix_ns"] - START_TICK * 16) % 5120 == 0 for info in infos)
    # /metrics: a gauge histogram of the newest package's deviations (the only sensor's), the same counts as its /info,
    # and its largest deviation
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}
    buckets = {s.labels["le"]: s.value for s in families["hydroserve_frame_timestamp_deviation_ns"].samples
               if s.name.endswith("_bucket")}
    newest = deviation[-1]
    assert buckets["+Inf"] == newest["n_frames_continuing"] and buckets["0"] == newest["histogram_abs_ns"]["counts"][0]
    largest = {s.labels["sensor"]: s.value for s in families["hydroserve_frame_timestamp_deviation_max_ns"].samples}
    assert largest == {str(SENSOR): newest["max_abs_ns"]}


@pytest.mark.parametrize("duration_s", [1, 3, 7])
def test_packages_partition_the_stream_for_every_duration(tmp_path, duration_s):
    n_frames = -(-(3 * duration_s + 1) * 195313 // FRAME)
    samples = adc_like(n_frames * FRAME, duration_s)
    client, published = archive(tmp_path, duration_s, write_stream(tmp_path / "adf", samples, [0] * n_frames))
    parts, infos = zip(*(wav_and_info(client, pid) for pid in published))
    np.testing.assert_array_equal(np.concatenate(parts), samples)  # no sample lost, none in two packages
    for index, info in enumerate(infos):
        timing = info["timing"]
        assert timing["window_end_unix_ns"] - timing["window_start_unix_ns"] == duration_s * 10**9
        assert timing["window_start_unix_ns"] <= timing["start_unix_ns"] < timing["window_end_unix_ns"]
        assert index == 0 or timing["start_unix_ns"] < timing["window_start_unix_ns"] + 5120  # the first instant in the window
    for info in infos[1:-1]:  # complete windows: the sample instants in [B, B + duration)
        first_tick = info["timing"]["start_unix_ns"] // 16
        boundary = info["timing"]["window_start_unix_ns"] // 16
        instants = -(-(boundary + duration_s * raw.TICKS_PER_SECOND - first_tick) // raw.TICKS_PER_SAMPLE)
        assert info["data"]["n_samples"] == info["data"]["n_expected"] == instants
        assert instants in (duration_s * 390625 // 2, -(-duration_s * 390625 // 2))


def test_raw_padding_is_stated_in_info_and_km3io_reads_the_samples_once_it_is_dropped(tmp_path, real_adf_path):
    import km3io

    client, published = archive(tmp_path, 1, real_adf_path)
    pid = "DOM_808956920_CH1_1608751680"
    assert pid in published
    wav, info = wav_and_info(client, pid)
    padding = info["products"]["raw"]
    assert info["data"]["n_samples"] == 195_312 and padding["n_padding_samples"] == 2 * FRAME - 195_312  # 20.8 %
    assert padding["padding"] == [{"frame": 1, "first_padded_sample": 195_312 - FRAME, "n_padding_samples": 2 * FRAME - 195_312}]
    path = tmp_path / f"{pid}.bin"
    path.write_bytes(client.get(url(client, "acoustic.Raw", package_id=pid)).data)
    pcm = km3io.acoustics.RawAcousticReader(str(path)).pcm
    assert np.count_nonzero(np.isnan(pcm)) == padding["n_padding_samples"]
    np.testing.assert_array_equal(pcm[~np.isnan(pcm)], wav)  # the README's recipe
