"""Sensitivity curves with validity dates: the sensors file, offset_db_at, and /psd and /info of a calibrated tone."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from hydroserve.acoustics import sensors
from hydroserve.acoustics.sensors import Calibration, SensitivityCurve, SensorsFileError, calibration_tag, offset_db_at
from hydroserve.codecs import raw, raw_decoder
from support import REAL_START_TICK, SENSOR, url

FS = 195312.5
PACKAGE = "DOM_808956920_CH1_1608751680"  # 2020-12-23T19:28:00Z
DECEMBER_2020 = datetime(2020, 12, 1, tzinfo=UTC).timestamp()

# S = -175, -170, -164 dB re 1 V/uPa at 100 Hz, 1 kHz, 10 kHz; gain 10 dB, 1 V per unit
CURVE = SensitivityCurve((100.0, 1000.0, 10000.0), (-175.0, -170.0, -164.0))
CALIBRATION = Calibration(None, gain_db=10.0, curves=(CURVE,))


@pytest.mark.parametrize(("frequency_hz", "offset_db"), [
    (1000.0, 160.0),                    # on a point: 170 - 10
    (10 ** 2.5, 162.5),                 # halfway between 100 Hz and 1 kHz in log frequency: S = -172.5
    (10 ** 3.25, 158.5),                # a quarter of the way from 1 kHz to 10 kHz: S = -170 + 6/4
    (10 ** 3.5, 157.0),                 # halfway: S = -167
    (50.0, 165.0), (0.0, 165.0),        # below the first point (0 Hz too): S held at -175
    (97656.25, 154.0),                  # above the last point: S held at -164
])
def test_offsets_are_interpolated_in_log_frequency_and_held_beyond_the_ends(frequency_hz, offset_db):
    assert offset_db_at(CALIBRATION, np.array([frequency_hz]))[0] == pytest.approx(offset_db, abs=1e-12)


def test_volts_per_unit_and_the_flat_case():
    doubled = Calibration(None, gain_db=10.0, volts_per_unit=2.0, curves=(CURVE,))
    assert offset_db_at(doubled, np.array([1000.0]))[0] == pytest.approx(160.0 + 20 * math.log10(2), abs=1e-12)
    flat = Calibration(-155.0, gain_db=40.0)
    np.testing.assert_array_equal(offset_db_at(flat, np.array([[0.0, 20.0], [1e3, 9e4]])), np.full((2, 2), 115.0))
    np.testing.assert_array_equal(offset_db_at(None, np.array([1.0, 2.0])), [0.0, 0.0])


def test_the_curve_valid_at_the_time_is_used_else_the_flat_sensitivity():
    old = SensitivityCurve((1000.0,), (-180.0,), valid_until_unix_s=DECEMBER_2020, source="old")
    new = SensitivityCurve((1000.0,), (-170.0,), valid_from_unix_s=DECEMBER_2020, valid_until_unix_s=DECEMBER_2020 + 86400)
    calibration = Calibration(-150.0, curves=(new, old))
    at = lambda unix_s: offset_db_at(calibration, np.array([1000.0]), unix_s)[0]
    assert at(DECEMBER_2020 - 1) == 180.0
    assert at(DECEMBER_2020) == 170.0                   # valid_from is inclusive
    assert at(DECEMBER_2020 + 86400) == 150.0           # valid_until is exclusive: the flat value after it
    assert calibration.at(DECEMBER_2020 - 1).curve.source == "old"
    with pytest.raises(ValueError, match="2 sensitivity curves"):
        offset_db_at(calibration, np.array([1000.0]))  # no time: ambiguous


def test_the_tag_changes_with_any_curve_value_and_flat_tags_are_unchanged():
    flat = Calibration(-155.0, 40.0)
    assert calibration_tag(flat) == "cal" + hashlib.sha256(repr((-155.0, 40.0, 1.0)).encode()).hexdigest()[:12]
    moved = Calibration(None, 10.0, curves=(SensitivityCurve((100.0, 1000.0, 10000.0), (-175.0, -170.0, -164.5)),))
    dated = Calibration(None, 10.0, curves=(SensitivityCurve(CURVE.frequency_hz, CURVE.sensitivity_db_re_1v_per_upa,
                                                             source="sheet 2"),))
    tags = {calibration_tag(c) for c in (flat, CALIBRATION, moved, dated, None)}
    assert len(tags) == 5


def test_a_calibration_survives_its_json_form():
    early = SensitivityCurve(CURVE.frequency_hz, CURVE.sensitivity_db_re_1v_per_upa, valid_until_unix_s=5.0)
    calibration = Calibration(-150.0, 3.0, 0.5, -1, (SensitivityCurve((1.0,), (-1.0,), 5.0, 6.0, "x"), early))
    assert Calibration.from_json(calibration.to_json()) == calibration


def write_sensors(tmp_path, sensor_lines: str):
    path = tmp_path / "sensors.toml"
    path.write_text(f'[[sensor]]\nid = "DOM_808956920_CH1"\ngain_db = 10.0\n{sensor_lines}')
    return path


CURVE_A = """
[[sensor.sensitivity_curve]]
frequency_hz = [100, 1000, 10000]
sensitivity_db_re_1v_per_upa = [-175.0, -170.0, -164.0]
source = "sheet A"
"""


def test_the_sensors_file_reads_dated_curves(tmp_path):
    path = write_sensors(tmp_path, """
[[sensor.sensitivity_curve]]
frequency_hz = [1000]
sensitivity_db_re_1v_per_upa = [-180.0]
valid_until = 2020-12-01
[[sensor.sensitivity_curve]]
frequency_hz = [100, 1000, 10000]
sensitivity_db_re_1v_per_upa = [-175, -170, -164]
valid_from = 2020-12-01T01:00:00+01:00
source = "sheet 2020"
""")
    calibration = sensors.load(path).info(SENSOR).calibration
    assert [c.valid_until_unix_s for c in calibration.curves] == [DECEMBER_2020, None]
    assert [c.valid_from_unix_s for c in calibration.curves] == [None, DECEMBER_2020]
    assert calibration.curve_at(DECEMBER_2020).source == "sheet 2020"
    assert offset_db_at(calibration, np.array([10 ** 3.5]), DECEMBER_2020 + 1)[0] == pytest.approx(157.0)


@pytest.mark.parametrize(("lines", "field", "says"), [
    ("[[sensor.sensitivity_curve]]\nfrequency_hz = [100, 1000, 1000]\nsensitivity_db_re_1v_per_upa = [1, 2, 3]\n",
     "sensitivity_curve[0].frequency_hz", "must increase strictly"),
    ("[[sensor.sensitivity_curve]]\nfrequency_hz = [100, 10]\nsensitivity_db_re_1v_per_upa = [1, 2]\n",
     "sensitivity_curve[0].frequency_hz", "must increase strictly"),
    ("[[sensor.sensitivity_curve]]\nfrequency_hz = [100, 1000]\nsensitivity_db_re_1v_per_upa = [-170, nan]\n",
     "sensitivity_curve[0].sensitivity_db_re_1v_per_upa", "not finite"),
    ("[[sensor.sensitivity_curve]]\nfrequency_hz = [100, inf]\nsensitivity_db_re_1v_per_upa = [-170, -160]\n",
     "sensitivity_curve[0].frequency_hz", "not finite"),
    ("[[sensor.sensitivity_curve]]\nfrequency_hz = [0, 100]\nsensitivity_db_re_1v_per_upa = [-170, -160]\n",
     "sensitivity_curve[0].frequency_hz", "positive"),
    ("[[sensor.sensitivity_curve]]\nfrequency_hz = [100, 1000]\nsensitivity_db_re_1v_per_upa = [-170]\n",
     "sensitivity_curve[0].sensitivity_db_re_1v_per_upa", "1 values for 2 frequencies"),
    (("sensitivity_db_re_1v_per_upa = -160.0\n"
     "[[sensor.sensitivity_curve]]\nfrequency_hz = [100]\nsensitivity_db_re_1v_per_upa = [-170]\nvalid_until = 2021-01-01\n"
     "[[sensor.sensitivity_curve]]\nfrequency_hz = [100]\nsensitivity_db_re_1v_per_upa = [-171]\nvalid_from = 2020-12-01\n"),
     "sensitivity_curve", "curves 0 and 1 overlaps"),
    ("[[sensor.sensitivity_curve]]\nfrequency_hz = [100]\nsensitivity_db_re_1v_per_upa = [-170]\nvalid_from = 2020-12-01\n",
     "sensitivity_curve", "must cover all time, but the first curve has a valid_from"),
    (("[[sensor.sensitivity_curve]]\nfrequency_hz = [100]\nsensitivity_db_re_1v_per_upa = [-170]\nvalid_until = 2020-12-01\n"
     "[[sensor.sensitivity_curve]]\nfrequency_hz = [100]\nsensitivity_db_re_1v_per_upa = [-171]\nvalid_from = 2020-12-02\n"),
     "sensitivity_curve", "nothing is valid from"),
    (("sensitivity_db_re_1v_per_upa = -160.0\n"
     "[[sensor.sensitivity_curve]]\nfrequency_hz = [100]\nsensitivity_db_re_1v_per_upa = [-170]\nvalid_from = 2020-12-01T00:00:00\n"),
     "sensitivity_curve[0].valid_from", "no UTC offset"),
    (("sensitivity_db_re_1v_per_upa = -160.0\n"
     "[[sensor.sensitivity_curve]]\nfrequency_hz = [100]\nsensitivity_db_re_1v_per_upa = [-170]\n"
     "valid_from = 2020-12-01\nvalid_until = 2020-12-01\n"),
     "sensitivity_curve[0].valid_until", "is not after valid_from"),
    ("[[sensor.sensitivity_curve]]\nfrequency_hz = [100]\nsensitivity_db = [-170]\n",
     "sensitivity_curve[0]", "unknown field(s) ['sensitivity_db']"),
])
def test_bad_curves_are_refused_naming_file_and_field(tmp_path, lines, field, says):
    path = write_sensors(tmp_path, lines)
    with pytest.raises(SensorsFileError) as error:
        sensors.load(path)
    assert str(error.value).startswith(f"{path}: sensor[0].{field}")
    assert says in str(error.value)


# the sensor is recalibrated: sheet A until December 2020, sheet B (3 dB more sensitive) from then on
RECALIBRATED = CURVE_A.replace("source", 'valid_until = 2020-12-01\nsource') + """
[[sensor.sensitivity_curve]]
frequency_hz = [100, 1000, 10000]
sensitivity_db_re_1v_per_upa = [-172.0, -167.0, -161.0]
valid_from = 2020-12-01
source = "sheet B"
"""


def tone_files(tmp_path, frequency_hz: float, amplitude: float) -> list:
    """Five contiguous ADF frames of a pure tone (one 2 s package, ``PACKAGE``)."""
    frame_length, n_frames = raw.DEFAULT_FRAME_LENGTH, 5
    first = REAL_START_TICK // raw.TICKS_PER_SAMPLE
    index = first + np.arange(n_frames * frame_length)
    samples = (amplitude * np.sin(2 * np.pi * frequency_hz * (index / FS))).astype(np.float32).reshape(n_frames, frame_length)
    ticks = REAL_START_TICK + np.arange(n_frames) * frame_length * raw.TICKS_PER_SAMPLE
    path = tmp_path / str(raw.RawFileName(SENSOR, REAL_START_TICK // raw.TICKS_PER_SECOND))
    path.write_bytes(raw.encode(ticks, samples))
    return [path]


def archive_with(settings, sensors_file, files):
    from hydroserve.api import wiring
    from hydroserve.api.app import create_app
    from hydroserve.api.config import load_settings

    configured = load_settings(env={}, data_dir=str(settings.data_dir), database_url=settings.database_url,
                               snippet_duration_s="2", snippet_interval_s=2, sensors_file=str(sensors_file))
    if files:
        engine = wiring.init_catalog(configured)
        ingestor = wiring.build_ingestor(configured, wiring.build_archive(configured, engine), retry_for_s=5)
        for path in files:
            ingestor.feed(SENSOR, raw_decoder.read_file(path, frame_length=raw.DEFAULT_FRAME_LENGTH))
        ingestor.flush()
        engine.dispose()
    return create_app(configured).test_client()


def expected_offset_db(frequency_hz, shift_db=0.0):
    """By hand: S(f) = -170 + 6 log10(f / 1 kHz) between 1 and 10 kHz (sheet A, plus ``shift_db``), gain 10 dB."""
    return 170.0 - 6.0 * np.log10(frequency_hz / 1000.0) - shift_db - 10.0


def test_psd_of_a_tone_between_curve_points_and_a_changed_curve(tmp_path, settings):
    tone_hz, amplitude = 10 ** 3.5, 1e-3  # 3162.3 Hz, halfway between the 1 and 10 kHz points: offset 157 dB
    client = archive_with(settings, write_sensors(tmp_path, CURVE_A), tone_files(tmp_path, tone_hz, amplitude))
    psd = client.get(url(client, "acoustic.Psd", package_id=PACKAGE))
    (tmp_path / "none.toml").write_text("")
    uncalibrated = archive_with(settings, tmp_path / "none.toml", []).get(url(client, "acoustic.Psd", package_id=PACKAGE)).json
    document = psd.json
    assert document["unit"] == "dB re 1 uPa^2/Hz" and document["calibration_offset_db"] is None
    assert document["calibration_curve"]["source"] == "sheet A"
    frequency = np.array(document["frequency_hz"])
    inside = (frequency >= 1000) & (frequency <= 10000)
    np.testing.assert_allclose((np.array(document["mean"]) - np.array(uncalibrated["mean"]))[inside],
                               expected_offset_db(frequency[inside]), atol=3e-6)
    # the tone's power (Parseval: the PSD summed over its peak times the bin width) in uPa^2: A^2/2 * 10^(157/10)
    peak = np.argmax(np.array(document["mean"]))
    assert frequency[peak] == pytest.approx(tone_hz, abs=FS / document["nfft"])
    around = slice(peak - 6, peak + 7)
    power_db = 10 * np.log10(np.sum(10 ** (np.array(document["mean"][around]) / 10)) * FS / document["nfft"])
    assert power_db == pytest.approx(10 * np.log10(amplitude**2 / 2) + 157.0, abs=0.05)
    info = client.get(url(client, "acoustic.Info", package_id=PACKAGE)).json["calibration"]
    assert info["sensitivity_curve"]["frequency_hz"] == [100, 1000, 10000]
    assert info["sensitivity_curve"]["sensitivity_db_re_1v_per_upa"] == [-175.0, -170.0, -164.0]
    assert (info["sensitivity_curve"]["valid_from"], info["sensitivity_curve"]["source"]) == (None, "sheet A")
    assert info["psd_offset_db"] is None and info["offset_db_at_1khz"] == pytest.approx(160.0)

    recalibrated = write_sensors(tmp_path, RECALIBRATED)
    client_b = archive_with(settings, recalibrated, [])
    served = client_b.get(url(client_b, "acoustic.Psd", package_id=PACKAGE))
    assert served.headers["ETag"] != psd.headers["ETag"]
    np.testing.assert_allclose((np.array(served.json["mean"]) - np.array(uncalibrated["mean"]))[inside],
                               expected_offset_db(frequency[inside], shift_db=3.0), atol=3e-6)
    assert served.json["calibration_curve"]["source"] == "sheet B"
    info_b = client_b.get(url(client_b, "acoustic.Info", package_id=PACKAGE)).json["calibration"]
    assert info_b["sensitivity_curve"]["valid_from"] == "2020-12-01T00:00:00Z" and info_b["calibration_tag"] != info["calibration_tag"]
    sensor = client_b.get(url(client_b, "acoustic.Sensor", sensor=str(SENSOR))).json["calibration"]
    assert [c["source"] for c in sensor["sensitivity_curves"]] == ["sheet A", "sheet B"]


def test_hmd_of_a_tone_between_curve_points_has_the_hand_computed_level():
    """The HMD product goes through the same conversion: a tone at 10**3.5 Hz (offset 157 dB by hand), its band power,
    decidecade and broadband levels; the curve it was made with is recorded."""
    from hydroserve.acoustics import hmd_product
    from hydroserve.acoustics.hmd_bands import hmd_bands
    from hydroserve.acoustics.window import Run

    bands = hmd_bands()
    band = int(np.argmin(np.abs(bands.centre_hz - 10 ** 3.5)))
    frequency_hz, amplitude = bands.centre_hz[band], 0.01
    start_tick = 28_333_334 * 60 * raw.TICKS_PER_SECOND  # a UTC minute
    t = np.arange(round(10 * FS)) / FS
    samples = (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)
    result = hmd_product.compute([samples], (Run(start_tick, 0, len(samples)),), CALIBRATION)
    expected_db = 10 * np.log10(amplitude**2 / 2) + expected_offset_db(frequency_hz)
    band_power = result.band_density[0].astype(np.float64) * bands.width_hz
    assert int(np.argmax(band_power)) == band
    assert 10 * np.log10(band_power[band]) == pytest.approx(expected_db, abs=0.01)
    assert 10 * np.log10(result.broadband_mean_square[0]) == pytest.approx(expected_db, abs=0.01)
    assert result.calibration["sensitivity_curve"]["frequency_hz"] == [100.0, 1000.0, 10000.0]


def test_reprocessing_stores_the_psd_with_the_new_curve(tmp_path, settings, runner_for):
    archive_with(settings, write_sensors(tmp_path, CURVE_A), tone_files(tmp_path, 10 ** 3.5, 1e-3))
    recalibrated = tmp_path / "b" / "sensors.toml"
    recalibrated.parent.mkdir()
    recalibrated.write_text(write_sensors(tmp_path, RECALIBRATED).read_text())
    result = runner_for(settings)("reprocess", "--sensor", str(SENSOR), "--products", "psd", "--run-here", "--json",
                                  env={"HYDROSERVE_SENSORS_FILE": str(recalibrated)})
    assert result.exit_code == 0, result.stderr
    assert result.json()["new_versions"]["psd"] == 1
    client = archive_with(settings, recalibrated, [])
    served = client.get(url(client, "acoustic.Psd", package_id=PACKAGE))
    info = client.get(url(client, "acoustic.Info", package_id=PACKAGE)).json
    assert info["products"]["psd"]["version"] == 2 and served.headers["ETag"].strip('"') == info["products"]["psd"]["sha256"]
    assert info["products"]["psd"]["calibration_tag"] == info["calibration"]["calibration_tag"]
    assert served.json["calibration_curve"]["source"] == "sheet B"


def test_band_levels_calibrate_each_frequency_before_the_band_average():
    from hydroserve.acoustics import pictures, plots
    from hydroserve.acoustics.psd import Psd

    frequency = np.arange(4097) * FS / 8192
    ones = np.ones_like(frequency)  # 0 dB re 1 unit^2/Hz everywhere
    result = Psd(frequency, ones, ones, ones, ones, 8192, 10, 1.0)
    levels = pictures.band_levels([], [result, result], [CALIBRATION, None], "median")
    inside = (frequency >= 1000) & (frequency <= 10_000)  # the 1-10 kHz band
    assert levels.levels_db[0][1] == pytest.approx(10 * np.log10(np.mean(10 ** (expected_offset_db(frequency[inside]) / 10))))
    assert levels.levels_db[1][1] == pytest.approx(0.0) and levels.unit == "dB re 1 (sample unit)²/Hz"
    picture = plots.psd_png(result, offset_db=offset_db_at(CALIBRATION, frequency), unit="dB re 1 µPa²/Hz", title="curve")
    assert picture.startswith(b"\x89PNG")
