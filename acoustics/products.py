"""The products of a data package made at ingest: raw (ADF), wav, mp3, psd and hmd (flac: :mod:`.sample_storage`).

:func:`build` stores the MP3, the PSD (statistics and document) and the HMD
(1-minute hybrid millidecade spectra and levels, :mod:`.hmd_product`; where:
:mod:`.product_keys`). ``raw`` and ``wav`` are views on the
stored samples (see :mod:`.composite`): they are never written, only their size
and sha256 are computed once. What is served or remade later goes through
:mod:`.package_products`. The MP3, the PSD and the HMD are the products made
*from* the samples: :data:`BUILDERS` makes each under a key prefix, at
ingest (version 1) and when reprocessing (:mod:`.reprocess`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from hydroserve.codecs import mp3, psdjson, raw, raw_frame_plan, wav
from hydroserve.codecs.raw import WAV_HEADER_RATE_HZ

from . import bands, composite, hmd_product, mp3_product, product_keys, psd_product
from .cutter import Snippet
from .product_record import ProductRecord
from .product_settings import ProductSettings
from .psd import segment_count
from .sensors import Calibration, calibration_tag
from .window import Run


def run_arrays(samples: np.ndarray, runs: tuple[Run, ...]) -> list[np.ndarray]:
    """Views of the contiguous runs in a package's samples."""
    return [samples[r.first_sample : r.first_sample + r.n_samples] for r in runs]


def adf_view(runs: tuple[Run, ...], *, frame_length: int, window_size: int) -> composite.Composite:
    return composite.adf_composite(runs, frame_length=frame_length, window_size=window_size)


def wav_comment(package_id: str, start_tick: int, n_gaps: int) -> str:
    return (
        f"hydroserve package {package_id}; exact sample rate 195312.5 Hz (header: {WAV_HEADER_RATE_HZ}); "
        f"first sample at {raw.format_tick(start_tick)} s Unix time; {n_gaps} gap(s) removed, see /info"
    )


def wav_view(package_id: str, n_samples: int, start_tick: int, n_gaps: int) -> composite.Composite:
    comment = wav_comment(package_id, start_tick, n_gaps)
    return composite.wav_composite(n_samples, sample_rate_hz=WAV_HEADER_RATE_HZ, comment=comment)


def _digest(layout: composite.Composite, samples: np.ndarray) -> str:
    digest = hashlib.sha256()
    for chunk in layout.chunks(samples):
        digest.update(chunk)
    return digest.hexdigest()


def adf_padding(runs: tuple[Run, ...], frame_length: int) -> list[dict]:
    """Frames of the ADF view that end in NaN padding."""
    return [
        {"frame": index, "first_padded_sample": frame.n_samples, "n_padding_samples": frame_length - frame.n_samples}
        for index, frame in enumerate(raw_frame_plan.plan_frames(runs, frame_length))
        if frame.n_samples < frame_length
    ]


def unarchivable_reason(runs: tuple[Run, ...], settings: ProductSettings) -> str | None:
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


def build(snippet: Snippet, settings: ProductSettings, blobs, calibration: Calibration | None,
          executor: Executor) -> list[ProductRecord]:
    """Write a snippet's MP3, PSD and HMD blobs (durably) and return its product records (the samples blob is
    :func:`.sample_storage.store`'s), the products made side by side on ``executor``'s threads (each releases the GIL
    for its heavy parts: FFTs, LAME, hashing)."""
    pid = snippet.package_id
    prefix = product_keys.package_prefix(pid, snippet.sensor, snippet.boundary_tick)
    runs = run_arrays(snippet.samples, snippet.runs)
    # longest first (the executor's threads take them in order; the samples' FLAC, submitted before, is the longest):
    # on two threads the HMD beside the MP3, then the PSD, then the short view hashes fill in
    made = {kind: executor.submit(BUILDERS[kind], runs, settings, calibration, blobs, prefix, pid, snippet.runs)
            for kind in sorted(BUILDERS, key=_BUILD_ORDER.index)}

    adf = adf_view(snippet.runs, frame_length=settings.frame_length, window_size=snippet.window_size)
    padding = adf_padding(snippet.runs, settings.frame_length)
    wave = wav_view(pid, snippet.n_samples, snippet.start_tick, len(snippet.gaps))
    raw_digest, wav_digest = (executor.submit(_digest, layout, snippet.samples) for layout in (adf, wave))
    records = [
        ProductRecord(
            "raw", raw.MEDIA_TYPE, adf.size, raw_digest.result(), None,
            {
                "frame_length": settings.frame_length,
                "window_size": snippet.window_size,
                "n_frames": len(raw_frame_plan.plan_frames(snippet.runs, settings.frame_length)),
                "padding": padding,
                "n_padding_samples": sum(p["n_padding_samples"] for p in padding),
                "padding_value": "NaN (completes the last frame of each contiguous run; not data: drop NaN after reading)",
                "frame_times": "each run's frames carry the run's sample-grid times; input time stamps within the timing "
                               "tolerance were placed on that grid (their deviations: input_timestamp_deviation)",
                "input_timestamp_deviation": snippet.timestamp_deviation.as_json(),
            },
        ),
        ProductRecord(
            "wav", wav.MEDIA_TYPE, wave.size, wav_digest.result(), None,
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
    return records + [made[kind].result() for kind in BUILDERS]


def build_mp3(runs: list[np.ndarray], settings: ProductSettings, calibration: Calibration | None, blobs, prefix: str,
              package_id: str, layout: tuple[Run, ...]) -> ProductRecord:
    """Make the MP3 of a package's runs, store it durably under ``prefix``, and return its record."""
    mp3_bytes, mp3_details = mp3_product.make(runs, settings, calibration, title=package_id)
    mp3_info = blobs.put(product_keys.mp3_key(prefix), [mp3_bytes])
    return ProductRecord("mp3", mp3.MEDIA_TYPE, mp3_info.size_bytes, mp3_info.sha256, mp3_info.key, mp3_details)


def build_psd(runs: list[np.ndarray], settings: ProductSettings, calibration: Calibration | None, blobs, prefix: str,
              package_id: str, layout: tuple[Run, ...]) -> ProductRecord:
    """Make the PSD statistics and the /psd document of a package's runs, store both durably under ``prefix``,
    and return the record of the document."""
    result = psd_product.compute(runs, settings.psd_nfft)
    blobs.put(product_keys.psd_arrays_key(prefix), [psd_product.to_npz(result)])
    doc_info = blobs.put(product_keys.psd_document_key(prefix, calibration_tag(calibration)),
                         [psd_product.document(package_id, result, calibration)])
    return ProductRecord(
        "psd", psdjson.MEDIA_TYPE, doc_info.size_bytes, doc_info.sha256, doc_info.key,
        {
            "nfft": result.nfft, "window": "hann", "overlap_samples": result.overlap_samples,
            "n_segments": result.n_segments, "effort_s": result.effort_s, "unit": psd_product.unit(calibration),
            "calibration_tag": calibration_tag(calibration), "levels": bands.level_summary(result),
        },
    )


def build_hmd(runs: list[np.ndarray], settings: ProductSettings, calibration: Calibration | None, blobs, prefix: str,
              package_id: str, layout: tuple[Run, ...]) -> ProductRecord:
    """Make the HMD product of a package's runs (``layout``: where they lie in time), store it durably under
    ``prefix``, and return its record; its details say what /info shows (minutes, units, calibration)."""
    result = hmd_product.compute(runs, layout, calibration)
    info = blobs.put(product_keys.hmd_key(prefix), [result.to_npz_bytes()])
    return ProductRecord("hmd", hmd_product.MEDIA_TYPE, info.size_bytes, info.sha256, info.key,
                         hmd_product.details(result))


BUILDERS: dict[str, Callable[..., ProductRecord]] = {"mp3": build_mp3, "psd": build_psd, "hmd": build_hmd}
_BUILD_ORDER = ("mp3", "hmd", "psd")
"""The builders by decreasing CPU time per package (``make bench``, the pipeline's stage table)."""
"""The products made from the stored samples, by kind: ``builder(runs, settings, calibration, blobs, prefix,
package_id, layout)`` with the runs' samples and their :class:`~.window.Run` s (``layout``, which only the HMD needs:
it cuts at UTC minutes). ``raw`` and ``wav`` are views of the samples, never made."""
