"""The API under a real gunicorn: products decoded by the libraries users read them with."""

from __future__ import annotations

import gc
import io

import numpy as np
import pytest
import requests
import soundfile

from hydroserve.api.serve import started_for_good

pytestmark = pytest.mark.slow


def test_products_under_gunicorn(gunicorn_server, archived, synthetic_files):
    archived(synthetic_files(n_frames=8))
    url = gunicorn_server()
    page = requests.get(f"{url}/api/v1/packages?order=oldest", timeout=10).json()
    first = page["items"][0]
    assert first["package_id"] == "DOM_808956920_CH1_1608751680" and first["links"]["wav"].startswith(url)
    wav = requests.get(first["links"]["wav"], timeout=10)
    assert wav.status_code == 200 and wav.headers["Content-Type"] == "audio/wav"
    samples, rate = soundfile.read(io.BytesIO(wav.content), dtype="float32")
    assert rate == 195312 and len(samples) == 390625
    ranged = requests.get(first["links"]["wav"], headers={"Range": "bytes=100-199"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == wav.content[100:200]
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(wav.content)}"
    assert np.isfinite(samples).all()
    psd = requests.get(first["links"]["psd"], timeout=10)
    not_modified = requests.get(first["links"]["psd"], headers={"If-None-Match": psd.headers["ETag"]}, timeout=10)
    assert not_modified.status_code == 304
    listing = requests.get(f"{url}/api/v1/packages?order=oldest", timeout=10)
    for answer in (listing, wav, ranged, psd, not_modified):  # one Date, the server's (RFC 9110 6.6.1: a single field)
        assert len(answer.raw.headers.getlist("Date")) == 1, (answer.url, answer.raw.headers.getlist("Date"))


def test_a_started_worker_keeps_its_objects_out_of_the_collector():
    """What the worker holds after start-up is frozen (gc.freeze), so no request pays a full collection over it."""
    app = object()
    gc.unfreeze()
    try:
        assert started_for_good(app) is app
        assert gc.get_freeze_count() > 10_000  # the imports' objects, at least (this process: pytest's, numpy's, ...)
    finally:
        gc.unfreeze()
