"""Acoustic endpoints: products decoded by real clients, values checked against references."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile
from scipy import signal

from hydroserve.acoustics import catalog
from hydroserve.api import wiring
from hydroserve.codecs import raw, raw_decoder
from support import archive_files, read_stored_samples, synthetic_adf, url

FS = 195312.5
FIRST = "DOM_808956920_CH1_1608751680"


@pytest.fixture(scope="module")
def settings(module_settings):
    """One archive per engine for the module: its tests read it (one deletes a blob that a read regenerates
    identically)."""
    return module_settings


@pytest.fixture(scope="module")
def two_packages(settings):
    """Packages 1608751680 and ..82 complete; frame 8 of the ADF input is missing: ..84 has a gap."""
    report = archive_files(settings, synthetic_adf(settings.data_dir.parent / "adf", n_frames=11, frames_per_file=4,
                                                   drop_frames={8}))
    assert report.packages_made == [FIRST, "DOM_808956920_CH1_1608751682", "DOM_808956920_CH1_1608751684"]
    return report


def stored_samples(settings, pid):
    engine = wiring.init_catalog(settings)
    with engine.connect() as conn:
        record = catalog.get_package(conn, pid)
    return record, read_stored_samples(wiring.open_blobs(settings), record.samples_key)



def test_raw_is_read_by_km3io_with_the_ingested_samples_and_times(app, client, settings, two_packages, tmp_path):
    from km3io.acoustics import RawAcousticReader

    response = client.get(url(app, "acoustic.Raw", package_id=FIRST))
    assert response.status_code == 200 and response.mimetype == "application/km3net-acoustic"
    assert response.headers["Content-Disposition"] == f"inline; filename={FIRST}.bin"
    path = tmp_path / f"{FIRST}.bin"
    path.write_bytes(response.data)
    reader = RawAcousticReader(str(path))
    record, samples = stored_samples(settings, FIRST)
    pcm = reader.pcm
    assert reader.id == "808956920"
    assert np.isnan(pcm[len(samples):]).all() and len(pcm) == 4 * 123260  # 390625 samples: 3 frames + a padded one
    np.testing.assert_array_equal(pcm[: len(samples)], samples)
    seconds, cycles = reader.timestamps
    ticks = seconds.astype(np.int64) * raw.TICKS_PER_SECOND + cycles
    np.testing.assert_array_equal(ticks, record.start_tick + np.arange(4) * 123260 * raw.TICKS_PER_SAMPLE)


def test_raw_with_a_gap_reimports_to_the_same_samples(app, client, settings, two_packages, tmp_path):
    pid = "DOM_808956920_CH1_1608751684"
    record, samples = stored_samples(settings, pid)
    assert len(record.gaps) == 1 and record.gaps[0].duration_s == pytest.approx(123260 / FS, abs=1e-5)
    data = client.get(url(app, "acoustic.Raw", package_id=pid)).data
    frames = raw_decoder.decode(data, frame_length=raw.DEFAULT_FRAME_LENGTH, source="raw")
    assert frames.issues == ()
    rebuilt = np.concatenate([frames.samples[i, : frames.valid_lengths[i]] for i in range(len(frames))])
    np.testing.assert_array_equal(rebuilt, samples)
    info = client.get(url(app, "acoustic.Info", package_id=pid)).json
    padded = info["products"]["raw"]["padding"]
    assert [p["frame"] for p in padded] == [i for i in range(len(frames)) if frames.valid_lengths[i] < raw.DEFAULT_FRAME_LENGTH]


def test_wav_is_float32_with_bit_identical_samples(app, client, settings, two_packages):
    response = client.get(url(app, "acoustic.Wav", package_id=FIRST))
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    info = soundfile.info(io.BytesIO(response.data))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (195312, 1, "FLOAT", 390625)
    decoded, _ = soundfile.read(io.BytesIO(response.data), dtype="float32")
    _, samples = stored_samples(settings, FIRST)
    np.testing.assert_array_equal(decoded, samples)


@pytest.mark.skipif(not (shutil.which("sox") and shutil.which("ffprobe")), reason="sox/ffprobe not installed (.ci/run installs them)")
def test_wav_is_read_by_sox_and_ffmpeg(app, client, two_packages, tmp_path):
    path = tmp_path / "p.wav"
    path.write_bytes(client.get(url(app, "acoustic.Wav", package_id=FIRST)).data)
    sox = subprocess.run(["sox", "--i", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Sample Rate    : 195312" in sox and "390625 samples" in sox and "32-bit Floating Point PCM" in sox
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)], capture_output=True, text=True, check=True
    ).stdout)["streams"][0]
    assert (probe["codec_name"], probe["sample_rate"], probe["channels"]) == ("pcm_f32le", "195312", 1)


def test_mp3_is_48khz_mono_with_the_snippet_duration(app, client, two_packages):
    response = client.get(url(app, "acoustic.Mp3", package_id=FIRST))
    assert response.status_code == 200 and response.mimetype == "audio/mpeg"
    decoded, rate = soundfile.read(io.BytesIO(response.data))
    assert rate == 48000 and decoded.ndim == 1
    assert len(decoded) == 96_000  # gapless (LAME tag): exactly ceil(390625 * 768 / 3125) samples, no delay or padding
    info = client.get(url(app, "acoustic.Info", package_id=FIRST)).get_json()["products"]["mp3"]
    assert info["n_samples"] == 96_000 and info["gain"] == 32767 / 0.01  # uncalibrated: the fixed default gain
    assert np.abs(decoded).max() < 1.0 and info["decoded_start_offset_s"] == 0.0


def test_mp3_resampling_keeps_ultrasound_out_of_the_audible_band():
    from hydroserve.acoustics.loudness import LoudnessPolicy
    from hydroserve.acoustics.mp3_product import make as make_mp3
    from hydroserve.acoustics.product_settings import ProductSettings

    t = np.arange(int(2 * FS)) / FS
    audible = np.sin(2 * np.pi * 1000 * t)
    ultrasound = np.sin(2 * np.pi * 30_000 * t) + np.sin(2 * np.pi * 40_000 * t)
    data, details = make_mp3([(audible + ultrasound).astype(np.float32)], ProductSettings(mp3_bit_rate_kbps=320, mp3_quality=2, loudness=LoudnessPolicy(full_scale_sample_units=6.0)))
    decoded, rate = soundfile.read(io.BytesIO(data))
    spectrum = np.abs(np.fft.rfft(decoded[4800:-4800] * np.hanning(len(decoded) - 9600)))
    freqs = np.fft.rfftfreq(len(decoded) - 9600, 1 / rate)
    level_db = 20 * np.log10(spectrum / spectrum.max())
    for alias_hz in (48000 - 30000, 48000 - 40000):  # where LAME's own resampler would fold them: 18 and 8 kHz
        near = np.abs(freqs - alias_hz) < 50
        assert level_db[near].max() < -50, f"alias at {alias_hz} Hz: {level_db[near].max():.1f} dB"
    assert abs(freqs[np.argmax(spectrum)] - 1000) < 10
    assert details["sample_rate_hz"] == 48000 and details["gain_db"] > 0


SCIPY_SETTINGS = dict(fs=FS, window="hann", detrend="constant", scaling="density")


def reference_psd(runs, nfft=8192):
    """scipy's spectrogram segments of every run (float64) and their mean."""
    segments = np.concatenate(
        [signal.spectrogram(run.astype(np.float64), nperseg=nfft, noverlap=nfft // 2, **SCIPY_SETTINGS)[2] for run in runs], axis=1
    )
    return segments, segments.mean(axis=1)


def db(x):
    return 10 * np.log10(x)


def test_psd_equals_the_scipy_reference(app, client, settings, two_packages):
    record, samples = stored_samples(settings, FIRST)
    document = client.get(url(app, "acoustic.Psd", package_id=FIRST)).json
    segments, mean = reference_psd([samples])
    assert document["unit"] == "dB re 1 (sample unit)^2/Hz" and document["calibrated"] is False
    assert document["n_segments"] == segments.shape[1] == (390625 - 8192) // 4096 + 1
    assert document["nfft"] == 8192 and document["overlap_samples"] == 4096 and document["window"] == "hann"
    np.testing.assert_allclose(document["frequency_hz"], np.arange(4097) * FS / 8192)
    _, welch = signal.welch(samples.astype(np.float64), nperseg=8192, noverlap=4096, average="mean", **SCIPY_SETTINGS)
    np.testing.assert_allclose(document["mean"], db(welch), atol=1e-4, rtol=0)
    for name, q in (("median", 0.5), ("p75", 0.75), ("p95", 0.95)):
        np.testing.assert_allclose(document[name], db(np.quantile(segments, q, axis=1)), atol=1e-4, rtol=0)


def test_psd_segments_do_not_span_the_gap(app, client, settings, two_packages):
    pid = "DOM_808956920_CH1_1608751684"
    record, samples = stored_samples(settings, pid)
    runs = [samples[r.first_sample : r.first_sample + r.n_samples] for r in record.runs]
    assert len(runs) == 2
    document = client.get(url(app, "acoustic.Psd", package_id=pid)).json
    segments, mean = reference_psd(runs)
    assert document["n_segments"] == segments.shape[1] < (len(samples) - 8192) // 4096 + 1
    np.testing.assert_allclose(document["mean"], db(mean), atol=1e-4, rtol=0)
    np.testing.assert_allclose(document["p95"], db(np.quantile(segments, 0.95, axis=1)), atol=1e-4, rtol=0)


def test_psd_band_and_nfft_parameters(app, client, settings, two_packages):
    full = client.get(url(app, "acoustic.Psd", package_id=FIRST)).json
    band = client.get(url(app, "acoustic.Psd", package_id=FIRST, fmin=1000, fmax=2000)).json
    f = np.array(full["frequency_hz"])
    pick = (f >= 1000) & (f <= 2000)
    assert band["frequency_hz"] == f[pick].tolist() and band["median"] == np.array(full["median"])[pick].tolist()
    assert band["fmin_hz"] >= 1000 and band["fmax_hz"] <= 2000
    coarse = client.get(url(app, "acoustic.Psd", package_id=FIRST, nfft=1024)).json
    _, samples = stored_samples(settings, FIRST)
    segments, mean = reference_psd([samples], nfft=1024)
    assert coarse["nfft"] == 1024 and len(coarse["frequency_hz"]) == 513
    np.testing.assert_allclose(coarse["median"], db(np.quantile(segments, 0.5, axis=1)), atol=1e-4, rtol=0)
    bad = client.get(url(app, "acoustic.Psd", package_id=FIRST, fmin=3000, fmax=2000))
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json" and "fmin" in bad.json["errors"]["query"]
    assert client.get(url(app, "acoustic.Psd", package_id=FIRST, nfft=1000)).status_code == 400


def test_info_describes_timing_calibration_and_products_exactly(app, client, settings, two_packages):
    info = client.get(url(app, "acoustic.Info", package_id=FIRST)).json
    timing, data = info["timing"], info["data"]
    assert timing["sample_rate_hz"] == 195312.5 and timing["wav_header_sample_rate_hz"] == 195312
    assert timing["window_start"] == "2020-12-23T19:28:00.000000Z" and timing["start"] == "2020-12-23T19:28:00.000002Z"
    record, _ = stored_samples(settings, FIRST)
    assert timing["start_unix_ns"] == record.start_tick * 16
    assert data["n_samples"] == data["n_expected"] == 390625 and data["gaps"] == [] and data["adf_frame_length"] == 123260
    assert info["calibration"]["calibrated"] is False and info["calibration"]["psd_unit"] == "dB re 1 (sample unit)^2/Hz"
    for kind, product in info["products"].items():
        body = client.get(product["url"]).data
        assert len(body) == product["size_bytes"] and hashlib.sha256(body).hexdigest() == product["sha256"], kind
    assert info["products"]["mp3"]["sample_rate_hz"] == 48000 and "gain_db" in info["products"]["mp3"]
    assert [step["id"] for step in info["provenance"]] == ["hydroserve:cut", "hydroserve:raw", "hydroserve:wav", "hydroserve:flac",
                                                           "hydroserve:mp3", "hydroserve:psd", "hydroserve:hmd"]
    hmd = info["products"]["hmd"]  # 2 s from 19:28:00.000002: one partial UTC minute, 3 whole 1 s segments
    assert (hmd["media_type"], hmd["n_minutes"], hmd["n_segments"], hmd["effort_s"]) == ("application/x-npz", 1, [3], [2.0])
    assert (hmd["psd_unit"], hmd["calibrated"], hmd["calibration"]["calibrated"]) == ("dB re 1 (sample unit)²/Hz", False, False)


def test_range_etag_and_conditional_requests(app, client, two_packages):
    wav_url = url(app, "acoustic.Wav", package_id=FIRST)
    full = client.get(wav_url)
    etag, size = full.headers["ETag"], len(full.data)
    assert full.headers["Accept-Ranges"] == "bytes" and "immutable" in full.headers["Cache-Control"]
    part = client.get(wav_url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.data == full.data[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{size}"
    tail = client.get(wav_url, headers={"Range": "bytes=-44"})
    assert tail.status_code == 206 and tail.data == full.data[-44:]
    assert client.get(wav_url, headers={"If-None-Match": etag}).status_code == 304
    since = full.headers["Last-Modified"]
    assert client.get(wav_url, headers={"If-Modified-Since": since}).status_code == 304
    beyond = client.get(wav_url, headers={"Range": f"bytes={size + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    psd_url = url(app, "acoustic.Psd", package_id=FIRST)
    psd_etag = client.get(psd_url).headers["ETag"]
    assert client.get(psd_url, headers={"If-None-Match": psd_etag}).status_code == 304
    band_url = url(app, "acoustic.Psd", package_id=FIRST, fmin=100)
    band_etag = client.get(band_url).headers["ETag"]
    assert band_etag != psd_etag and client.get(band_url, headers={"If-None-Match": band_etag}).status_code == 304


def test_package_listing_pages_with_a_cursor(app, client, two_packages):
    everything = [p["package_id"] for p in client.get(url(app, "acoustic.Packages", limit=100)).json["items"]]
    assert everything == ["DOM_808956920_CH1_1608751684", "DOM_808956920_CH1_1608751682", FIRST]
    seen, link = [], url(app, "acoustic.Packages", limit=2)
    while link:
        page = client.get(link)
        seen += [p["package_id"] for p in page.json["items"]]
        link = page.json["next"]
        if link:
            assert page.headers["Link"] == f'<{link}>; rel="next"'
    assert seen == everything
    oldest = client.get(url(app, "acoustic.Packages", order="oldest", start="2020-12-23T19:28:02Z", end="2020-12-23T19:28:04Z")).json
    assert [p["package_id"] for p in oldest["items"]] == ["DOM_808956920_CH1_1608751682"]
    assert client.get(url(app, "acoustic.Packages", sensor="DOM_1_CH1")).json["items"] == []


@pytest.mark.parametrize(
    "query, parameter",
    [({"limit": 0}, "limit"), ({"limit": "many"}, "limit"), ({"limit": 10**12}, "limit"), ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
     ({"start": "2020-12-23T19:28:02"}, "start"), ({"sensor": "hydrophone"}, "sensor"), ({"colour": "blue"}, "colour")],
)
def test_malformed_listing_parameters_are_400_naming_the_parameter(app, client, two_packages, query, parameter):
    response = client.get(url(app, "acoustic.Packages", **query))
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert parameter in response.json["detail"]


def test_unknown_and_impossible_packages_are_404_problems(app, client, two_packages):
    for package_id in ("DOM_808956920_CH1_1", "../../etc/passwd", "DOM_" + "9" * 300):
        response = client.get(f"/api/v1/packages/{package_id}/wav")
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
        assert response.json["status"] == 404


def test_missing_product_blob_is_regenerated_identically(app, client, settings, two_packages):
    info = client.get(url(app, "acoustic.Info", package_id=FIRST)).json
    engine = wiring.init_catalog(settings)
    with engine.connect() as conn:
        record = catalog.get_package(conn, FIRST)
    blob = settings.blob_dir / record.products["mp3"].blob_key
    blob.unlink()
    response = client.get(url(app, "acoustic.Mp3", package_id=FIRST))
    assert response.status_code == 200 and hashlib.sha256(response.data).hexdigest() == info["products"]["mp3"]["sha256"]
    assert blob.is_file()


def test_openapi_document_and_docs_page(app, client):
    spec = client.get(url(app, "api-docs.openapi_json")).json
    assert spec["openapi"].startswith("3.") and {"/api/v1/packages", "/api/v1/packages/{package_id}/psd"} <= set(spec["paths"])
    psd_params = {p["name"] for p in spec["paths"]["/api/v1/packages/{package_id}/psd"]["get"]["parameters"]}
    assert {"fmin", "fmax", "nfft"} <= psd_params
    docs = client.get(url(app, "api-docs.openapi_swagger_ui"))
    assert docs.status_code == 200 and b"/api/v1/docs/static/swagger-ui-bundle.js" in docs.data
    assert client.get("/api/v1/docs/static/swagger-ui-bundle.js").status_code == 200


def test_health_and_readiness(client):
    assert client.get(url(client, "health.healthz")).json == {"status": "ok"}
    assert client.get(url(client, "health.readyz")).json == {"status": "ready"}
