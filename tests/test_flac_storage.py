"""Samples that are exact 24-bit ADC counts are stored as FLAC (verified bit for bit), read by real decoders, and
/raw, /wav (with Range) and /flac come from that store; other samples stay float32, and /flac says why it is absent."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import shutil
import subprocess

import numpy as np
import pytest
import soundfile

from hydroserve.acoustics import sample_storage
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.api import wiring
from hydroserve.codecs import flac, raw, raw_decoder
from hydroserve.samples.synthetic import SyntheticSensor, write_adf_files
from support import REAL_FILE, REAL_START_TICK, SENSOR, package_record, url

PID = "DOM_808956920_CH1_1608751680"
NEEDS_FLAC_TOOLS = pytest.mark.skipif(not (shutil.which("flac") and shutil.which("ffprobe") and shutil.which("ffmpeg")),
                                      reason="flac/ffmpeg not installed (.ci/run installs them)")


@pytest.fixture(scope="module")
def real_samples() -> np.ndarray:
    from km3net_testdata import data_path

    frames = raw_decoder.read_file(data_path(REAL_FILE), frame_length=raw.DEFAULT_FRAME_LENGTH)
    return frames.samples.reshape(-1).astype(np.float32)


@pytest.fixture(scope="module")
def real_flac(real_samples) -> bytes:
    return b"".join(flac.encode_samples(real_samples, sample_rate_hz=195312,
                                        comments=[("SAMPLE_RATE_EXACT_HZ", "195312.5"), ("TITLE", "real")]))


# --- the codec -------------------------------------------------------------------------------------------------------

def test_exact_counts_accept_24_bit_values_only():
    ok = np.array([0.0, -1.0, (2**23 - 1) / 2**23, 38709 / 2**23, -1 / 2**23], dtype=np.float32)
    np.testing.assert_array_equal(flac.exact_counts(ok), [0, -(2**23), 2**23 - 1, 38709, -1])
    for bad in (-0.0, np.nan, np.inf, 1.0, 0.5 / 2**23, 3e-4):  # -0.0 would come back as +0.0: not bit for bit
        assert flac.exact_counts(np.array([0.25, bad], dtype=np.float32)) is None, bad


def test_the_real_file_is_24_bit_and_compresses_to_0_38_losslessly(real_samples, real_flac):
    counts = flac.exact_counts(real_samples)
    assert counts is not None and int(np.abs(counts).max()) == 38709  # counts seen in the KM3NeT test file
    ratio = len(real_flac) / real_samples.nbytes
    assert 0.36 < ratio < 0.40, ratio
    decoded, rate = soundfile.read(io.BytesIO(real_flac), dtype="int32")  # libsndfile reads FLAC at 195312 Hz
    assert rate == 195312
    np.testing.assert_array_equal(((decoded >> 8) / 2**23).astype(np.float32).view(np.uint32), real_samples.view(np.uint32))


def test_header_carries_streaminfo_seektable_and_the_exact_rate(real_samples, real_flac):
    header = flac.read_header(io.BytesIO(real_flac).read)
    info = header.stream_info
    assert (info.sample_rate_hz, info.channels, info.bits_per_sample, info.total_samples) == (195312, 1, 24, 246520)
    assert (info.min_block_size, info.max_block_size) == (4096, 4096)
    assert info.md5 == hashlib.md5(b"".join(int(c).to_bytes(3, "little", signed=True)
                                            for c in flac.exact_counts(real_samples))).digest()
    n_frames = -(-246520 // 4096)
    assert [p[0] for p in header.seek_points] == list(range(0, n_frames * 4096, 16 * 4096))
    assert header.seek_points[0][1] == 0 and header.comment("sample_rate_exact_hz") == "195312.5"
    frame_start = header.size_bytes + header.seek_points[1][1]
    assert real_flac[frame_start : frame_start + 2] == b"\xff\xf8"  # a frame sync code (fixed block size) where it points


@NEEDS_FLAC_TOOLS
def test_flac_and_ffmpeg_read_the_stream_bit_for_bit(real_samples, real_flac, tmp_path):
    path = tmp_path / "real.flac"
    path.write_bytes(real_flac)
    tested = subprocess.run(["flac", "-t", str(path)], capture_output=True, text=True)
    assert tested.returncode == 0 and "ok" in tested.stderr  # decodes, frame CRCs and the STREAMINFO MD5 match
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                                      capture_output=True, text=True, check=True).stdout)
    stream = probe["streams"][0]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"], stream["bits_per_raw_sample"]) == ("flac", "195312", 1, "24")
    assert probe["format"]["tags"]["SAMPLE_RATE_EXACT_HZ"] == "195312.5"
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s32le", "pipe:1"], capture_output=True, check=True).stdout
    counts = np.frombuffer(pcm, dtype="<i4") >> 8
    np.testing.assert_array_equal((counts / 2**23).astype(np.float32).view(np.uint32), real_samples.view(np.uint32))


def test_a_read_decodes_only_the_frames_it_needs(tmp_path):
    """A 4 kB read in the middle of 60 s of samples reads a few kB of the 30 MB FLAC blob (the seek table's work)."""
    samples = SyntheticSensor(SENSOR).samples(1608751680 * 195312, round(60 * 195312.5))
    data = b"".join(flac.encode_samples(samples, sample_rate_hz=195312))

    class Counting(io.BytesIO):
        read_bytes = 0

        def readinto(self, buffer):
            n = super().readinto(buffer)
            Counting.read_bytes += n
            return n

    with sample_storage.FlacSamples(Counting(data), len(samples)) as reader:
        opened = Counting.read_bytes
        reader.seek(4 * 7_000_001)
        piece = reader.read(4096)
    assert piece == samples[7_000_001 : 7_000_001 + 1024].tobytes()
    assert opened < 200_000 and Counting.read_bytes - opened < 600_000 < len(data) // 20, (opened, Counting.read_bytes, len(data))


# --- ingest and serving ----------------------------------------------------------------------------------------------

@pytest.fixture
def package(archived, synthetic_files, settings):
    """One 2 s package of synthetic 24-bit counts (stored as FLAC)."""
    assert archived(synthetic_files(n_frames=5)).packages_made == [PID]
    return package_record(settings, PID)


@pytest.fixture
def float32_settings(settings):
    return dataclasses.replace(settings, samples_storage="float32")


def test_configured_float32_storage_has_no_flac_and_says_why(float32_settings, synthetic_files):
    from hydroserve.api.app import create_app

    engine = wiring.init_catalog(float32_settings)
    ingestor = wiring.build_ingestor(float32_settings, wiring.build_archive(float32_settings, engine), retry_for_s=5)
    for path in synthetic_files(n_frames=5):
        ingestor.feed(SENSOR, raw_decoder.read_file(path, frame_length=raw.DEFAULT_FRAME_LENGTH))
    record = package_record(float32_settings, PID)
    assert record.samples_key.endswith(".f32") and "flac" not in record.products
    client = create_app(float32_settings).test_client()
    info = client.get(url(client, "acoustic.Info", package_id=PID)).json
    assert info["data"]["storage"]["form"] == "float32" and info["data"]["storage"]["compression_ratio"] == 1.0
    assert "flac" not in client.get(url(client, "acoustic.Package", package_id=PID)).json["links"]
    missing = client.get(f"/api/v1/packages/{PID}/flac")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert 'samples_storage = "float32"' in missing.json["detail"] and "/wav" in missing.json["detail"]


def test_unquantised_samples_stay_float32(tmp_path):
    blobs = LocalBlobStore(tmp_path, fsync=False)
    samples = SyntheticSensor(SENSOR, adc_bits=None).samples(0, 50_000)
    stored = sample_storage.store(samples, prefix="s/p", package_id="p", start_tick=0, storage="auto", blobs=blobs)
    assert (stored.key, stored.form, stored.flac_product) == ("s/p.f32", "float32", None)
    assert "not every sample is an exact 24-bit count" in stored.reason
    assert (tmp_path / "s/p.f32").read_bytes() == samples.tobytes()


def test_a_flac_that_does_not_decode_to_the_samples_is_never_stored(tmp_path, monkeypatch, caplog):
    """Verification compares every decoded sample: an encoder that changed one count leaves float32 (and an error)."""
    blobs = LocalBlobStore(tmp_path, fsync=False)
    samples = SyntheticSensor(SENSOR).samples(0, 50_000)
    encode = flac.encode_samples

    def off_by_one(samples, **kw):
        changed = samples.copy()
        changed[31_337] += np.float32(2**-23)  # one count more
        return encode(changed, **kw)

    monkeypatch.setattr(flac, "encode_samples", off_by_one)
    with caplog.at_level(logging.ERROR):
        stored = sample_storage.store(samples, prefix="s/p", package_id="p", start_tick=0, storage="auto", blobs=blobs)
    assert stored.form == "float32" and "sample 31337 decodes to" in stored.reason
    assert not (tmp_path / "s/p.flac").exists() and (tmp_path / "s/p.f32").read_bytes() == samples.tobytes()
    assert "FLAC verification failed" in caplog.text


def test_damaged_flac_is_never_served_whole_then_answers_503(app, client, package, settings, runner):
    paths = {kind: url(app, f"acoustic.{kind}", package_id=PID) for kind in ("Wav", "Raw", "Flac")}
    path = settings.blob_dir / package.samples_key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    for kind, product_path in paths.items():
        response = client.get(product_path)
        try:
            body = response.get_data()
        except Exception:  # the stream stopped at the bad chunk
            body = None
        assert body is None or response.status_code == 503, kind
    info = client.get(url(app, "acoustic.Info", package_id=PID)).json["integrity"]
    assert info["damaged"] is True and [d["blob_key"] for d in info["damage"]] == [package.samples_key]
    result = runner("verify", "--json")
    assert result.exit_code != 0 and [d["blob_key"] for d in result.json()["damaged"]] == [package.samples_key]


def test_samples_storage_is_validated():
    with pytest.raises(ValueError, match="samples_storage='zstd' must be one of"):
        sample_storage.store(np.zeros(4, np.float32), prefix="p", package_id="p", start_tick=0, storage="zstd", blobs=None)


def test_synthetic_sensor_is_24_bit_like_the_real_adc():
    samples = SyntheticSensor(SENSOR).samples(123_456_789, 200_000)
    counts = flac.exact_counts(samples)
    assert counts is not None and 1000 < counts.std() < 5000  # ~2500 counts of background, as the real file's 3e-4
    unquantised = SyntheticSensor(SENSOR, adc_bits=None).samples(123_456_789, 200_000)
    assert flac.exact_counts(unquantised) is None
    assert np.abs(samples.astype(np.float64) - unquantised).max() <= 0.5 / 2**23 + 1e-9  # rounded to the nearest count


def test_synthetic_write_adf_files_keep_the_counts(tmp_path):
    [path] = write_adf_files(tmp_path, SyntheticSensor(SENSOR), start_tick=REAL_START_TICK, n_frames=2, frames_per_file=2)
    samples = raw_decoder.read_file(path, frame_length=raw.DEFAULT_FRAME_LENGTH).samples.reshape(-1)
    assert flac.exact_counts(samples.astype(np.float32)) is not None


def test_products_made_from_the_samples_read_the_flac_store(app, client, package, settings):
    """A PSD at another nfft and a lost MP3 are made from the decoded FLAC samples, identical to the ingest's."""
    mp3_path = settings.blob_dir / package.products["mp3"].blob_key
    mp3_path.unlink()
    again = client.get(url(app, "acoustic.Mp3", package_id=PID))
    assert again.status_code == 200 and hashlib.sha256(again.data).hexdigest() == package.products["mp3"].sha256
    psd = client.get(url(app, "acoustic.Psd", package_id=PID, nfft=4096)).json
    assert len(psd["median"]) == 2049 and psd["n_segments"] == 2 * 390_625 // 4096 - 1
