"""The /psd JSON document: PSD statistics in dB per frequency, with their settings.

Pure encoding: the caller passes frequency and dB arrays plus the metadata
fields; values are rounded to 1e-6 dB (far below the 1e-4 dB accuracy
target) and non-finite values (zero power) become ``null``.
"""

from __future__ import annotations

import json
import math

import numpy as np

MEDIA_TYPE = "application/json"
STATISTICS = ("mean", "median", "p75", "p95")
DB_DECIMALS = 6


def _numbers(values: np.ndarray, decimals: int) -> list[float | None]:
    rounded = np.round(np.asarray(values, dtype=np.float64), decimals).tolist()
    return [v if math.isfinite(v) else None for v in rounded]


def encode(frequency_hz: np.ndarray, levels_db: dict[str, np.ndarray], meta: dict) -> bytes:
    """Encode a PSD document.

    Parameters
    ----------
    frequency_hz : numpy.ndarray
        Frequency axis in Hz.
    levels_db : dict
        ``mean``, ``median``, ``p75``, ``p95`` arrays in dB, same length as ``frequency_hz``.
    meta : dict
        JSON-ready fields placed before the arrays (unit, nfft, ...).
    """
    missing = [name for name in STATISTICS if name not in levels_db]
    if missing:
        raise ValueError(f"levels_db lacks {missing}")
    for name in STATISTICS:
        if len(levels_db[name]) != len(frequency_hz):
            raise ValueError(f"levels_db[{name!r}] has {len(levels_db[name])} values for {len(frequency_hz)} frequencies")
    document = dict(meta)
    document["frequency_hz"] = np.asarray(frequency_hz, dtype=np.float64).tolist()
    for name in STATISTICS:
        document[name] = _numbers(levels_db[name], DB_DECIMALS)
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
