"""The products of a data package: raw (ADF), wav, mp3 and psd.

Stored blobs, under ``<sensor>/<YYYY>/<MM>/<DD>/<package id>``:

* ``.f32``      the samples, little-endian float32 back to back (gaps removed);
* ``.mp3``      MPEG Layer III at 48 kHz (see :func:`make_mp3`);
* ``.psd.npz``  linear PSD statistics (see :mod:`.psd`), for re-rendering;
* ``.psd.<calibration>.json``  the /psd document for the full band.

``raw`` and ``wav`` are views on ``.f32`` (see :mod:`.views`): they are never
written, only their size and sha256 are computed once.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np

from hydroserve.codecs import mp3, psdjson, raw, wav

from . import psd as psd_engine
from . import views
from .blobstore import BlobNotFound
from .loudness import CEILING_DBFS, LoudnessPolicy
from .cutter import Run, Snippet
from .resample import LowpassSpec, PolyphaseResampler, design_lowpass
from .sensors import Calibration, calibration_offset_db

MP3_RATE_HZ = 48_000
MP3_RESAMPLE_UP, MP3_RESAMPLE_DOWN = 768, 3125  # 195312.5 Hz * 768 / 3125 = 48000 Hz exactly
MP3_ANTI_ALIAS = LowpassSpec(passband_hz=20_000, stopband_hz=28_000, attenuation_db=80)
"""Audible band kept; everything that would fold below 20 kHz at 48 kHz (>= 28 kHz) is 80 dB down."""
WAV_HEADER_RATE_HZ = 195_312


@dataclass(frozen=True)
class ProductSettings:
    """Parameters of the products made at ingest."""

    frame_length: int = raw.DEFAULT_FRAME_LENGTH
    mp3_bit_rate_kbps: int = 128
    mp3_quality: int = 7  # LAME "fast": 1.6x faster than 5, same decoded SNR (21.7 vs 21.6 dB) on the synthetic signal
    psd_nfft: int = 8192
    loudness: LoudnessPolicy = LoudnessPolicy()


@dataclass(frozen=True)
class ProductRecord:
    """One product of a package as catalogued."""

    kind: str
    media_type: str
    size_bytes: int
    sha256: str
    blob_key: str | None
    details: dict


def blob_prefix(package_id: str, sensor: raw.SensorId, boundary_tick: int) -> str:
    day = datetime.fromtimestamp(boundary_tick // raw.TICKS_PER_SECOND, UTC)
    return f"{sensor}/{day:%Y/%m/%d}/{package_id}"


def samples_key(prefix: str) -> str:
    return f"{prefix}.f32"


def psd_arrays_key(prefix: str) -> str:
    return f"{prefix}.psd.npz"


def psd_document_key(prefix: str, calibration: Calibration | None) -> str:
    return f"{prefix}.psd.{calibration_tag(calibration)}.json"


def calibration_tag(calibration: Calibration | None) -> str:
    """Short stable tag of a calibration (``uncal`` if none)."""
    if calibration is None:
        return "uncal"
    text = repr((calibration.sensitivity_db_re_1v_per_upa, calibration.gain_db, calibration.volts_per_unit))
    return "cal" + hashlib.sha256(text.encode()).hexdigest()[:12]


def run_arrays(samples: np.ndarray, runs: tuple[Run, ...]) -> list[np.ndarray]:
    """Views of the contiguous runs in a package's samples."""
    return [samples[r.first_sample : r.first_sample + r.n_samples] for r in runs]


def adf_view(runs: tuple[Run, ...], *, frame_length: int, window_size: int) -> views.Composite:
    return views.adf_composite(runs, frame_length=frame_length, window_size=window_size)


def wav_comment(package_id: str, start_tick: int, n_gaps: int) -> str:
    return (
        f"hydroserve package {package_id}; exact sample rate 195312.5 Hz (header: {WAV_HEADER_RATE_HZ}); "
        f"first sample at {raw.format_tick(start_tick)} s Unix time; {n_gaps} gap(s) removed, see /info"
    )


def wav_view(package_id: str, n_samples: int, start_tick: int, n_gaps: int) -> views.Composite:
    return views.wav_composite(n_samples, sample_rate_hz=WAV_HEADER_RATE_HZ, comment=wav_comment(package_id, start_tick, n_gaps))


def _digest(composite: views.Composite, samples: np.ndarray) -> str:
    digest = hashlib.sha256()
    for chunk in composite.chunks(samples):
        digest.update(chunk)
    return digest.hexdigest()


def adf_padding(runs: tuple[Run, ...], frame_length: int) -> list[dict]:
    """Frames of the ADF view that end in NaN padding."""
    return [
        {"frame": index, "first_padded_sample": frame.n_samples, "n_padding_samples": frame_length - frame.n_samples}
        for index, frame in enumerate(raw.plan_frames(runs, frame_length))
        if frame.n_samples < frame_length
    ]


@cache
def mp3_resampler() -> PolyphaseResampler:
    """195312.5 Hz -> 48 kHz with the :data:`MP3_ANTI_ALIAS` filter (designed once per process)."""
    rate_hz = float(raw.SAMPLE_RATE_HZ) * MP3_RESAMPLE_UP
    return PolyphaseResampler(design_lowpass(MP3_ANTI_ALIAS, rate_hz), MP3_RESAMPLE_UP, MP3_RESAMPLE_DOWN)


def make_mp3(runs: list[np.ndarray], settings: ProductSettings, calibration: Calibration | None = None, *,
             title: str | None = None) -> tuple[bytes, dict]:
    """A listenable, time-aligned MP3 of the runs, at the sensor's fixed loudness, and how it was made.

    The DC offset ``mean(x)`` (over all samples, float64) is removed; each run
    is resampled to 48 kHz by :func:`mp3_resampler` (linear-phase Kaiser FIR:
    0-20 kHz passed, >= 28 kHz attenuated by >= 80 dB, so nothing folds into
    the audible band; identical to ``scipy.signal.resample_poly(x, 768, 3125,
    window=taps)``, zero phase); runs are joined without filling gaps; the
    result is scaled by the sensor's fixed gain with a soft limiter
    (:mod:`.loudness`), rounded to int16 and encoded at constant bit rate
    with a LAME tag (:func:`hydroserve.codecs.mp3.encode`): a gapless
    decoder returns exactly the resampled samples, the first one at the
    package's first sample time. Gain, limiter activity and DC offset are
    also written into the MP3 as ID3v2 TXXX frames.

    Parameters
    ----------
    runs : list of numpy.ndarray
        Contiguous runs of samples (sample units).
    settings : ProductSettings
    calibration : Calibration or None
        The sensor's calibration (None: uncalibrated), which fixes the gain.
    title : str, optional
        ID3 title (the package id).
    """
    n_samples = sum(len(run) for run in runs)
    dc_offset = sum(float(run.sum(dtype=np.float64)) for run in runs) / n_samples if n_samples else 0.0
    resampler = mp3_resampler()
    parts = [resampler(run, dc_offset) for run in runs]
    resampled = parts[0] if len(parts) == 1 else np.concatenate(parts)
    loudness = settings.loudness.for_sensor(calibration)
    pcm, n_limited, peak_dbfs = loudness.apply(resampled)
    limiter = (
        f"soft: |u| <= k unchanged, above: sign(u) (k + (c - k) tanh((|u| - k) / (c - k))), u = gain x / 32767, "
        f"knee k = 10**({loudness.knee_dbfs:g}/20), ceiling c = 10**({CEILING_DBFS:g}/20)"
    )
    tags = {
        "hydroserve_gain_counts_per_sample_unit": repr(loudness.gain),
        "hydroserve_gain_db": f"{loudness.gain_db:.6f}",
        "hydroserve_gain_rule": loudness.rule,
        "hydroserve_dc_offset_removed": repr(dc_offset),
        "hydroserve_limiter": limiter,
        "hydroserve_limiter_knee_dbfs": f"{loudness.knee_dbfs:g}",
        "hydroserve_samples_limited": str(n_limited),
        "hydroserve_peak_before_limiter_dbfs": f"{peak_dbfs:.3f}",
        "hydroserve_resampling": f"195312.5 Hz -> 48000 Hz, zero-phase polyphase FIR {MP3_RESAMPLE_UP}/{MP3_RESAMPLE_DOWN}",
    }
    data = mp3.encode(pcm, sample_rate_hz=MP3_RATE_HZ, bit_rate_kbps=settings.mp3_bit_rate_kbps, quality=settings.mp3_quality,
                      tags=tags, title=title)
    spec = MP3_ANTI_ALIAS
    details = {
        "sample_rate_hz": MP3_RATE_HZ,
        "bit_rate_kbps": settings.mp3_bit_rate_kbps,
        "lame_quality": settings.mp3_quality,
        "channels": 1,
        "n_samples": int(pcm.size),
        "duration_s": pcm.size / MP3_RATE_HZ,
        "dc_offset_removed": dc_offset,
        "gain": loudness.gain,
        "gain_db": loudness.gain_db,
        "gain_definition": "int16 counts per sample unit, applied after DC removal and resampling; fixed per sensor",
        "gain_rule": loudness.rule,
        "limiter": limiter,
        "limiter_knee_dbfs": loudness.knee_dbfs,
        "n_samples_limited": n_limited,
        "peak_before_limiter_dbfs": peak_dbfs if n_samples else None,
        "id3_tags": "TIT2 = package id; TXXX hydroserve_* = gain, gain rule, DC offset, limiter and its activity",
        "time_alignment": (
            f"gapless: Xing/Info frame with LAME tag (encoder delay {mp3.ENCODER_DELAY_SAMPLES} samples, padding to whole "
            f"frames); decoders that read it (ffmpeg, libmpg123) skip that delay plus their own "
            f"{mp3.DECODER_DELAY_SAMPLES} and return exactly n_samples, sample i of each run at its start + i/48000 s "
            f"(zero-phase resampling)"
        ),
        "decoded_start_offset_s": 0.0,
        "resampler": (
            f"polyphase FIR {MP3_RESAMPLE_UP}/{MP3_RESAMPLE_DOWN} per contiguous run, Kaiser window, {resampler.n_taps} taps: "
            f"0-{spec.passband_hz / 1000:g} kHz passed, >= {spec.stopband_hz / 1000:g} kHz attenuated by >= {spec.attenuation_db:g} dB "
            f"(= scipy.signal.resample_poly(x, {MP3_RESAMPLE_UP}, {MP3_RESAMPLE_DOWN}, window=taps))"
        ),
        "gaps": "runs are joined back to back; gap positions are listed in /info",
    }
    return data, details


def psd_to_npz(result: psd_engine.Psd) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer, frequency_hz=result.frequency_hz, mean=result.mean, median=result.median, p75=result.p75,
        p95=result.p95, nfft=result.nfft, n_segments=result.n_segments, effort_s=result.effort_s,
    )
    return buffer.getvalue()


def psd_from_npz(data: bytes) -> psd_engine.Psd:
    with np.load(io.BytesIO(data)) as arrays:
        return psd_engine.Psd(
            arrays["frequency_hz"], arrays["mean"], arrays["median"], arrays["p75"], arrays["p95"],
            int(arrays["nfft"]), int(arrays["n_segments"]), float(arrays["effort_s"]),
        )


def psd_unit(calibration: Calibration | None) -> str:
    return "dB re 1 uPa^2/Hz" if calibration is not None else "dB re 1 (sample unit)^2/Hz"


def psd_document(package_id: str, result: psd_engine.Psd, calibration: Calibration | None) -> bytes:
    """The /psd JSON document of a PSD (any band) in dB, calibrated if possible."""
    offset = calibration_offset_db(calibration)
    frequency = result.frequency_hz
    meta = {
        "package_id": package_id,
        "unit": psd_unit(calibration),
        "calibrated": calibration is not None,
        "calibration_offset_db": offset,
        "window": "hann",
        "nfft": result.nfft,
        "overlap_samples": result.overlap_samples,
        "detrend": "constant (segment mean)",
        "scaling": "one-sided power spectral density",
        "sample_rate_hz": float(raw.SAMPLE_RATE_HZ),
        "resolution_hz": float(raw.SAMPLE_RATE_HZ) / result.nfft,
        "n_segments": result.n_segments,
        "effort_s": result.effort_s,
        "quantiles": "per frequency across Welch segments, numpy 'linear' interpolation, linear power then dB",
        "fmin_hz": float(frequency[0]) if len(frequency) else None,
        "fmax_hz": float(frequency[-1]) if len(frequency) else None,
        "n_frequencies": len(frequency),
    }
    levels = {name: psd_engine.to_db(getattr(result, name)) + offset for name in psdjson.STATISTICS}
    return psdjson.encode(frequency, levels, meta)


def unpublishable_reason(runs: tuple[Run, ...], settings: ProductSettings) -> str | None:
    """Why a window with these runs cannot become a package (None if it can).

    Every package carries a /psd, which needs one contiguous run of at least
    ``psd_nfft`` samples (one Welch segment).
    """
    longest = max((run.n_samples for run in runs), default=0)
    if psd_engine.segment_count(longest, settings.psd_nfft) == 0:
        return (
            f"no contiguous run holds one PSD segment of psd_nfft={settings.psd_nfft} samples "
            f"(longest run: {longest} samples), so the package's /psd cannot be made"
        )
    return None


def make_psd(runs: list[np.ndarray], nfft: int) -> psd_engine.Psd:
    return psd_engine.welch_quantiles(runs, raw.SAMPLE_RATE_HZ, nfft)


def build(snippet: Snippet, settings: ProductSettings, blobs, calibration: Calibration | None) -> list[ProductRecord]:
    """Write a snippet's blobs (durably) and return its product records."""
    pid = snippet.package_id
    prefix = blob_prefix(pid, snippet.sensor, snippet.boundary_tick)
    blobs.put(samples_key(prefix), [memoryview(snippet.samples.astype("<f4", copy=False)).cast("B")])
    runs = run_arrays(snippet.samples, snippet.runs)

    adf = adf_view(snippet.runs, frame_length=settings.frame_length, window_size=snippet.window_size)
    padding = adf_padding(snippet.runs, settings.frame_length)
    wave = wav_view(pid, snippet.n_samples, snippet.start_tick, len(snippet.gaps))
    records = [
        ProductRecord(
            "raw", raw.MEDIA_TYPE, adf.size, _digest(adf, snippet.samples), None,
            {
                "frame_length": settings.frame_length,
                "window_size": snippet.window_size,
                "n_frames": len(raw.plan_frames(snippet.runs, settings.frame_length)),
                "padding": padding,
                "n_padding_samples": sum(p["n_padding_samples"] for p in padding),
                "padding_value": "NaN (completes the last frame of each contiguous run; not data: drop NaN after reading)",
                "frame_times": "each run's frames carry the run's sample-grid times; input time stamps within the timing "
                               "tolerance were placed on that grid (their deviations: input_timestamp_deviation)",
                "input_timestamp_deviation": snippet.timestamp_deviation.as_json(),
            },
        ),
        ProductRecord(
            "wav", wav.MEDIA_TYPE, wave.size, _digest(wave, snippet.samples), None,
            {
                "header_sample_rate_hz": WAV_HEADER_RATE_HZ,
                "exact_sample_rate_hz": float(raw.SAMPLE_RATE_HZ),
                "format": "RF64" if wave.size > 0xFFFF_FFFF else "RIFF WAVE",
                "subtype": "IEEE float 32-bit, mono",
                "header_bytes": wave.size - snippet.n_samples * raw.SAMPLE_BYTES,
                "gaps": "samples are joined back to back; gap positions are listed in /info",
            },
        ),
    ]
    mp3_bytes, mp3_details = make_mp3(runs, settings, calibration, title=pid)
    mp3_info = blobs.put(f"{prefix}.mp3", [mp3_bytes])
    records.append(ProductRecord("mp3", mp3.MEDIA_TYPE, mp3_info.size_bytes, mp3_info.sha256, mp3_info.key, mp3_details))

    result = make_psd(runs, settings.psd_nfft)
    blobs.put(psd_arrays_key(prefix), [psd_to_npz(result)])
    doc_info = blobs.put(psd_document_key(prefix, calibration), [psd_document(pid, result, calibration)])
    records.append(
        ProductRecord(
            "psd", psdjson.MEDIA_TYPE, doc_info.size_bytes, doc_info.sha256, doc_info.key,
            {
                "nfft": result.nfft, "window": "hann", "overlap_samples": result.overlap_samples,
                "n_segments": result.n_segments, "effort_s": result.effort_s, "unit": psd_unit(calibration),
                "calibration_tag": calibration_tag(calibration),
            },
        )
    )
    return records


def load_runs(blobs, samples_key: str, runs: tuple[Run, ...]) -> list[np.ndarray]:
    """Read a package's samples blob (whole) and split it into runs; for regenerating products."""
    with blobs.open(samples_key) as stored:
        samples = np.frombuffer(stored.read(), dtype="<f4")
    expected = sum(r.n_samples for r in runs)
    if len(samples) != expected:
        raise OSError(f"samples blob {samples_key} holds {len(samples)} samples, the catalog says {expected}")
    return run_arrays(samples, runs)


def open_blob(blobs, key: str, make):
    """Open the blob under ``key``, storing ``make()`` there first if it is missing (a product regenerated
    on demand; the put is atomic, so concurrent makers are harmless)."""
    try:
        return blobs.open(key)
    except BlobNotFound:
        blobs.put(key, [make()])
        return blobs.open(key)
