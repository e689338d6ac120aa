"""The HMD product against the field's own tool: mbari-pbp 1.9 (hybrid millidecade spectra with lifewatch-pypam).

mbari-pbp pins numpy < 2 (through lifewatch-pypam 1.0), so it cannot live in the test environment (numpy 2); it is
installed in its own environment (``make .venv-pbp/.installed``) and run as a command, the way users run it.

pbp reads the WAV header rate, 195312 Hz, so its "minute" is 11,718,720 samples while ours (UTC minute,
195312.5 Hz) is 11,718,750; both cut 119 segments of 195,312 samples at the same starts (hop 97,656), so the same
spectrum is compared. pbp's bins lie at k x 1 Hz, ours at k x 1.0000026 Hz: the band integration differs by that
frequency scale (a few thousandths of a dB at most, next to a tone).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile

from hydroserve.acoustics import hmd_product
from hydroserve.acoustics.hmd_bands import hmd_bands
from hydroserve.acoustics.window import Run
from hydroserve.codecs import raw

pytestmark = pytest.mark.slow

PBP = Path(os.environ.get("HYDROSERVE_PBP_HMB_GEN", Path(__file__).parent.parent / ".venv-pbp" / "bin" / "pbp-hmb-gen"))
MINUTE_UNIX_S = 1_700_000_040  # 2023-11-14T22:14:00Z
FS = 195312.5
PBP_MINUTE_SAMPLES = 60 * 195_312


@pytest.fixture(scope="module")
def pbp_run(tmp_path_factory):
    """One WAV (62 s: a whole pbp minute and 2 s more, as pbp cannot write a file of one minute), through pbp once."""
    if not PBP.exists():
        pytest.fail(f"mbari-pbp is not installed at {PBP}: run `make .venv-pbp/.installed` (or set HYDROSERVE_PBP_HMB_GEN)")
    folder = tmp_path_factory.mktemp("pbp")
    rng = np.random.default_rng(17)
    n = PBP_MINUTE_SAMPLES + int(2 * FS)
    t = np.arange(n) / FS
    red = np.cumsum(rng.normal(0, 1e-4, n))
    x = 0.002 * rng.normal(size=n) + red - red.mean()
    for frequency, amplitude in ((63.0, 0.01), (1234.5, 0.003), (20_000.0, 0.001)):
        x += amplitude * np.sin(2 * np.pi * frequency * t)
    samples = x.astype(np.float32)
    wav = folder / "hydrophone_20231114T221400Z.wav"
    soundfile.write(wav, samples, 195_312, subtype="FLOAT")
    out = folder / "out"
    command = [str(PBP), "--input-file", str(wav), "--timestamp-pattern", "%Y%m%dT%H%M%SZ", "--time-resolution", "60",
               "--sensitivity-flat-value", "0", "--output-dir", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    netcdf = out / "hydrophone_20231114T221400Z.nc"
    assert done.returncode == 0 and netcdf.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    with h5py.File(netcdf, "r") as result:  # netCDF-4 is HDF5
        pbp = {name: result[name][()] for name in ("psd", "frequency", "effort", "time")}
    read, header_rate = soundfile.read(wav, dtype="float32")
    assert header_rate == 195_312 and np.array_equal(read, samples)
    start_tick = MINUTE_UNIX_S * raw.TICKS_PER_SECOND
    ours = hmd_product.compute([read], (Run(start_tick, 0, len(read)),), None)
    return pbp, ours


def test_band_centres_are_pbps(pbp_run):
    pbp, _ = pbp_run
    assert pbp["frequency"].dtype == np.float32 and len(pbp["frequency"]) == 2787
    assert np.array_equal(pbp["frequency"], hmd_bands().centre_hz.astype(np.float32))


def test_hmd_of_the_same_wav_agrees_with_pbp(pbp_run):
    pbp, ours = pbp_run
    assert pbp["time"][0] == MINUTE_UNIX_S and ours.minute_start_unix_ns[0] == MINUTE_UNIX_S * 10**9
    assert pbp["effort"][0] == 60.0 and ours.n_segments[0] == 119  # the same 119 segments (see the module docstring)
    assert ours.effort_s[0] == pytest.approx(60.0, abs=1 / FS)
    difference_db = np.abs(10 * np.log10(ours.band_density[0].astype(np.float64)) - pbp["psd"][0])
    selected = difference_db[hmd_bands().centre_hz >= 10]
    assert np.median(selected) < 0.05 and np.percentile(selected, 95) < 0.2
    assert np.median(selected) < 0.005  # what it actually is: the same estimator
