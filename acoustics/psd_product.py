"""The PSD product of a package: its statistics as stored (npz) and its /psd document (JSON, dB).

The statistics are linear power spectral densities (see :mod:`.psd`); the
document gives them in dB re 1 (sample unit)^2/Hz, or in dB re 1 uPa^2/Hz
for a calibrated sensor, adding the calibration offset at each frequency
(:func:`~.calibration.offset_db_at`; the calibration is the one in force at
the package's start, :func:`~.calibration.in_force`). A document made with a
sensitivity curve names the curve (``calibration_curve``) and has
``calibration_offset_db`` null; one made with a flat sensitivity gives that
offset.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np

from hydroserve.codecs import psdjson, raw

from . import psd as psd_engine
from .sensors import Calibration, calibration_tag, offset_db_at


def compute(runs: list[np.ndarray], nfft: int) -> psd_engine.Psd:
    """Welch statistics of a package's runs at ``nfft`` (see :func:`.psd.welch_quantiles`)."""
    return psd_engine.welch_quantiles(runs, raw.SAMPLE_RATE_HZ, nfft)


def to_npz(result: psd_engine.Psd) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer, frequency_hz=result.frequency_hz, mean=result.mean, median=result.median, p75=result.p75,
        p95=result.p95, nfft=result.nfft, n_segments=result.n_segments, effort_s=result.effort_s,
    )
    return buffer.getvalue()


def from_npz(data: bytes) -> psd_engine.Psd:
    with np.load(io.BytesIO(data)) as arrays:
        return psd_engine.Psd(
            arrays["frequency_hz"], arrays["mean"], arrays["median"], arrays["p75"], arrays["p95"],
            int(arrays["nfft"]), int(arrays["n_segments"]), float(arrays["effort_s"]),
        )


def calibrated(result: psd_engine.Psd, calibration: Calibration | None) -> psd_engine.Psd:
    """The statistics in uPa^2/Hz: each frequency's values times ``10**(offset_db_at(f) / 10)`` (a positive factor per
    frequency, so the quantiles across segments stay quantiles); unchanged when uncalibrated."""
    if calibration is None:
        return result
    gain = 10 ** (offset_db_at(calibration, result.frequency_hz) / 10)
    return replace(result, **{name: getattr(result, name) * gain for name in psdjson.STATISTICS})


def unit(calibration: Calibration | None) -> str:
    """The unit of the levels, in ASCII: ``dB re 1 uPa^2/Hz`` or ``dB re 1 (sample unit)^2/Hz``."""
    return "dB re 1 uPa^2/Hz" if calibration is not None else "dB re 1 (sample unit)^2/Hz"


def display_unit(calibration: Calibration | None) -> str:
    """The unit as people write it, e.g. ``dB re 1 µPa²/Hz``."""
    return unit(calibration).replace("uPa", "µPa").replace("^2", "²")


def document(package_id: str, result: psd_engine.Psd, calibration: Calibration | None) -> bytes:
    """The /psd JSON document of a PSD (any band) in dB, calibrated if possible."""
    frequency = result.frequency_hz
    offset = offset_db_at(calibration, frequency)
    curve = None if calibration is None else calibration.curve
    meta = {
        "package_id": package_id,
        "unit": unit(calibration),
        "calibrated": calibration is not None,
        "calibration_offset_db": 0.0 if calibration is None else None if curve else calibration.offset_db,
        **({} if curve is None else {"calibration_tag": calibration_tag(calibration), "calibration_curve": curve.describe()}),
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
