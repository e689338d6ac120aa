"""Deterministic synthetic hydrophone signal and ADF files for tests, the demo and benchmarks.

The signal of a sensor is a pure function of (seed, sensor, absolute sample
index), where sample ``s`` lies at (or within one sample after) tick ``320 * s`` since the Unix epoch: any
stretch can be generated on its own and equals the same stretch cut from a
longer generation, bit for bit. It is a deep-sea soundscape in uPa (levels
and sources: :mod:`.soundscape`):

* ambient noise shaped like the Wenz curves for a sea state (0-6) and a
  shipping activity: white noise through a linear-phase FIR filter above
  ~1 kHz, plus a low band (distant shipping, below ~1.4 kHz) made at 1/64
  of the sample rate by its own FIR filter and interpolated linearly (the
  filter compensates the interpolation's sinc^2 response);
* a ship passing every 30 min: blade-rate tonals at 62.5, 125 and 187.5 Hz
  (in the low band), loudest at the closest point of approach;
* fin-whale 20 Hz pulses (1 s downsweeps 24 -> 17 Hz, every ~12 s in bouts; in the low band);
* sperm-whale clicks (~1 ms around 12 kHz) and trains of dolphin clicks (broadband, 20 kHz to the Nyquist frequency);
* pings of two positioning beacons (5 ms at 26 and 34 kHz, every 10 s exactly);
* occasional neutrino-like bipolar pulses: the derivative of a Gaussian with
  sigma = 8 us (spectral peak near 20 kHz), at random times, a few per minute;
* a small DC offset (in sample units), as real ADF data has.

The pressure becomes sample units through ``offset_db`` (the sensor's
calibration offset, :func:`hydroserve.acoustics.sensors.offset_db_at`):
``s = level * p / 10**(offset_db / 20)``; at the default 170 dB (sensitivity
-170 dB re 1 V/uPa, no gain, as ``samples/sensors.toml``) the background's
standard deviation is about 3e-4 sample units, similar to the real file in
km3net-testdata. Like the real ADC's, the samples are 24-bit counts as
float32 (``count * 2**-23``, rounded to the nearest count) unless
``adc_bits=None`` asks for unquantised float32. :meth:`SyntheticSensor.placed`
says where each source was put.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy import signal

from hydroserve.codecs import raw
from hydroserve.codecs.raw import DEFAULT_FRAME_LENGTH, DEFAULT_WINDOW_SIZE, TICKS_PER_SAMPLE, SensorId

from . import soundscape

FS_HZ = float(raw.SAMPLE_RATE_HZ)
LOW_FACTOR = 64
"""The low band is made at ``FS_HZ / LOW_FACTOR`` (3051.76 Hz) and interpolated linearly."""
LOW_RATE_HZ = FS_HZ / LOW_FACTOR
DEFAULT_OFFSET_DB = 170.0
_NOISE_CHUNK = 1 << 16
_FIR_TAPS = 1023
_LOW_FIR_TAPS = 1023
_HIGH_BAND_FROM_HZ = 1000.0   # the full-rate filter follows the ambient spectrum from here up
_LOW_BAND_TO_HZ = (1200.0, 1450.0)  # the low band fills in below the first, fading out by the second
_PHASE_PERIOD = 1_406_250_000  # samples in 2 h; every tonal frequency here is a multiple of 1/7200 Hz


def _seed(*parts: int | str) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class _EventKind:
    name: str
    factor: int             # samples of the full rate per sample of the event's rate (1 or LOW_FACTOR)
    slot_samples: int       # one chance of an event per slot (at the event's rate)
    probability: float      # chance that a slot holds an event
    length_samples: int     # extent of one event (at the event's rate)
    render: Callable[[np.random.Generator, float, int], np.ndarray]  # (rng, rate, length) -> uPa


_FIN_WHALE = _EventKind("fin_whale", LOW_FACTOR, round(12 * LOW_RATE_HZ), 0.8, round(LOW_RATE_HZ), soundscape.fin_whale_upa)
_SPERM_WHALE = _EventKind("sperm_whale", 1, round(1.0 * FS_HZ), 0.5, 400, soundscape.sperm_click_upa)
_DOLPHINS = _EventKind("dolphin_clicks", 1, round(20 * FS_HZ), 0.5, round(1.5 * FS_HZ), soundscape.dolphin_train_upa)
_NEUTRINO_LIKE = _EventKind("bipolar_pulse", 1, round(20 * FS_HZ), 0.9, 64, soundscape.bipolar_upa)
EVENT_KINDS = {kind.name: kind for kind in (_FIN_WHALE, _SPERM_WHALE, _DOLPHINS, _NEUTRINO_LIKE)}


@cache
def _filters(sea_state: int, shipping: float) -> tuple[np.ndarray, np.ndarray]:
    """The full-rate and the low-band FIR filters whose outputs' PSDs add up to the ambient spectrum.

    White noise of unit variance has the one-sided PSD ``2 / rate``; through a filter of response ``H`` it becomes
    ``|H|^2 * 2 / rate``, so ``|H| = sqrt(T * rate / 2)`` gives the target ``T`` (uPa^2/Hz). Linear interpolation
    multiplies the low band's PSD by ``sinc(f / rate_low)^4``, which its filter divides out.
    """
    target = lambda f: 10 ** (soundscape.ambient_psd_db(f, sea_state, shipping) / 10)
    high_hz = np.concatenate([[0.0], np.geomspace(20.0, FS_HZ / 2, 400)])
    high_db = np.where(high_hz >= _HIGH_BAND_FROM_HZ, soundscape.ambient_psd_db(np.maximum(high_hz, 1.0), sea_state, shipping),
                       soundscape.ambient_psd_db(_HIGH_BAND_FROM_HZ, sea_state, shipping)
                       + 20 * np.log10(np.maximum(high_hz, 1e-3) / _HIGH_BAND_FROM_HZ))
    high = signal.firwin2(_FIR_TAPS, high_hz, np.sqrt(10 ** (high_db / 10) * FS_HZ / 2), fs=FS_HZ)
    low_hz = np.linspace(0.0, LOW_RATE_HZ / 2, 1025)
    _, response = signal.freqz(high, worN=low_hz, fs=FS_HZ)
    fill = np.maximum(target(np.maximum(low_hz, 1.0)) - np.abs(response) ** 2 * 2 / FS_HZ, 0.0)
    fade = np.clip((_LOW_BAND_TO_HZ[1] - low_hz) / (_LOW_BAND_TO_HZ[1] - _LOW_BAND_TO_HZ[0]), 0.0, 1.0)
    gain = np.sqrt(fill * fade * LOW_RATE_HZ / 2) / np.sinc(low_hz / LOW_RATE_HZ) ** 2
    return high, signal.firwin2(_LOW_FIR_TAPS, low_hz, gain, fs=LOW_RATE_HZ)


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
        Constant added to every sample (sample units).
    adc_bits : int or None
        The samples are rounded to counts of ``2**-(adc_bits - 1)`` (full scale ±1, as the real 24-bit ADC's
        float32 values are); None: float32 of the unquantised signal.
    sea_state : int
        0 (calm) .. 6: the wind-and-wave noise (:func:`.soundscape.ambient_psd_db`).
    shipping : float
        Distant shipping activity, 0 .. 1 (0.5 moderate).
    offset_db : float
        dB re 1 uPa^2 per (sample unit)^2: the calibration offset that turns this sensor's samples back into uPa.
    """

    def __init__(self, sensor: SensorId, *, seed: int = 0, level: float = 1.0, dc_offset: float = 3e-3,
                 adc_bits: int | None = 24, sea_state: int = 2, shipping: float = 0.5,
                 offset_db: float = DEFAULT_OFFSET_DB):
        if adc_bits is not None and not 2 <= adc_bits <= 24:
            raise ValueError(f"{adc_bits=} must lie in 2..24 (float32 holds 24-bit counts exactly) or be None")
        self._high_fir, self._low_fir = _filters(sea_state, float(shipping))  # validates both
        self.sensor = sensor
        self.adc_bits = adc_bits
        self.seed = seed
        self.level = level
        self.dc_offset = dc_offset
        self.sea_state = sea_state
        self.shipping = shipping
        self.offset_db = offset_db
        self._events: dict[tuple[str, int], tuple[int, np.ndarray] | None] = {}
        first_ping = np.random.default_rng(_seed(seed, str(sensor), "beacons")).integers(0, soundscape.BEACON_PERIOD_SAMPLES)
        spacing = soundscape.BEACON_PERIOD_SAMPLES // len(soundscape.BEACONS_HZ)
        self._beacons = [(int(first_ping + b * spacing) % soundscape.BEACON_PERIOD_SAMPLES, soundscape.beacon_ping_upa(f, FS_HZ))
                         for b, f in enumerate(soundscape.BEACONS_HZ)]

    def _white(self, stream: str, first: int, n: int) -> np.ndarray:
        """Seeded white noise of ``stream`` for its absolute samples [first, first + n)."""
        c0, c1 = first // _NOISE_CHUNK, (first + n - 1) // _NOISE_CHUNK
        chunks = [
            np.random.default_rng(_seed(self.seed, str(self.sensor), stream, c)).standard_normal(_NOISE_CHUNK)
            for c in range(c0, c1 + 1)
        ]
        joined = np.concatenate(chunks)
        offset = first - c0 * _NOISE_CHUNK
        return joined[offset : offset + n]

    def samples(self, first: int, n: int) -> np.ndarray:
        """float32 samples for absolute sample indices [first, first + n)."""
        if n <= 0:
            raise ValueError(f"{n=} must be positive")
        white = self._white("noise", first - (_FIR_TAPS - 1), n + _FIR_TAPS - 1)
        x = signal.oaconvolve(white, self._high_fir, mode="valid")
        x += self._low_band(first, n)
        for kind in (_SPERM_WHALE, _DOLPHINS, _NEUTRINO_LIKE):
            self._add_events(x, first, kind)
        for start, ping in self._pings(first, n):
            lo, hi = max(start, first), min(start + len(ping), first + n)
            x[lo - first : hi - first] += ping[lo - start : hi - start]
        x = x * (self.level / 10 ** (self.offset_db / 20)) + self.dc_offset
        if self.adc_bits is not None:
            full_scale = 2.0 ** (self.adc_bits - 1)
            x = (np.clip(np.round(x * full_scale), -full_scale, full_scale - 1) + 0.0) / full_scale  # + 0.0: no -0.0 count
        return x.astype(np.float32)

    def _low_band(self, first: int, n: int) -> np.ndarray:
        """Shipping noise, the ship's tonals and fin whales, made at ``LOW_RATE_HZ`` (low sample ``j`` at full-rate
        sample ``64 j``) and interpolated linearly to the full-rate samples [first, first + n)."""
        j0, j1 = first // LOW_FACTOR, (first + n - 1) // LOW_FACTOR + 1
        white = self._white("noise_low", j0 - (_LOW_FIR_TAPS - 1), j1 - j0 + _LOW_FIR_TAPS)
        low = signal.oaconvolve(white, self._low_fir, mode="valid")
        index = np.arange(j0, j1 + 1, dtype=np.int64) * LOW_FACTOR
        low += soundscape.ship_upa(index / FS_HZ, (index % _PHASE_PERIOD) / FS_HZ)
        self._add_events(low, j0, _FIN_WHALE)
        weight = np.arange(LOW_FACTOR) / LOW_FACTOR
        blocks = low[:-1, None] * (1 - weight) + low[1:, None] * weight
        start = first - j0 * LOW_FACTOR
        return blocks.reshape(-1)[start : start + n]

    def _add_events(self, x: np.ndarray, first: int, kind: _EventKind) -> None:
        """Add the events of ``kind`` to ``x``, which holds the samples from ``first`` on at the event's rate."""
        last = first + len(x)
        for start, event in self._events_in(kind, first, last):
            lo, hi = max(start, first), min(start + len(event), last)
            x[lo - first : hi - first] += event[lo - start : hi - start]

    def _events_in(self, kind: _EventKind, first: int, last: int) -> list[tuple[int, np.ndarray]]:
        """The events of ``kind`` overlapping samples [first, last) at the event's rate: (start, waveform in uPa)."""
        slots = range((first - kind.length_samples) // kind.slot_samples, last // kind.slot_samples + 1)
        placed = [self._event(kind, slot) for slot in slots]
        return [p for p in placed if p is not None and p[0] < last and p[0] + len(p[1]) > first]

    def _event(self, kind: _EventKind, slot: int) -> tuple[int, np.ndarray] | None:
        """The event of a slot (start sample, waveform), or None; remembered for neighbouring frames."""
        key = (kind.name, slot)
        if key not in self._events:
            rng = np.random.default_rng(_seed(self.seed, str(self.sensor), kind.name, slot))
            if rng.random() >= kind.probability:
                self._events[key] = None
            else:
                start = slot * kind.slot_samples + int(rng.integers(0, kind.slot_samples - kind.length_samples))
                self._events[key] = (start, kind.render(rng, FS_HZ / kind.factor, kind.length_samples))
            if len(self._events) > 256:
                self._events.pop(next(iter(self._events)))
        return self._events[key]

    def _pings(self, first: int, n: int) -> list[tuple[int, np.ndarray]]:
        """The beacon pings overlapping samples [first, first + n): (start sample, waveform in uPa)."""
        period = soundscape.BEACON_PERIOD_SAMPLES
        found = []
        for delay, ping in self._beacons:
            for cycle in range((first - delay - len(ping)) // period + 1, (first + n - delay) // period + 1):
                start = cycle * period + delay
                if start < first + n and start + len(ping) > first:
                    found.append((start, ping))
        return found

    def placed(self, source: str, first: int, n: int) -> list[tuple[int, int]]:
        """Where ``source`` was put among samples [first, first + n): (start sample, length in samples) of each event
        overlapping them, in time order. ``source`` is an event kind (``fin_whale``, ``sperm_whale``,
        ``dolphin_clicks``, ``bipolar_pulse``) or ``beacon_<frequency in Hz>`` (e.g. ``beacon_26000``)."""
        if source.startswith("beacon_"):
            frequency = [f"beacon_{f:.0f}" for f in soundscape.BEACONS_HZ].index(source)
            ping = self._beacons[frequency][1]
            return sorted((start, len(ping)) for start, p in self._pings(first, n) if p is ping)
        kind = EVENT_KINDS[source]
        low_first, low_last = first // kind.factor, -(-(first + n) // kind.factor)
        return [(start * kind.factor, len(event) * kind.factor) for start, event in self._events_in(kind, low_first, low_last)]


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
