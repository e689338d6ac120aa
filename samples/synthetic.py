"""Deterministic synthetic hydrophone signal and ADF files for tests, the demo and benchmarks.

The signal of a sensor is a pure function of (seed, sensor, absolute sample
index), where sample ``s`` lies at (or within one sample after) tick ``320 * s`` since the Unix epoch: any
stretch can be generated on its own and equals the same stretch cut from a
longer generation, bit for bit. It contains

* Wenz-like background noise: a shipping plateau below ~200 Hz, wind/sea-state
  noise falling ~17 dB per decade above it, thermal noise rising 20 dB per
  decade above ~40 kHz (white noise shaped by a linear-phase FIR filter);
* a passing ship every 30 min: blade-rate tonals at 62.5, 125 and 187.5 Hz and
  a 2.4 kHz cavitation tonal, loudest at the closest point of approach;
* fin-whale 20 Hz pulses (1 s downsweeps 24 -> 17 Hz, every ~12 s in bouts);
* sperm-whale clicks (broadband ~12 kHz, ~1 ms, about one per second in bouts);
* occasional neutrino-like bipolar pulses: the derivative of a Gaussian with
  sigma = 8 us (spectral peak near 20 kHz), at random times, a few per minute;
* a small DC offset, as real ADF data has.

Units are arbitrary "sample units" with a background standard deviation of
about 3e-4, similar to the real file in km3net-testdata. Like the real ADC's,
the samples are 24-bit counts as float32 (``count * 2**-23``, rounded to the
nearest count) unless ``adc_bits=None`` asks for unquantised float32.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import signal

from hydroserve.codecs import raw
from hydroserve.codecs.raw import DEFAULT_FRAME_LENGTH, DEFAULT_WINDOW_SIZE, TICKS_PER_SAMPLE, SensorId

FS_HZ = float(raw.SAMPLE_RATE_HZ)
_NOISE_CHUNK = 1 << 16
_FIR_TAPS = 1023
_PHASE_PERIOD = 1_406_250_000  # samples in 2 h; every tonal frequency here is a multiple of 1/7200 Hz


def _seed(*parts: int | str) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class _EventKind:
    name: str
    slot_samples: int       # one chance of an event per slot
    probability: float      # chance that a slot holds an event
    length_samples: int     # extent of one event


_FIN_WHALE = _EventKind("fin_whale", slot_samples=round(12 * FS_HZ), probability=0.8, length_samples=round(FS_HZ))
_SPERM_WHALE = _EventKind("sperm_whale", slot_samples=round(1.0 * FS_HZ), probability=0.7, length_samples=400)
_NEUTRINO_LIKE = _EventKind("bipolar_pulse", slot_samples=round(20 * FS_HZ), probability=0.9, length_samples=64)


class SyntheticSensor:
    """The synthetic signal of one sensor.

    Parameters
    ----------
    sensor : SensorId
    seed : int
        Global seed; the same (seed, sensor) gives the same signal.
    level : float
        Scale of the whole signal (e.g. a sensor farther from the ship is quieter).
    dc_offset : float
        Constant added to every sample.
    adc_bits : int or None
        The samples are rounded to counts of ``2**-(adc_bits - 1)`` (full scale ±1, as the real 24-bit ADC's
        float32 values are); None: float32 of the unquantised signal.
    """

    def __init__(self, sensor: SensorId, *, seed: int = 0, level: float = 1.0, dc_offset: float = 3e-3,
                 adc_bits: int | None = 24):
        if adc_bits is not None and not 2 <= adc_bits <= 24:
            raise ValueError(f"{adc_bits=} must lie in 2..24 (float32 holds 24-bit counts exactly) or be None")
        self.sensor = sensor
        self.adc_bits = adc_bits
        self.seed = seed
        self.level = level
        self.dc_offset = dc_offset
        self._events: dict[tuple[str, int], tuple[int, np.ndarray] | None] = {}

    @cached_property
    def _fir(self) -> np.ndarray:
        freq_hz = np.array([0, 50, 200, 1_000, 10_000, 40_000, 70_000, FS_HZ / 2])
        level_db = np.array([10, 10, 8, 0, -17, -27, -22, -17.0])
        taps = signal.firwin2(_FIR_TAPS, freq_hz, 10 ** (level_db / 20), fs=FS_HZ)
        return (taps / np.sqrt(np.sum(taps**2))).astype(np.float64)

    def _white(self, first: int, n: int) -> np.ndarray:
        """Seeded white noise for absolute samples [first, first + n)."""
        c0, c1 = first // _NOISE_CHUNK, (first + n - 1) // _NOISE_CHUNK
        chunks = [
            np.random.default_rng(_seed(self.seed, str(self.sensor), "noise", c)).standard_normal(_NOISE_CHUNK)
            for c in range(c0, c1 + 1)
        ]
        joined = np.concatenate(chunks)
        offset = first - c0 * _NOISE_CHUNK
        return joined[offset : offset + n]

    def samples(self, first: int, n: int) -> np.ndarray:
        """float32 samples for absolute sample indices [first, first + n)."""
        if n <= 0:
            raise ValueError(f"{n=} must be positive")
        white = self._white(first - (_FIR_TAPS - 1), n + _FIR_TAPS - 1)
        x = signal.oaconvolve(white, self._fir, mode="valid") * 2.2e-4
        index = np.arange(first, first + n, dtype=np.int64)
        t_phase_s = (index % _PHASE_PERIOD) / FS_HZ
        t_s = index / FS_HZ
        x += self._ship(t_s, t_phase_s)
        for kind, render in ((_FIN_WHALE, self._fin_whale), (_SPERM_WHALE, self._sperm_click), (_NEUTRINO_LIKE, self._bipolar)):
            self._add_events(x, first, kind, render)
        x = self.level * x + self.dc_offset
        if self.adc_bits is not None:
            full_scale = 2.0 ** (self.adc_bits - 1)
            x = np.clip(np.round(x * full_scale), -full_scale, full_scale - 1) / full_scale
        return x.astype(np.float32)

    def _ship(self, t_s: np.ndarray, t_phase_s: np.ndarray) -> np.ndarray:
        period_s, closest_s = 1800.0, 300.0
        distance = (np.mod(t_s, period_s) - period_s / 2) / closest_s
        amplitude = 4e-4 / np.sqrt(1 + distance**2)
        tonals = sum(a * np.sin(2 * np.pi * f * t_phase_s) for f, a in ((62.5, 1.0), (125.0, 0.6), (187.5, 0.35), (2400.0, 0.15)))
        return amplitude * tonals

    def _add_events(self, x: np.ndarray, first: int, kind: _EventKind, render) -> None:
        last = first + len(x)
        for slot in range((first - kind.length_samples) // kind.slot_samples, last // kind.slot_samples + 1):
            placed = self._event(kind, render, slot)
            if placed is None:
                continue
            start, event = placed
            lo, hi = max(start, first), min(start + len(event), last)
            if lo < hi:
                x[lo - first : hi - first] += event[lo - start : hi - start]

    def _event(self, kind: _EventKind, render, slot: int) -> tuple[int, np.ndarray] | None:
        """The event of a slot (start sample, waveform), or None; remembered for neighbouring frames."""
        key = (kind.name, slot)
        if key not in self._events:
            rng = np.random.default_rng(_seed(self.seed, str(self.sensor), kind.name, slot))
            if rng.random() >= kind.probability:
                self._events[key] = None
            else:
                start = slot * kind.slot_samples + int(rng.integers(0, kind.slot_samples - kind.length_samples))
                self._events[key] = (start, render(rng))
            if len(self._events) > 256:
                self._events.pop(next(iter(self._events)))
        return self._events[key]

    @staticmethod
    def _fin_whale(rng: np.random.Generator) -> np.ndarray:
        t = np.arange(_FIN_WHALE.length_samples) / FS_HZ
        phase = 2 * np.pi * (24 * t - 3.5 * t**2)  # 24 Hz -> 17 Hz over 1 s
        return 1.5e-3 * rng.uniform(0.5, 1.0) * np.hanning(len(t)) * np.sin(phase)

    @staticmethod
    def _sperm_click(rng: np.random.Generator) -> np.ndarray:
        t = (np.arange(_SPERM_WHALE.length_samples) - _SPERM_WHALE.length_samples / 2) / FS_HZ
        return 2e-3 * rng.uniform(0.3, 1.0) * np.exp(-0.5 * (t / 2.5e-4) ** 2) * np.sin(2 * np.pi * 12_000 * t)

    @staticmethod
    def _bipolar(rng: np.random.Generator) -> np.ndarray:
        sigma_s = 8e-6
        t = (np.arange(_NEUTRINO_LIKE.length_samples) - _NEUTRINO_LIKE.length_samples / 2) / FS_HZ
        shape = -t / sigma_s * np.exp(0.5 - 0.5 * (t / sigma_s) ** 2)  # peak amplitude 1
        return 3e-3 * rng.uniform(0.5, 1.0) * shape


def frame_start_ticks(start_tick: int, n_frames: int, frame_length: int = DEFAULT_FRAME_LENGTH) -> np.ndarray:
    """Start ticks of ``n_frames`` contiguous frames from ``start_tick``."""
    return start_tick + np.arange(n_frames, dtype=np.int64) * frame_length * TICKS_PER_SAMPLE


def frames(source: SyntheticSensor, start_ticks, frame_length: int = DEFAULT_FRAME_LENGTH) -> np.ndarray:
    """(n_frames, frame_length) samples for frames starting at ``start_ticks``.

    A frame starting at tick ``t`` gets the signal from sample index
    ``t // 320`` on, so contiguous frames continue the signal seamlessly.
    """
    out = np.empty((len(start_ticks), frame_length), dtype=np.float32)
    for row, tick in enumerate(start_ticks):
        out[row] = source.samples(int(tick) // TICKS_PER_SAMPLE, frame_length)
    return out


def write_adf_files(
    directory: str | Path,
    source: SyntheticSensor,
    *,
    start_tick: int,
    n_frames: int,
    frames_per_file: int,
    frame_length: int = DEFAULT_FRAME_LENGTH,
    drop_frames: frozenset[int] = frozenset(),
) -> list[Path]:
    """Write contiguous synthetic frames as ADF files ``DOM_<dom>_CH<n>_<unix>.bin``.

    Parameters
    ----------
    drop_frames : set of int
        Frame indices left out, to make gaps.

    Returns
    -------
    list of Path
        The files written, in time order.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ticks = frame_start_ticks(start_tick, n_frames, frame_length)
    paths = []
    for first in range(0, n_frames, frames_per_file):
        kept = [i for i in range(first, min(first + frames_per_file, n_frames)) if i not in drop_frames]
        if not kept:
            continue
        name = raw.RawFileName(source.sensor, int(ticks[kept[0]]) // raw.TICKS_PER_SECOND)
        path = directory / str(name)
        data = raw.encode(ticks[kept], frames(source, ticks[kept], frame_length), window_size=DEFAULT_WINDOW_SIZE)
        path.write_bytes(data)
        paths.append(path)
    return paths
