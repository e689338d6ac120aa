"""The synthetic sea: deterministic stretches, Wenz-like ambient levels in uPa, and every source where it was put.

Levels are measured with scipy.signal.welch (the independent reference) and compared with numbers computed by
hand from the Wenz-curve forms stated in hydroserve.samples.soundscape.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest
from scipy import signal

from hydroserve.acoustics import sensors
from hydroserve.codecs.raw import SensorId
from hydroserve.samples.synthetic import FS_HZ, SyntheticSensor
from support import SENSOR

FIRST = 1608751680 * 195312  # 2020-12-23T19:28:00Z
MINUTE = round(60 * FS_HZ)


def db(x):
    return 10 * np.log10(x)


def band_psd_db(x, fmin_hz, fmax_hz, nperseg=4096, average="mean"):
    """Welch PSD (scipy) of ``x`` averaged over [fmin_hz, fmax_hz], dB re 1 unit^2/Hz."""
    frequency, psd = signal.welch(np.asarray(x, dtype=np.float64), FS_HZ, nperseg=min(nperseg, len(x)), average=average)
    return db(np.mean(psd[(frequency >= fmin_hz) & (frequency <= fmax_hz)]))


@pytest.mark.parametrize("adc_bits", [24, None])
def test_any_stretch_equals_the_same_stretch_cut_from_a_longer_generation(adc_bits):
    start = FIRST + 12_345
    longer = SyntheticSensor(SENSOR, adc_bits=adc_bits).samples(start, 4 * 123_260)
    # odd starts and lengths, across noise chunks (65,536), low-band blocks (64) and event boundaries
    for offset, n in ((0, 123_260), (1, 1), (63, 65), (65_535, 70_000), (200_001, 250_000), (4 * 123_260 - 7, 7)):
        alone = SyntheticSensor(SENSOR, adc_bits=adc_bits).samples(start + offset, n)
        np.testing.assert_array_equal(alone.view(np.uint32), longer[offset : offset + n].view(np.uint32), err_msg=f"{offset}+{n}")


# By hand from the stated forms (f in kHz): wind K_SS + 20 log f - 40 log(f + 0.4) + 40 log 1.4, shipping (s = 0.5)
# 40 + 26 log f - 60 log(f + 0.03), thermal -15 + 20 log f, summed in power. At 1 kHz: shipping 39.23 dB; at 10 kHz:
# wind K_SS - 14.84 dB, shipping 5.92 dB, thermal 5 dB.
AMBIENT_DB = {0: (45.63, 29.70), 2: (61.53, 46.67), 5: (68.51, 53.67)}


@pytest.mark.parametrize("sea_state", sorted(AMBIENT_DB))
def test_ambient_noise_follows_the_wenz_levels_of_the_sea_state(sea_state):
    offset_db = 170.0  # dB re 1 uPa^2 per unit^2
    x = SyntheticSensor(SENSOR, sea_state=sea_state, adc_bits=None, offset_db=offset_db).samples(FIRST, round(20 * FS_HZ))
    frequency, psd = signal.welch(x.astype(np.float64), FS_HZ, nperseg=16_384, average="median")
    for frequency_hz, expected_db in zip((1000, 10_000), AMBIENT_DB[sea_state]):
        near = np.abs(frequency - frequency_hz) <= 100
        assert db(np.mean(psd[near])) + offset_db == pytest.approx(expected_db, abs=1.0), frequency_hz


def test_the_demo_calibrations_give_the_sea_in_upa():
    """The demo's sensors file and synthetic signal agree: through /psd's own conversion (offset_db_at) the ambient
    noise comes out at the hand-computed sea state 2 levels and within 28-70 dB re 1 uPa^2/Hz from 200 Hz to 90 kHz."""
    catalog = sensors.load(files("hydroserve.samples") / "sensors.toml")
    at_unix_s = FIRST / FS_HZ
    for sensor in (SensorId.parse("DOM_808956920_CH1"), SensorId.parse("DOM_808974724_CH1")):
        calibration = catalog.info(sensor).calibration
        source = SyntheticSensor(sensor, offset_db=calibration.at(at_unix_s).offset_db)
        frequency, psd = signal.welch(source.samples(FIRST, round(20 * FS_HZ)).astype(np.float64), FS_HZ, nperseg=16_384,
                                      average="median")
        level_db = db(psd) + sensors.offset_db_at(calibration, frequency, at_unix_s)
        for frequency_hz, expected_db in zip((1000, 10_000), AMBIENT_DB[2]):
            assert np.mean(level_db[np.abs(frequency - frequency_hz) <= 100]) == pytest.approx(expected_db, abs=1.0)
        inside = (frequency >= 200) & (frequency <= 90_000)
        assert 28 <= level_db[inside].min() and level_db[inside].max() <= 70, sensor  # 29.4 dB at 90 kHz (thermal)


@pytest.mark.parametrize("frequency_hz", [26_000, 34_000])
def test_each_beacon_pings_its_frequency_every_10_s_where_it_was_put(frequency_hz):
    source = SyntheticSensor(SENSOR, adc_bits=None)
    pings = source.placed(f"beacon_{frequency_hz}", FIRST, MINUTE)
    assert len(pings) == 6 and np.all(np.diff([start for start, _ in pings]) == 1_953_125)  # 10 s exactly
    x = source.samples(FIRST, MINUTE).astype(np.float64)
    for start, length in pings:
        ping = x[start - FIRST : start - FIRST + length]
        frequency, psd = signal.welch(ping, FS_HZ, nperseg=length)
        above_5khz = frequency > 5000
        assert frequency[above_5khz][np.argmax(psd[above_5khz])] == pytest.approx(frequency_hz, abs=250)
        before = x[start - FIRST - 3 * length : start - FIRST - 2 * length]
        assert band_psd_db(ping, frequency_hz - 300, frequency_hz + 300) - band_psd_db(before, frequency_hz - 300, frequency_hz + 300) > 20


def test_fin_whale_pulses_put_their_energy_at_17_to_24_hz():
    source = SyntheticSensor(SENSOR, adc_bits=None)
    pulses = source.placed("fin_whale", FIRST, MINUTE)
    assert len(pulses) >= 2
    x = source.samples(FIRST - MINUTE, 3 * MINUTE).astype(np.float64)
    quiet = [s for s in range(FIRST - MINUTE, FIRST + 2 * MINUTE - 200_000, 200_000)
             if not source.placed("fin_whale", s - 100_000, 400_000)]
    for start, length in pulses:
        pulse = x[start - FIRST + MINUTE : start - FIRST + MINUTE + length]
        calm = x[quiet[0] - FIRST + MINUTE : quiet[0] - FIRST + MINUTE + length]
        whale_db = band_psd_db(pulse, 17, 24, nperseg=65_536) - band_psd_db(calm, 17, 24, nperseg=65_536)
        assert whale_db > 10
        assert band_psd_db(pulse, 40, 60, nperseg=65_536) - band_psd_db(calm, 40, 60, nperseg=65_536) < 3  # not broadband


def test_dolphin_click_trains_are_broadband_from_20_khz_up_where_they_were_put():
    source = SyntheticSensor(SENSOR, adc_bits=None)
    trains = source.placed("dolphin_clicks", FIRST, MINUTE)
    assert len(trains) >= 1
    x = source.samples(FIRST, MINUTE).astype(np.float64)
    for start, length in trains:
        train = x[start - FIRST : start - FIRST + length]
        calm = x[max(0, start - FIRST - length) : start - FIRST] if start - FIRST > length else x[-length:]
        # median over 84 ms segments: each holds a click of the train, a beacon ping or a sperm-whale click only a few
        level = lambda x, fmin_hz, fmax_hz: band_psd_db(x, fmin_hz, fmax_hz, nperseg=16_384, average="median")
        for fmin_hz, fmax_hz in ((25_000, 40_000), (50_000, 70_000), (80_000, 95_000)):
            assert level(train, fmin_hz, fmax_hz) - level(calm, fmin_hz, fmax_hz) > 6, (fmin_hz, fmax_hz)
        assert level(train, 1000, 3000) - level(calm, 1000, 3000) < 1  # nothing at low frequency


def test_generation_settings_are_validated():
    with pytest.raises(ValueError, match="sea_state=7"):
        SyntheticSensor(SENSOR, sea_state=7)
    with pytest.raises(ValueError, match="shipping=1.5"):
        SyntheticSensor(SENSOR, shipping=1.5)
