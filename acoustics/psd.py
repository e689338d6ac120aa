"""Power spectral density by Welch segments, with per-frequency quantiles across segments.

For each contiguous run of samples ``x`` (segments never span a gap), the
segments are ``x[m*h : m*h + nfft]`` with hop ``h = nfft // 2`` (50 %
overlap). Each segment is detrended by its mean ``mu_m``, multiplied by the
periodic Hann window ``w_n = 1/2 - 1/2 cos(2 pi n / nfft)`` and transformed;
its one-sided power spectral density is

    P_m(f_k) = c_k * |Z_m(k)|^2 / (fs * sum(w^2)),   f_k = k * fs / nfft,

with ``c_k = 2`` except ``c_0 = c_{nfft/2} = 1`` -- exactly what
``scipy.signal.spectrogram(x, fs, window="hann", nperseg=nfft,
noverlap=nfft//2, detrend="constant", scaling="density")`` returns per
segment. Across all segments ``m`` of all runs:

* ``mean``  = average of P_m (the Welch estimate, ``scipy.signal.welch``);
* ``median``, ``p75``, ``p95`` = quantiles of P_m per frequency, exact, with
  numpy's default ("linear") interpolation between order statistics.

Statistics are taken in the linear domain; :func:`to_db` converts to
``10 log10``. The unit is (sample unit)^2/Hz; calibration is applied by the
caller as a dB offset.

How it is computed (and why it is exact):

* Detrending costs nothing: the DFT of the periodic Hann window is
  ``W_0 = nfft/2``, ``W_{+-1} = -nfft/4`` and zero elsewhere, so
  ``Z_m(k) = DFT(w x_m)(k) - mu_m W_k`` differs from the transform of the
  undetrended windowed segment in bins 0 and 1 only, which are corrected
  after the FFT. ``mu_m`` is the sum of two half-segment ("hop") sums,
  accumulated in float64.
* Transforms are float64 (``scipy.fft.rfft``), in blocks of
  :data:`BLOCK_SAMPLES` samples: a block's hops are converted to float64
  once (each sample lies in two segments), and each hop is windowed as the
  second half of one segment and the first half of the next. float32
  transforms are not accurate enough: their rounding error is about
  ``1e-7`` of the segment's total power in every bin, and real hydrophone
  spectra span over 100 dB (the ADC's anti-alias roll-off near Nyquist), so
  the quietest bins would be off by 1e-2 dB; float64 keeps every bin within
  1e-6 dB.
* ``|Z|^2`` is computed in float64; the mean is its float64 sum over the
  segments (per task of ``_TASK_SEGMENTS`` segments, the task sums added in
  task order, so the result does not depend on ``workers``). It is stored
  as float32 (relative rounding 6e-8, i.e. 3e-7 dB) for the quantiles,
  frequency-major, so that each frequency's segments are one contiguous row.
  The constant factor ``c_k / (fs sum(w^2))`` is applied to the statistics
  at the end (quantiles commute with a positive factor).
* Quantiles come from order statistics found by successive single-rank
  partial sorts (:func:`order_statistics`); numpy's single-``kth``
  partition is a vectorised quickselect, several times faster than one
  call with many ``kth``. The order statistic just above a partitioned
  rank is the minimum of the part right of it (a scan), and powers are
  selected through their float32 bit patterns as unsigned integers (same
  order for values ``>= +0``, a third faster than float selection).
* Both stages run on ``workers`` threads (numpy and scipy.fft release the
  GIL): transforms over ranges of segments, selection over blocks of
  frequencies. Memory beyond the input is the float32 power matrix (as large
  as the samples, since segments overlap by half and keep nfft/2 + 1 bins)
  plus about 3 MiB per thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.fft

QUANTILES = {"median": 0.5, "p75": 0.75, "p95": 0.95}
BLOCK_SAMPLES = 2**17
"""Samples transformed together (1 MiB of float64, cache-resident): 16 segments of nfft 8192."""
SELECTION_ROWS = 64
"""Frequencies per selection task."""
_TASK_SEGMENTS = 256  # segments per transform task: small enough to balance the threads


@dataclass(frozen=True)
class Psd:
    """PSD statistics of a sample sequence.

    Attributes
    ----------
    frequency_hz : numpy.ndarray
        ``k * fs / nfft`` for k = 0 .. nfft/2.
    mean, median, p75, p95 : numpy.ndarray
        Linear power spectral density, (sample unit)^2/Hz, float64.
    nfft : int
        Segment length in samples.
    n_segments : int
        Segments averaged (over all runs).
    effort_s : float
        Seconds of data covered by the segments.
    """

    frequency_hz: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    p75: np.ndarray
    p95: np.ndarray
    nfft: int
    n_segments: int
    effort_s: float

    @property
    def overlap_samples(self) -> int:
        return self.nfft // 2

    def band(self, fmin_hz: float | None, fmax_hz: float | None) -> Psd:
        """The same statistics for frequencies in [fmin_hz, fmax_hz]."""
        lo = 0 if fmin_hz is None else int(np.searchsorted(self.frequency_hz, fmin_hz, side="left"))
        hi = len(self.frequency_hz) if fmax_hz is None else int(np.searchsorted(self.frequency_hz, fmax_hz, side="right"))
        pick = slice(lo, hi)
        return Psd(
            self.frequency_hz[pick], self.mean[pick], self.median[pick], self.p75[pick], self.p95[pick],
            self.nfft, self.n_segments, self.effort_s,
        )


def check_nfft(nfft: int) -> int:
    """Return ``nfft`` if it is an even segment length in [16, 2**20]; raise ValueError otherwise."""
    if not isinstance(nfft, int | np.integer) or nfft < 16 or nfft > 2**20 or nfft % 2:
        raise ValueError(f"{nfft=} must be an even number of samples between 16 and 1048576")
    return int(nfft)


def segment_count(n_samples: int, nfft: int) -> int:
    """Welch segments of ``nfft`` samples at 50 % overlap in a run of ``n_samples``."""
    return 0 if n_samples < nfft else (n_samples - nfft) // (nfft // 2) + 1


def check_workers(workers: int | None) -> int:
    """Return ``workers`` if it is a positive number of threads; None means :func:`available_cpus`."""
    if workers is None:
        return available_cpus()
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ValueError(f"{workers=} must be a positive number of threads, or None for every available CPU")
    return int(workers)


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask (``taskset``), else the CPU count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def welch_quantiles(runs, sample_rate_hz: Fraction | float, nfft: int = 8192, *, workers: int | None = None) -> Psd:
    """Welch mean and per-frequency quantiles across segments of contiguous runs.

    Parameters
    ----------
    runs : sequence of numpy.ndarray
        Contiguous runs of samples (1-D, float32 or float64); segments do not
        cross from one run to the next.
    sample_rate_hz : Fraction or float
        Sampling rate ``fs`` in Hz.
    nfft : int
        Segment length in samples, even; hop is ``nfft // 2``.
    workers : int, optional
        Threads to use; default: every CPU this process may run on. The
        result does not depend on it.

    Returns
    -------
    Psd

    Raises
    ------
    ValueError
        If an argument is invalid or no run holds a whole segment.
    """
    nfft = check_nfft(nfft)
    workers = check_workers(workers)
    fs = float(sample_rate_hz)
    if not fs > 0:
        raise ValueError(f"{sample_rate_hz=} must be positive")
    runs = [np.asarray(run) for run in runs]
    for index, run in enumerate(runs):
        if run.ndim != 1:
            raise ValueError(f"runs[{index}] must be 1-D, not {run.ndim}-D")
    counts = [segment_count(len(run), nfft) for run in runs]
    n_segments = sum(counts)
    if n_segments == 0:
        raise ValueError(f"no contiguous run holds one segment of {nfft=} samples")

    power = np.empty((nfft // 2 + 1, n_segments), dtype=np.float32)
    total = np.zeros(nfft // 2 + 1)
    for task_sum in _run_parallel(_transform, _transform_tasks(runs, counts, power), workers):
        total += task_sum  # in task order: the same sum on any number of threads
    scale = density_scale(nfft, fs)
    mean = total / n_segments * scale
    median, p75, p95 = (q * scale for q in exact_quantiles(power, tuple(QUANTILES.values()), workers=workers))
    frequency_hz = np.arange(nfft // 2 + 1) * (fs / nfft)
    effort_s = sum((count - 1) * (nfft // 2) + nfft for count in counts if count) / fs
    return Psd(frequency_hz, mean, median, p75, p95, nfft, n_segments, effort_s)


def segment_powers(run: np.ndarray, sample_rate_hz: Fraction | float, nfft: int) -> np.ndarray:
    """``P_m(f_k)`` of every segment of one contiguous run, exactly as :func:`welch_quantiles` computes them.

    Returns
    -------
    numpy.ndarray
        (nfft/2 + 1, segment_count(len(run), nfft)) float64, (unit)^2/Hz;
        segment ``m`` starts at sample ``m * nfft // 2``.
    """
    nfft = check_nfft(nfft)
    count = segment_count(len(run), nfft)
    power = np.empty((nfft // 2 + 1, count), dtype=np.float32)
    for task in _transform_tasks([np.asarray(run)], [count], power):
        _transform(task)
    return power * density_scale(nfft, float(sample_rate_hz))[:, None]


def hann(nfft: int) -> np.ndarray:
    """The periodic ("DFT-even") Hann window ``w[n] = 0.5 - 0.5 cos(2 pi n / nfft)``, as ``scipy.signal.get_window("hann", nfft)``."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nfft) / nfft)


def density_scale(nfft: int, sample_rate_hz: float) -> np.ndarray:
    """``c_k / (fs * sum(w^2))`` per one-sided bin k: turns ``|Z(k)|^2`` into (unit)^2/Hz.

    ``c_k = 2`` folds the negative frequencies in, except at 0 and nfft/2;
    ``sum(w^2) = 3 nfft / 8`` for the periodic Hann window.
    """
    window = hann(nfft)
    scale = np.full(nfft // 2 + 1, 2.0 / (sample_rate_hz * float(np.sum(window**2))))
    scale[0] /= 2
    scale[-1] /= 2
    return scale


def _transform_tasks(runs: list[np.ndarray], counts: list[int], power: np.ndarray):
    """Yield ``(samples, out, window)`` for consecutive ranges of at most ``_TASK_SEGMENTS`` segments.

    ``samples`` are the samples the range's segments cover (a view on a run),
    ``out`` the power columns they fill, ``window`` the Hann window.
    """
    hop = power.shape[0] - 1  # nfft/2 + 1 bins
    window = hann(2 * hop)
    column = 0
    for run, count in zip(runs, counts):
        for first in range(0, count, _TASK_SEGMENTS):
            n = min(_TASK_SEGMENTS, count - first)
            yield run[first * hop : (first + n + 1) * hop], power[:, column + first : column + first + n], window
        column += count


def _transform(task) -> np.ndarray:
    """Fill ``out`` with ``|Z_m(k)|^2`` (float32, frequency-major); return their float64 sum over the segments.

    Per block of :data:`BLOCK_SAMPLES` samples: the block's hops converted
    to float64 once (every sample lies in two segments), the segment means
    from their hop sums, window (one product per half segment), float64
    rFFT, detrend in bins 0 and 1 (``Z(k) -= mu W_k`` with ``W_0 = nfft/2``,
    ``W_1 = -nfft/4``), squares of the real and imaginary parts in float64,
    added to the sum, and ``|Z|^2`` stored transposed as float32.
    """
    samples, out, window = task
    nfft = len(window)
    hop = nfft // 2
    n_segments = out.shape[1]
    block_segments = min(n_segments, max(1, BLOCK_SAMPLES // nfft))
    hops = np.empty((block_segments + 1) * hop)
    windowed = np.empty((block_segments, nfft))
    squares = np.empty((block_segments, nfft // 2 + 1), dtype=np.float32)
    total = np.zeros(nfft + 2)  # real and imaginary parts' squares, interleaved
    for first in range(0, n_segments, block_segments):
        n = min(block_segments, n_segments - first)
        block = hops[: (n + 1) * hop]
        np.copyto(block, samples[first * hop : (first + n + 1) * hop])
        halves = block.reshape(n + 1, hop)  # segment m is halves m and m + 1
        hop_sums = halves.sum(axis=1)
        means = (hop_sums[:-1] + hop_sums[1:]) / nfft
        np.multiply(halves[:-1], window[:hop], out=windowed[:n, :hop])
        np.multiply(halves[1:], window[hop:], out=windowed[:n, hop:])
        spectrum = scipy.fft.rfft(windowed[:n], axis=1, workers=1, overwrite_x=True)
        spectrum[:, 0] -= means * (nfft / 2)
        spectrum[:, 1] += means * (nfft / 4)
        parts = spectrum.view(np.float64)
        parts *= parts
        total += parts.sum(axis=0)
        out[:, first : first + n] = np.add(parts[:, 0::2], parts[:, 1::2], out=squares[:n], casting="same_kind").T
    return total[0::2] + total[1::2]


def exact_quantiles(rows: np.ndarray, quantiles: Sequence[float], *, workers: int = 1) -> list[np.ndarray]:
    """Per-row quantiles of a 2-D array, numpy's "linear" method, as float64.

    For ``n`` values sorted ascending ``v``, quantile ``q`` is
    ``v[j] + g * (v[j+1] - v[j])`` with ``j = floor(q * (n - 1))`` and
    ``g = q * (n - 1) - j``, evaluated like ``numpy.quantile`` (from the
    nearer end), so the result equals ``numpy.quantile(rows, quantiles,
    axis=1)`` computed in float64. The order statistics are found by
    :func:`order_statistics`, which reorders each row of ``rows`` in place,
    on float32 blocks without a sign bit set (values ``>= +0`` or NaN, as
    powers are) through their bit patterns as unsigned integers: those sort
    exactly as the values do (NaNs last, as numpy sorts them), and integer
    selection is a third faster.
    """
    n = rows.shape[1]
    if rows.size == 0:
        raise ValueError(f"rows of shape {rows.shape} must hold at least one row and one value in each")
    positions = [q * (n - 1) for q in quantiles]
    if not all(0 <= p <= n - 1 for p in positions):
        raise ValueError(f"{quantiles=} must lie in [0, 1]")
    ranks = sorted({min(int(p) + d, n - 1) for p in positions for d in (0, 1)})

    def select(block: slice) -> np.ndarray:
        part = rows[block]
        if part.dtype == np.float32 and part.view(np.int32).min() >= 0:
            return order_statistics(part.view(np.uint32), ranks).view(np.float32)
        return order_statistics(part, ranks)

    blocks = [slice(r, r + SELECTION_ROWS) for r in range(0, len(rows), SELECTION_ROWS)]
    values = np.concatenate(list(_run_parallel(select, blocks, workers)), axis=1)
    row_of = {rank: i for i, rank in enumerate(ranks)}
    result = []
    for p in positions:
        j = int(p)
        lower = values[row_of[j]].astype(np.float64)
        upper = values[row_of[min(j + 1, n - 1)]].astype(np.float64)
        result.append(_lerp(lower, upper, p - j))
    return result


def order_statistics(rows: np.ndarray, ranks: Sequence[int]) -> np.ndarray:
    """The ``ranks[i]``-th smallest value (0-based) of each row, shape ``(len(ranks), len(rows))``.

    ``ranks`` must be ascending. Each row is partially sorted in place by one
    single-rank partition per rank: after partitioning at rank ``r`` every
    value right of ``r`` is ``>=`` it, so rank ``r' > r`` is searched for in
    ``rows[:, r+1:]`` only, and rank ``r + 1`` is their minimum (a scan, no
    partition).
    """
    if list(ranks) != sorted(set(ranks)) or (ranks and not 0 <= ranks[0] <= ranks[-1] < rows.shape[1]):
        raise ValueError(f"{ranks=} must be distinct, ascending and in [0, {rows.shape[1]})")
    result = np.empty((len(ranks), len(rows)), dtype=rows.dtype)
    start = 0  # rows[:, start:] holds the values of ranks >= start, in some order
    for i, rank in enumerate(ranks):
        if rank == start:
            result[i] = rows[:, start:].min(axis=1)
        else:
            rows[:, start:].partition(rank - start, axis=1)
            result[i] = rows[:, rank]
            start = rank + 1
    return result


def _lerp(lower: np.ndarray, upper: np.ndarray, g: float) -> np.ndarray:
    """``lower + g (upper - lower)``, from the nearer end as numpy does (exact at g = 0 and g = 1)."""
    if g < 0.5:
        return lower + (upper - lower) * g
    return upper - (upper - lower) * (1 - g)


def _run_parallel(task: Callable, items: Iterable, workers: int) -> Iterator:
    """``task(item)`` for each item, on up to ``workers`` threads; the results are yielded in the items' order."""
    items = list(items)
    if workers == 1 or len(items) <= 1:
        yield from map(task, items)
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            yield from pool.map(task, items)


def to_db(power: np.ndarray) -> np.ndarray:
    """``10 log10(power)``; zero power gives -inf."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(power)
