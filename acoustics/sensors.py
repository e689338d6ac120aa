"""Sensor metadata: type, detector, position and calibration, from a sensors file.

The sensors file is TOML::

    detector = "ARCA"                       # default detector of the sensors below
    hydrophone_geometry = "KM3NeT_00000232.hydrophone.txt"   # optional, relative to this file
    clb_map = "clbmap.txt"                  # optional DOM id -> string/floor table

    [[sensor]]
    id = "DOM_808956920_CH1"                # required
    type = "piezo"                          # "piezo" or "hydrophone"
    detector = "ARCA"                       # overrides the default
    string = 9                              # detection unit
    floor = 0
    position_m = [457.8, 574.3, 98.0]       # detector coordinates, metres
    sensitivity_db_re_1v_per_upa = -165.0   # receiving sensitivity
    gain_db = 0.0                           # total amplifier gain
    volts_per_unit = 1.0                    # volts per ADC sample unit (default 1)
    sign = 1                                # +1: positive sample = positive pressure; -1 inverted

A KM3NeT hydrophone geometry file (whitespace columns ``string floor x y
z``, ``#`` comments) gives the position of each hydrophone relative to its
string's anchor; a sensor whose string and floor appear in it is a
hydrophone with that relative position. A CLB map (tab-separated with a
header naming ``DUID``, ``FLOORID`` and ``DOMID``) gives string and floor of
DOM ids not listed under ``[[sensor]]``.

A sensor missing from all of these still works: unknown type and position,
uncalibrated. Nothing is guessed.
"""

from __future__ import annotations

import csv
import hashlib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hydroserve.codecs.raw import SensorId

SENSOR_TYPES = ("piezo", "hydrophone")


class SensorsFileError(ValueError):
    """The sensors file (or a file it names) is invalid; the message names file and field."""


@dataclass(frozen=True)
class Calibration:
    """Converts sample units to pressure.

    A sample ``s`` is ``s * volts_per_unit`` volts at the ADC; with receiving
    sensitivity ``S`` dB re 1 V/uPa and gain ``G`` dB, the pressure is
    ``p = sign * s * volts_per_unit / 10**((S + G) / 20)`` uPa, so a level in
    dB re 1 unit^2/Hz becomes dB re 1 uPa^2/Hz by adding
    ``offset_db = 20 log10(volts_per_unit) - S - G``.
    """

    sensitivity_db_re_1v_per_upa: float
    gain_db: float = 0.0
    volts_per_unit: float = 1.0
    sign: int = 1

    @property
    def offset_db(self) -> float:
        return 20 * math.log10(self.volts_per_unit) - self.sensitivity_db_re_1v_per_upa - self.gain_db


def calibration_tag(calibration: Calibration | None) -> str:
    """A short stable tag of a calibration (``uncal`` if none): products made with it are stored under it."""
    if calibration is None:
        return "uncal"
    text = repr((calibration.sensitivity_db_re_1v_per_upa, calibration.gain_db, calibration.volts_per_unit))
    return "cal" + hashlib.sha256(text.encode()).hexdigest()[:12]


def calibration_offset_db(calibration: Calibration | None) -> float:
    """What turns dB re 1 unit^2/Hz into the sensor's level: ``offset_db``, or 0 without a calibration."""
    return 0.0 if calibration is None else calibration.offset_db


def offset_db_at(calibration: Calibration | None, frequency_hz: np.ndarray, at_unix_s: float | None = None) -> np.ndarray:
    """What turns dB re 1 unit^2/Hz at ``frequency_hz`` into dB re 1 uPa^2/Hz (zeros without a calibration).

    The sensitivity is flat (the scalar ``offset_db`` at every frequency); ``at_unix_s`` (the time the data were
    taken) is accepted for calibrations whose validity depends on time.
    """
    return np.full(np.shape(frequency_hz), calibration_offset_db(calibration), dtype=np.float64)


@dataclass(frozen=True)
class SensorInfo:
    """What is known about a sensor; None means unknown."""

    sensor: SensorId
    type: str | None = None
    detector: str | None = None
    string: int | None = None
    floor: int | None = None
    position_m: tuple[float, float, float] | None = None
    position_frame: str | None = None
    calibration: Calibration | None = None

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None


@dataclass(frozen=True)
class SensorCatalog:
    """Sensor metadata by sensor id, with the unknown-sensor default."""

    sensors: dict[SensorId, SensorInfo] = field(default_factory=dict)
    dom_floors: dict[int, tuple[int, int]] = field(default_factory=dict)
    hydrophone_offsets_m: dict[tuple[int, int], tuple[float, float, float]] = field(default_factory=dict)
    default_detector: str | None = None

    def info(self, sensor: SensorId) -> SensorInfo:
        if sensor in self.sensors:
            return self.sensors[sensor]
        string_floor = self.dom_floors.get(sensor.dom_id)
        if string_floor is None:
            return SensorInfo(sensor, detector=self.default_detector)
        return self._placed(SensorInfo(sensor, detector=self.default_detector, string=string_floor[0], floor=string_floor[1]))

    def _placed(self, info: SensorInfo) -> SensorInfo:
        offset = self.hydrophone_offsets_m.get((info.string, info.floor))
        if offset is None or info.position_m is not None:
            return info
        if info.type not in (None, "hydrophone"):
            return info
        return SensorInfo(
            info.sensor, "hydrophone", info.detector, info.string, info.floor, offset,
            "relative to the string anchor (KM3NeT hydrophone geometry file)", info.calibration,
        )


def load(path: str | Path | None) -> SensorCatalog:
    """Read a sensors file; None gives an empty catalog (every sensor unknown)."""
    if path is None:
        return SensorCatalog()
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SensorsFileError(f"{path}: {error}") from error
    default_detector = _optional(document, "detector", str, path)
    offsets = {}
    if "hydrophone_geometry" in document:
        offsets = read_hydrophone_geometry(path.parent / _optional(document, "hydrophone_geometry", str, path))
    dom_floors = {}
    if "clb_map" in document:
        dom_floors = read_clb_map(path.parent / _optional(document, "clb_map", str, path))
    catalog = SensorCatalog({}, dom_floors, offsets, default_detector)
    entries = document.get("sensor", [])
    if not isinstance(entries, list):
        raise SensorsFileError(f"{path}: 'sensor' must be an array of tables ([[sensor]])")
    sensors = {}
    for index, entry in enumerate(entries):
        info = _sensor_entry(entry, f"{path}: sensor[{index}]", default_detector, dom_floors)
        if info.sensor in sensors:
            raise SensorsFileError(f"{path}: sensor[{index}].id {info.sensor} is listed twice")
        sensors[info.sensor] = catalog._placed(info)
    return SensorCatalog(sensors, dom_floors, offsets, default_detector)


def _optional(table: dict, key: str, kind, where, default=None):
    value = table.get(key, default)
    if value is not None and not isinstance(value, kind):
        raise SensorsFileError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _sensor_entry(entry, where: str, default_detector, dom_floors) -> SensorInfo:
    if not isinstance(entry, dict) or "id" not in entry:
        raise SensorsFileError(f"{where}: each [[sensor]] needs an 'id'")
    unknown = set(entry) - {
        "id", "type", "detector", "string", "floor", "position_m",
        "sensitivity_db_re_1v_per_upa", "gain_db", "volts_per_unit", "sign",
    }
    if unknown:
        raise SensorsFileError(f"{where}: unknown field(s) {sorted(unknown)}")
    try:
        sensor = SensorId.parse(entry["id"])
    except (ValueError, TypeError) as error:
        raise SensorsFileError(f"{where}.id: {error}") from error
    kind = _optional(entry, "type", str, where)
    if kind is not None and kind not in SENSOR_TYPES:
        raise SensorsFileError(f"{where}.type: {kind!r} must be one of {SENSOR_TYPES}")
    string = _optional(entry, "string", int, where)
    floor = _optional(entry, "floor", int, where)
    if string is None and floor is None and sensor.dom_id in dom_floors:
        string, floor = dom_floors[sensor.dom_id]
    position = _optional(entry, "position_m", list, where)
    if position is not None:
        if len(position) != 3 or not all(isinstance(v, int | float) for v in position):
            raise SensorsFileError(f"{where}.position_m: expected [x, y, z] in metres, got {position!r}")
        position = tuple(float(v) for v in position)
    calibration = None
    sensitivity = _optional(entry, "sensitivity_db_re_1v_per_upa", int | float, where)
    if sensitivity is not None:
        volts = float(_optional(entry, "volts_per_unit", int | float, where, 1.0))
        if volts <= 0:
            raise SensorsFileError(f"{where}.volts_per_unit: {volts} must be positive")
        sign = _optional(entry, "sign", int, where, 1)
        if sign not in (1, -1):
            raise SensorsFileError(f"{where}.sign: {sign} must be 1 or -1")
        calibration = Calibration(float(sensitivity), float(_optional(entry, "gain_db", int | float, where, 0.0)), volts, sign)
    else:
        for key in ("gain_db", "volts_per_unit", "sign"):
            if key in entry:
                raise SensorsFileError(f"{where}.{key}: given without sensitivity_db_re_1v_per_upa")
    return SensorInfo(
        sensor, kind, _optional(entry, "detector", str, where, default_detector), string, floor, position,
        None if position is None else "detector coordinates", calibration,
    )


def read_hydrophone_geometry(path: Path) -> dict[tuple[int, int], tuple[float, float, float]]:
    """Read a KM3NeT hydrophone geometry file: ``string floor x y z`` per line, ``#`` comments."""
    offsets = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise SensorsFileError(f"{path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        columns = text.split()
        try:
            if len(columns) != 5:
                raise ValueError(f"expected 5 columns (string floor x y z), got {len(columns)}")
            offsets[(int(columns[0]), int(columns[1]))] = (float(columns[2]), float(columns[3]), float(columns[4]))
        except ValueError as error:
            raise SensorsFileError(f"{path}: line {number}: {error}") from error
    return offsets


def read_clb_map(path: Path) -> dict[int, tuple[int, int]]:
    """Read a CLB map (tab-separated, header with DUID, FLOORID, DOMID): DOM id -> (string, floor)."""
    try:
        rows = list(csv.DictReader(path.read_text().splitlines(), delimiter="\t"))
    except OSError as error:
        raise SensorsFileError(f"{path}: {error}") from error
    floors = {}
    for number, row in enumerate(rows, start=2):
        try:
            floors[int(row["DOMID"])] = (int(row["DUID"]), int(row["FLOORID"]))
        except (KeyError, TypeError, ValueError) as error:
            raise SensorsFileError(f"{path}: line {number}: needs integer DUID, FLOORID and DOMID columns ({error})") from error
    return floors
