"""The products of a data package made at ingest: raw (ADF), wav, mp3 and psd.

:func:`build` stores the samples, the MP3 and the PSD (statistics and
document; where: :mod:`.product_keys`). ``raw`` and ``wav`` are views on the
stored samples (see :mod:`.views`): they are never written, only their size
and sha256 are computed once. What is served or remade later goes through
:mod:`.package_products`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

import numpy as np

from hydroserve.codecs import mp3, psdjson, raw, wav

from . import product_keys, psd_product, views
from .cutter import Snippet
from .loudness import CEILING_DBFS, LoudnessPolicy
from .psd import segment_count
from .resample import LowpassSpec, PolyphaseResampler, design_lowpass
from .sensors import Calibration, calibration_tag
from .window import Run

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


def unpublishable_reason(runs: tuple[Run, ...], settings: ProductSettings) -> str | None:
    """Why a window with these runs cannot become a package (None if it can).

    Every package carries a /psd, which needs one contiguous run of at least
    ``psd_nfft`` samples (one Welch segment).
    """
    longest = max((run.n_samples for run in runs), default=0)
    if segment_count(longest, settings.psd_nfft) == 0:
        return (
            f"no contiguous run holds one PSD segment of psd_nfft={settings.psd_nfft} samples "
            f"(longest run: {longest} samples), so the package's /psd cannot be made"
        )
    return None


def build(snippet: Snippet, settings: ProductSettings, blobs, calibration: Calibration | None) -> list[ProductRecord]:
    """Write a snippet's blobs (durably) and return its product records."""
    pid = snippet.package_id
    prefix = product_keys.package_prefix(pid, snippet.sensor, snippet.boundary_tick)
    blobs.put(product_keys.samples_key(prefix), [memoryview(snippet.samples.astype("<f4", copy=False)).cast("B")])
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
    mp3_info = blobs.put(product_keys.mp3_key(prefix), [mp3_bytes])
    records.append(ProductRecord("mp3", mp3.MEDIA_TYPE, mp3_info.size_bytes, mp3_info.sha256, mp3_info.key, mp3_details))

    result = psd_product.compute(runs, settings.psd_nfft)
    blobs.put(product_keys.psd_arrays_key(prefix), [psd_product.to_npz(result)])
    doc_info = blobs.put(product_keys.psd_document_key(prefix, calibration_tag(calibration)),
                         [psd_product.document(pid, result, calibration)])
    records.append(
        ProductRecord(
            "psd", psdjson.MEDIA_TYPE, doc_info.size_bytes, doc_info.sha256, doc_info.key,
            {
                "nfft": result.nfft, "window": "hann", "overlap_samples": result.overlap_samples,
                "n_segments": result.n_segments, "effort_s": result.effort_s, "unit": psd_product.unit(calibration),
                "calibration_tag": calibration_tag(calibration),
            },
        )
    )
    return records
