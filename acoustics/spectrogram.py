"""Spectrogram of a stored package at picture resolution, in bounded memory.

A package window of ``T = n_expected / fs`` seconds is divided into
``n_columns`` time columns of ``dt = T / n_columns`` seconds. Each contiguous
run of samples is cut into segments of ``nfft`` samples with hop
``nfft // 2`` (segments never span a gap), and each segment's one-sided power
spectral density ``P_m(f_k)`` comes from :func:`.psd.segment_powers` (periodic
Hann window, constant detrend, density scaling: the PSD product's own engine).
Column ``j`` holds the average of the segments whose centre
time lies in ``[j dt, (j + 1) dt)``:

    S[k, j] = mean_{m : t_m in column j} P_m(f_k),   unit (sample unit)^2/Hz.

Columns that no segment falls into (gaps in the data) are NaN: a picture
shows them as "no data", they are never filled. ``n_columns`` is at most
``n_expected // nfft``, so every column of continuous data holds at least one
segment.

Samples are read from the stored float32 blob ``chunk_segments`` segments at
a time, so memory is ``O(chunk_segments * nfft + n_columns * nfft)``
whatever the package length (a 300 s package holds 58.6 million samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np

from hydroserve.codecs.raw import SAMPLE_BYTES, TICKS_PER_SECOND

from .psd import check_nfft, segment_count, segment_powers
from .window import Run

DEFAULT_NFFT = 1024
DEFAULT_MAX_COLUMNS = 800
DEFAULT_CHUNK_SEGMENTS = 2048


@dataclass(frozen=True)
class Spectrogram:
    """Average PSD per time column.

    Attributes
    ----------
    frequency_hz : numpy.ndarray
        ``k * fs / nfft`` for k = 0 .. nfft/2.
    power : numpy.ndarray
        Shape (n_frequencies, n_columns), linear (sample unit)^2/Hz, float64;
        NaN in columns without data.
    segments_per_column : numpy.ndarray
        Segments averaged into each column (0 where there is no data).
    column_s : float
        Width ``dt`` of a column in seconds.
    duration_s : float
        Length ``T`` of the package window in seconds.
    nfft : int
        Segment length in samples (hop ``nfft // 2``).
    """

    frequency_hz: np.ndarray
    power: np.ndarray
    segments_per_column: np.ndarray
    column_s: float
    duration_s: float
    nfft: int

    @property
    def time_s(self) -> np.ndarray:
        """Column centres in seconds from the window start."""
        return (np.arange(self.power.shape[1]) + 0.5) * self.column_s


def column_count(n_expected: int, nfft: int, max_columns: int) -> int:
    """Columns for a window of ``n_expected`` samples: at most ``max_columns``, each at least ``nfft`` samples wide."""
    if max_columns < 1:
        raise ValueError(f"{max_columns=} must be at least 1")
    return max(1, min(max_columns, n_expected // nfft))


def stored_spectrogram(
    samples: BinaryIO,
    runs: tuple[Run, ...],
    *,
    window_start_tick: int,
    n_expected: int,
    sample_rate_hz: Fraction | float,
    nfft: int = DEFAULT_NFFT,
    max_columns: int = DEFAULT_MAX_COLUMNS,
    chunk_segments: int = DEFAULT_CHUNK_SEGMENTS,
) -> Spectrogram:
    """Spectrogram of a package's stored samples.

    Parameters
    ----------
    samples : binary file
        Seekable; the package's samples as little-endian float32, runs back
        to back (the ``.f32`` blob, or the FLAC blob as decoded by
        :class:`~.sample_storage.FlacSamples`).
    runs : tuple of Run
        The contiguous runs: where each starts in time (16 ns ticks) and in
        ``samples``.
    window_start_tick : int
        Start of the package window (16 ns ticks).
    n_expected : int
        Samples in a complete window.
    sample_rate_hz : Fraction or float
        Sampling rate ``fs``.
    nfft : int
        Segment length (even); the frequency resolution is ``fs / nfft``.
    max_columns : int
        Upper bound on the time columns (the picture's width).
    chunk_segments : int
        Segments read and transformed at a time (bounds memory).

    Returns
    -------
    Spectrogram
    """
    nfft = check_nfft(nfft)
    if chunk_segments < 1:
        raise ValueError(f"{chunk_segments=} must be at least 1")
    fs = float(sample_rate_hz)
    hop = nfft // 2
    n_columns = column_count(n_expected, nfft, max_columns)
    duration_s = n_expected / fs
    column_s = duration_s / n_columns
    total = np.zeros((nfft // 2 + 1, n_columns))
    counts = np.zeros(n_columns, dtype=np.int64)
    for run in runs:
        run_offset_s = (run.start_tick - window_start_tick) / TICKS_PER_SECOND
        n_segments = segment_count(run.n_samples, nfft)
        for first in range(0, n_segments, chunk_segments):
            count = min(chunk_segments, n_segments - first)
            chunk = _read(samples, run.first_sample + first * hop, (count - 1) * hop + nfft)
            power = segment_powers(chunk, fs, nfft)
            centre_s = (np.arange(count) * hop + nfft / 2) / fs
            column = np.clip(((run_offset_s + first * hop / fs + centre_s) / column_s).astype(np.int64), 0, n_columns - 1)
            # centres grow with m, so the segments of one column are adjacent
            used, starts, per_column = np.unique(column, return_index=True, return_counts=True)
            total[:, used] += np.add.reduceat(power, starts, axis=1, dtype=np.float64)
            counts[used] += per_column
    with np.errstate(invalid="ignore", divide="ignore"):
        power = np.where(counts > 0, total / counts, np.nan)
    frequency_hz = np.arange(nfft // 2 + 1) * (fs / nfft)
    return Spectrogram(frequency_hz, power, counts, column_s, duration_s, nfft)


def _read(samples: BinaryIO, first_sample: int, n_samples: int) -> np.ndarray:
    samples.seek(first_sample * SAMPLE_BYTES)
    data = samples.read(n_samples * SAMPLE_BYTES)
    if len(data) != n_samples * SAMPLE_BYTES:
        raise OSError(f"samples end at byte {first_sample * SAMPLE_BYTES + len(data)}, "
                      f"{n_samples} samples were expected from sample {first_sample}")
    return np.frombuffer(data, dtype="<f4")
