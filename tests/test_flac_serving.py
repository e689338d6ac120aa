"""Serving a package stored as FLAC: /info, bit-exact FLAC, WAV and raw views, ranges of the compressed store, the
flac resource. The tests only read: one archive per engine for the module (the package's own tests, damage and
rebuilds, are in test_flac_storage)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json

import numpy as np
import pytest
import soundfile

from hydroserve.codecs import raw, raw_decoder
from support import REAL_START_TICK, archive_two_second_package, url

PID = "DOM_808956920_CH1_1608751680"


@pytest.fixture(scope="module")
def settings(module_settings):
    """No view cache: every read here goes through the FLAC store (the first whole read would fill the cache, and the
    Range reads after it would be served from there; the cache has its own tests in test_view_cache.py)."""
    return dataclasses.replace(module_settings, view_cache_bytes=0)


@pytest.fixture(scope="module")
def package(settings):
    return archive_two_second_package(settings)


def test_24_bit_packages_are_stored_as_flac_and_described_in_info(app, client, package, settings):
    assert package.samples_key.endswith(".flac") and "flac" in package.products
    stored = (settings.blob_dir / package.samples_key).read_bytes()
    assert package.products["flac"].sha256 == hashlib.sha256(stored).hexdigest()
    info = client.get(url(app, "acoustic.Info", package_id=PID)).json
    storage = info["data"]["storage"]
    assert storage["form"] == "flac-24bit" and storage["stored_bytes"] == len(stored) == info["products"]["flac"]["size_bytes"]
    assert storage["float32_bytes"] == 390_625 * 4 and storage["compression_ratio"] == round(len(stored) / (390_625 * 4), 4)
    assert 0.3 < storage["compression_ratio"] < 0.45  # the synthetic background is ~11 bits of noise in 24-bit counts
    assert info["products"]["flac"]["lossless"] is True and info["products"]["flac"]["exact_sample_rate_hz"] == 195312.5
    summary = client.get(url(app, "acoustic.Package", package_id=PID)).json
    assert summary["links"]["flac"].endswith(f"/packages/{PID}/flac") and summary["products"]["flac"]["media_type"] == "audio/flac"


def test_flac_wav_and_raw_carry_the_ingested_samples_bit_for_bit(app, client, package, synthetic_files, tmp_path):
    frames = [raw_decoder.read_file(f, frame_length=raw.DEFAULT_FRAME_LENGTH) for f in synthetic_files(n_frames=5)]
    ingested = np.concatenate([f.samples.reshape(-1) for f in frames])
    offset = (package.start_tick - REAL_START_TICK) // raw.TICKS_PER_SAMPLE
    ingested = ingested[offset : offset + 390_625]
    response = client.get(url(app, "acoustic.Flac", package_id=PID))
    assert response.status_code == 200 and response.mimetype == "audio/flac"
    assert response.headers["Content-Disposition"] == f"inline; filename={PID}.flac"
    counts, rate = soundfile.read(io.BytesIO(response.data), dtype="int32")
    assert rate == 195312
    np.testing.assert_array_equal(((counts >> 8) / 2**23).astype(np.float32).view(np.uint32), ingested.view(np.uint32))
    wav = client.get(url(app, "acoustic.Wav", package_id=PID)).data
    from_wav, _ = soundfile.read(io.BytesIO(wav), dtype="float32")
    np.testing.assert_array_equal(from_wav.view(np.uint32), ingested.view(np.uint32))
    assert hashlib.sha256(wav).hexdigest() == package.products["wav"].sha256
    raw_body = client.get(url(app, "acoustic.Raw", package_id=PID)).data
    assert hashlib.sha256(raw_body).hexdigest() == package.products["raw"].sha256


@pytest.mark.parametrize("kind", ["Wav", "Raw", "Flac"])
def test_ranges_from_the_compressed_store_are_the_slices_of_the_whole(app, client, package, kind):
    path = url(app, f"acoustic.{kind}", package_id=PID)
    whole = client.get(path)
    size = len(whole.data)
    for first, last in ((0, 99), (size // 3, size // 3 + 70_001), (1_048_570, 1_048_590), (size - 7, size - 1), (4097 * 4, 4097 * 4 + 3)):
        if last >= size:
            continue
        part = client.get(path, headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206 and part.data == whole.data[first : last + 1], (kind, first, last)
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    again = client.get(path, headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status_code == 304


def test_flac_is_a_resource_of_the_flac_stream_and_in_the_openapi_document(app, client, package, settings):
    resource = client.get(url(client, "registry.Resource", kid=f"acoustic20_01_flac_{PID}")).json
    assert resource["stream"] == "acoustic20_01_flac" and resource["ktype"] == "acoustics.flac"
    assert resource["media_type"] == "audio/flac" and resource["sha256"] == package.products["flac"].sha256
    assert resource["access_url"] == f"{settings.public_url}/api/v1/packages/{PID}/flac"
    spec = client.get("/api/v1/openapi.json").json
    [path] = [p for p in spec["paths"] if p.endswith("/packages/{package_id}/flac")]
    assert "audio/flac" in json.dumps(spec["paths"][path]["get"]["responses"]["200"])
