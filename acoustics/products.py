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
from .cutter import Run, Snippet
from .resample import LowpassSpec, PolyphaseResampler, design_lowpass
from .sensors import Calibration, calibration_tag

MP3_RATE_HZ = 48_000
MP3_RESAMPLE_UP, MP3_RESAMPLE_DOWN = 768, 3125  # 195312.5 Hz * 768 / 3125 = 48000 Hz exactly
MP3_ANTI_ALIAS = LowpassSpec(passband_hz=20_000, stopband_hz=28_000, attenuation_db=80)
"""Audible band kept; everything that would fold below 20 kHz at 48 kHz (>= 28 kHz) is 80 dB down."""
MP3_HEADROOM_DB = 1.0
WAV_HEADER_RATE_HZ = 195_312


@dataclass(frozen=True)
class ProductSettings:
    """Parameters of the products made at ingest."""

    frame_length: int = raw.DEFAULT_FRAME_LENGTH
    mp3_bit_rate_kbps: int = 128
    mp3_quality: int = 7  # LAME "fast": 1.6x faster than 5, same decoded SNR (21.7 vs 21.6 dB) on the synthetic signal
    psd_nfft: int = 8192


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


def make_mp3(runs: list[np.ndarray], settings: ProductSettings) -> tuple[bytes, dict]:
    """A listenable MP3 of the runs, and how it was made.

    The DC offset ``mean(x)`` (over all samples, float64) is removed; each run
    is resampled to 48 kHz by :func:`mp3_resampler` (linear-phase Kaiser FIR:
    0-20 kHz passed, >= 28 kHz attenuated by >= 80 dB, so nothing folds into
    the audible band; identical to ``scipy.signal.resample_poly(x, 768, 3125,
    window=taps)``); runs are joined without filling gaps; the result is
    multiplied by ``gain = 32767 * 10**(-headroom_db/20) / peak`` so that its
    peak sits ``MP3_HEADROOM_DB`` below int16 full scale (no clipping),
    rounded to int16 and encoded at constant bit rate.
    """
    n_samples = sum(len(run) for run in runs)
    dc_offset = sum(float(run.sum(dtype=np.float64)) for run in runs) / n_samples if n_samples else 0.0
    resampler = mp3_resampler()
    parts = [resampler(run, dc_offset) for run in runs]
    resampled = parts[0] if len(parts) == 1 else np.concatenate(parts)
    peak = max(float(resampled.max()), -float(resampled.min())) if resampled.size else 0.0
    full_scale = 32767 * 10 ** (-MP3_HEADROOM_DB / 20)
    gain = full_scale / peak if peak > 0 else 1.0
    resampled *= np.float32(gain)
    pcm = np.rint(resampled, out=resampled).astype(np.int16)
    data = mp3.encode(pcm, sample_rate_hz=MP3_RATE_HZ, bit_rate_kbps=settings.mp3_bit_rate_kbps, quality=settings.mp3_quality)
    spec = MP3_ANTI_ALIAS
    details = {
        "sample_rate_hz": MP3_RATE_HZ,
        "bit_rate_kbps": settings.mp3_bit_rate_kbps,
        "lame_quality": settings.mp3_quality,
        "channels": 1,
        "n_samples": int(pcm.size),
        "duration_s": pcm.size / MP3_RATE_HZ,
        "dc_offset_removed": dc_offset,
        "gain": gain,
        "gain_db": 20 * float(np.log10(gain)),
        "gain_definition": "int16 counts per sample unit, applied after DC removal and resampling",
        "peak_after_resampling": peak,
        "headroom_db": MP3_HEADROOM_DB,
        "resampler": (
            f"polyphase FIR {MP3_RESAMPLE_UP}/{MP3_RESAMPLE_DOWN} per contiguous run, Kaiser window, {resampler.n_taps} taps: "
            f"0-{spec.passband_hz / 1000:g} kHz passed, >= {spec.stopband_hz / 1000:g} kHz attenuated by >= {spec.attenuation_db:g} dB "
            f"(= scipy.signal.resample_poly(x, {MP3_RESAMPLE_UP}, {MP3_RESAMPLE_DOWN}, window=taps))"
        ),
        "gaps": "runs are joined back to back; gap positions are listed in /info",
    }
    return data, details


def build(snippet: Snippet, settings: ProductSettings, blobs, calibration: Calibration | None) -> list[ProductRecord]:
    """Write a snippet's blobs (durably) and return its product records."""
    pid = snippet.package_id
    prefix = product_keys.package_prefix(pid, snippet.sensor, snippet.boundary_tick)
    blobs.put(product_keys.samples_key(prefix), [memoryview(snippet.samples.astype("<f4", copy=False)).cast("B")])
    runs = run_arrays(snippet.samples, snippet.runs)

    adf = adf_view(snippet.runs, frame_length=settings.frame_length, window_size=snippet.window_size)
    wave = wav_view(pid, snippet.n_samples, snippet.start_tick, len(snippet.gaps))
    records = [
        ProductRecord(
            "raw", raw.MEDIA_TYPE, adf.size, _digest(adf, snippet.samples), None,
            {
                "frame_length": settings.frame_length,
                "window_size": snippet.window_size,
                "n_frames": len(raw.plan_frames(snippet.runs, settings.frame_length)),
                "padding": adf_padding(snippet.runs, settings.frame_length),
                "padding_value": "NaN (completes the last frame of each contiguous run; not data)",
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
    mp3_bytes, mp3_details = make_mp3(runs, settings)
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
