"""The synthetic deep sea in calibrated units: the ambient noise spectrum and the waveforms of its sources, in uPa.

Ambient noise (one-sided power spectral density, dB re 1 uPa^2/Hz, ``f`` in
kHz) is the power sum of three Wenz-curve terms in the empirical forms of
Coates (1990), as used e.g. by Stojanovic (2007):

* distant shipping, activity ``s`` in 0..1 (0.5: moderate)::

      N_s = 40 + 20 (s - 0.5) + 26 log10 f - 60 log10(f + 0.03)

* wind and waves at sea state ``SS`` (Knudsen's level ``K_SS`` at 1 kHz,
  :data:`KNUDSEN_1KHZ_DB`: 44.5, 55, 61.5, 64.5, 66.5, 68.5, 70 dB for sea
  states 0 to 6), with the Coates shape::

      N_w = K_SS + 20 log10 f - 40 log10(f + 0.4) + 40 log10(1.4)

* thermal noise of the water: ``N_th = -15 + 20 log10 f``.

Turbulence (below ~10 Hz, site-specific pseudo-noise) is left out. At sea
state 2 with moderate shipping this gives 61.5 dB at 1 kHz, 46.7 dB at
10 kHz, 33.4 dB at 50 kHz and ~73 dB at 20-50 Hz (shipping). Levels of the
sources (received, in uPa) are chosen to be plausible for a deep-sea
site a few km from the animals and ships, not measured ones.
"""

from __future__ import annotations

import numpy as np

KNUDSEN_1KHZ_DB = (44.5, 55.0, 61.5, 64.5, 66.5, 68.5, 70.0)
"""Wind-and-wave noise at 1 kHz, dB re 1 uPa^2/Hz, for sea states 0..6 (Knudsen curves as drawn by Wenz 1962)."""


def ambient_psd_db(frequency_hz: np.ndarray, sea_state: int = 2, shipping: float = 0.5) -> np.ndarray:
    """Ambient noise PSD in dB re 1 uPa^2/Hz at ``frequency_hz`` (> 0) for ``sea_state`` 0..6 and shipping 0..1."""
    if sea_state not in range(len(KNUDSEN_1KHZ_DB)):
        raise ValueError(f"{sea_state=} must be one of 0..{len(KNUDSEN_1KHZ_DB) - 1}")
    if not 0 <= shipping <= 1:
        raise ValueError(f"{shipping=} must lie in 0..1")
    f_khz = np.asarray(frequency_hz, dtype=np.float64) / 1000
    ships = 40 + 20 * (shipping - 0.5) + 26 * np.log10(f_khz) - 60 * np.log10(f_khz + 0.03)
    wind = KNUDSEN_1KHZ_DB[sea_state] + 20 * np.log10(f_khz) - 40 * np.log10(f_khz + 0.4) + 40 * np.log10(1.4)
    thermal = -15 + 20 * np.log10(f_khz)
    return 10 * np.log10(10 ** (ships / 10) + 10 ** (wind / 10) + 10 ** (thermal / 10))


SHIP_TONALS_HZ_UPA = ((62.5, 1.2e4), (125.0, 7e3), (187.5, 4e3))
"""A distant ship's blade-rate tonals (Hz, amplitude in uPa at the closest point of approach: ~79, 74, 69 dB re 1 uPa
rms), every frequency a multiple of 1/7200 Hz so their phase repeats every 2 h."""


def ship_upa(t_s: np.ndarray, t_phase_s: np.ndarray) -> np.ndarray:
    """A ship passing every 30 min (closest 5 min of travel away): its tonals at times ``t_s`` (``t_phase_s``: the same
    times modulo 2 h, for the phase)."""
    period_s, closest_s = 1800.0, 300.0
    distance = (np.mod(t_s, period_s) - period_s / 2) / closest_s
    return sum(a * np.sin(2 * np.pi * f * t_phase_s) for f, a in SHIP_TONALS_HZ_UPA) / np.sqrt(1 + distance**2)


def fin_whale_upa(rng: np.random.Generator, sample_rate_hz: float, length_samples: int) -> np.ndarray:
    """A fin-whale 20 Hz pulse: a 1 s downsweep 24 -> 17 Hz, Hann envelope, 102-108 dB re 1 uPa peak."""
    t = np.arange(length_samples) / sample_rate_hz
    phase = 2 * np.pi * (24 * t - 3.5 * t**2)
    return 10 ** (rng.uniform(102, 108) / 20) * np.hanning(length_samples) * np.sin(phase)


def sperm_click_upa(rng: np.random.Generator, sample_rate_hz: float, length_samples: int) -> np.ndarray:
    """A sperm-whale click: ~1 ms Gaussian-enveloped 12 kHz pulse, 100-112 dB re 1 uPa peak."""
    t = (np.arange(length_samples) - length_samples / 2) / sample_rate_hz
    return 10 ** (rng.uniform(100, 112) / 20) * np.exp(-0.5 * (t / 2.5e-4) ** 2) * np.sin(2 * np.pi * 12_000 * t)


DOLPHIN_CLICK_SPACING_S = 0.05
"""Dolphin clicks of a train follow each other every ~50 ms (uniform 40-60 ms)."""


def dolphin_train_upa(rng: np.random.Generator, sample_rate_hz: float, length_samples: int) -> np.ndarray:
    """A train of dolphin echolocation clicks over ``length_samples``: broadband clicks (Gaussian envelope, sigma 8 us,
    carrier 60 kHz: energy from ~20 to the Nyquist frequency, 97.7 kHz), 130-140 dB re 1 uPa peak, every 40-60 ms."""
    train = np.zeros(length_samples)
    half = 16
    t = np.arange(-half, half + 1) / sample_rate_hz
    click = np.exp(-0.5 * (t / 8e-6) ** 2) * np.cos(2 * np.pi * 60_000 * t)
    at_s = rng.uniform(0, 0.02)
    while (start := round(at_s * sample_rate_hz)) + 2 * half + 1 <= length_samples:
        train[start : start + 2 * half + 1] += 10 ** (rng.uniform(130, 140) / 20) * click
        at_s += rng.uniform(0.8, 1.2) * DOLPHIN_CLICK_SPACING_S
    return train


def bipolar_upa(rng: np.random.Generator, sample_rate_hz: float, length_samples: int) -> np.ndarray:
    """A neutrino-like bipolar pulse: the derivative of a Gaussian with sigma 8 us (spectral peak near 20 kHz),
    0.05-0.1 Pa peak."""
    sigma_s = 8e-6
    t = (np.arange(length_samples) - length_samples / 2) / sample_rate_hz
    return rng.uniform(5e4, 1e5) * (-t / sigma_s * np.exp(0.5 - 0.5 * (t / sigma_s) ** 2))


BEACON_PERIOD_SAMPLES = 1_953_125
"""Positioning beacons ping every 10 s exactly (1,953,125 samples)."""

BEACON_PING_S = 0.005
BEACONS_HZ = (26_000.0, 34_000.0)
"""Two acoustic positioning emitters (as KM3NeT's on the sea floor), each pinging its own frequency in 20-40 kHz."""


def beacon_ping_upa(frequency_hz: float, sample_rate_hz: float) -> np.ndarray:
    """One 5 ms ping at ``frequency_hz`` (0.5 ms raised-cosine ramps), 120 dB re 1 uPa peak (a beacon ~1 km away)."""
    n = round(BEACON_PING_S * sample_rate_hz)
    ramp = round(0.0005 * sample_rate_hz)
    envelope = np.ones(n)
    envelope[:ramp] = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    envelope[n - ramp :] = envelope[:ramp][::-1]
    return 1e6 * envelope * np.sin(2 * np.pi * frequency_hz * np.arange(n) / sample_rate_hz)
