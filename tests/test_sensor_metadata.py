"""Sensor metadata from the sensors file: type, position and calibration in /sensors and calibrated PSDs."""

from __future__ import annotations

import numpy as np

from hydroserve.api import wiring
from hydroserve.codecs import raw, raw_decoder
from support import SENSOR, url

FIRST = "DOM_808956920_CH1_1608751680"


def test_sensors_carry_metadata_from_the_sensors_file(tmp_path, synthetic_files, settings):
    from km3net_testdata import data_path

    from hydroserve.api.app import create_app
    from hydroserve.api.config import load_settings

    geometry = data_path("detector_geometry/KM3NeT_00000232.hydrophone.txt")
    sensors_file = tmp_path / "sensors.toml"
    sensors_file.write_text(
        f'detector = "ARCA"\nhydrophone_geometry = "{geometry}"\n'
        '[[sensor]]\nid = "DOM_808956920_CH1"\nstring = 10\nfloor = 0\nsensitivity_db_re_1v_per_upa = -160.0\ngain_db = 20.0\n'
    )
    calibrated = load_settings(env={}, data_dir=str(settings.data_dir), database_url=settings.database_url,
                               snippet_duration_s="2", snippet_interval_s=2, sensors_file=str(sensors_file))
    engine = wiring.init_catalog(calibrated)
    ingestor = wiring.build_ingestor(calibrated, wiring.build_archive(calibrated, engine), retry_for_s=5)
    for path in synthetic_files(n_frames=5):
        ingestor.feed(SENSOR, raw_decoder.read_file(path, frame_length=raw.DEFAULT_FRAME_LENGTH))
    client = create_app(calibrated).test_client()
    sensor = client.get(url(client, "acoustic.Sensor", sensor="DOM_808956920_CH1")).json
    assert sensor["type"] == "hydrophone" and sensor["detector"] == "ARCA" and (sensor["string"], sensor["floor"]) == (10, 0)
    assert sensor["position"] == {"x_m": -0.67, "y_m": 0.39, "z_m": 0.62, "frame": "relative to the string anchor (KM3NeT hydrophone geometry file)"}
    assert sensor["calibration"]["psd_offset_db"] == 140.0 and sensor["n_packages"] == 1
    psd = client.get(url(client, "acoustic.Psd", package_id=FIRST)).json
    uncalibrated = create_app(settings).test_client().get(url(client, "acoustic.Psd", package_id=FIRST)).json
    assert psd["unit"] == "dB re 1 uPa^2/Hz" and psd["calibrated"] is True
    np.testing.assert_allclose(np.array(psd["median"]) - np.array(uncalibrated["median"]), 140.0, atol=2e-6)
    unknown = create_app(settings).test_client().get(url(client, "acoustic.Sensor", sensor="DOM_808956920_CH1")).json
    assert unknown["type"] is None and unknown["position"] is None and unknown["calibrated"] is False
