"""Fixed colour scales of the pictures, per sensor type, so that pictures compare by eye.

The configuration key ``colour_scales`` is a table of pictures, each a table
of sensor types, each a dB range ``[low, high]``::

    [colour_scales.spectrogram]
    piezo = [-10.0, 40.0]          # dB in the picture's unit
    hydrophone = [20.0, 80.0]
    unknown = [-120.0, -60.0]      # sensors of unknown type

    [colour_scales.ltsa]
    hydrophone = [30.0, 90.0]

The range is in the unit the picture is drawn in: dB re 1 uPa^2/Hz for a
calibrated sensor, dB re 1 (sample unit)^2/Hz for an uncalibrated one. A
picture or sensor type without a range is auto-scaled (each picture to its own
levels), except the LTSA, which has a fixed default per unit
(:data:`.soundscape_pictures.DEFAULT_COLOUR_RANGE_DB`). :func:`colour_scale_db` is the one reader of the setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

SENSOR_TYPES = ("piezo", "hydrophone", "unknown")
PICTURES = ("spectrogram", "ltsa")


def check_colour_scales(table: object) -> dict[str, dict[str, tuple[float, float]]]:
    """The validated ``colour_scales`` table, ranges as (low, high) float tuples.

    Raises
    ------
    ValueError
        Naming the picture, sensor type or range that is wrong.
    """
    if not isinstance(table, Mapping):
        raise ValueError(f"colour_scales must be a table of pictures {PICTURES}, got {table!r}")
    checked = {}
    for picture, by_type in table.items():
        if picture not in PICTURES:
            raise ValueError(f"colour_scales.{picture}: unknown picture; one of {PICTURES}")
        if not isinstance(by_type, Mapping):
            raise ValueError(f"colour_scales.{picture} must be a table of sensor types {SENSOR_TYPES}, got {by_type!r}")
        checked[picture] = {}
        for sensor_type, scale in by_type.items():
            where = f"colour_scales.{picture}.{sensor_type}"
            if sensor_type not in SENSOR_TYPES:
                raise ValueError(f"{where}: unknown sensor type; one of {SENSOR_TYPES}")
            if (not isinstance(scale, list | tuple) or len(scale) != 2
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in scale)):
                raise ValueError(f"{where} must be [low, high] in dB, got {scale!r}")
            low, high = float(scale[0]), float(scale[1])
            if low >= high:
                raise ValueError(f"{where}: low {low:g} dB must be below high {high:g} dB")
            checked[picture][sensor_type] = (low, high)
    return checked


def colour_scale_db(settings_or_table: object, sensor_type: str | None, picture: str) -> tuple[float, float] | None:
    """The fixed colour range (low, high) in dB of ``picture`` for sensors of ``sensor_type`` (None: unknown type),
    or None: auto-scale.

    ``settings_or_table`` is anything with a ``colour_scales`` attribute (the settings) or the table itself.
    """
    if picture not in PICTURES:
        raise ValueError(f"{picture=} must be one of {PICTURES}")
    table = getattr(settings_or_table, "colour_scales", settings_or_table)
    kind = sensor_type or "unknown"
    if kind not in SENSOR_TYPES:
        raise ValueError(f"{sensor_type=} must be one of {SENSOR_TYPES} or None")
    scale = (table or {}).get(picture, {}).get(kind)
    return None if scale is None else (float(scale[0]), float(scale[1]))
