"""A sensor's calibration: from sample units to pressure, flat or as sensitivity curves over frequency with validity dates.

A sample ``s`` is ``s * volts_per_unit`` volts at the ADC; with receiving
sensitivity ``S(f)`` dB re 1 V/uPa and gain ``G`` dB, a level in dB re 1
unit^2/Hz at frequency ``f`` becomes dB re 1 uPa^2/Hz by adding

    offset_db(f) = 20 log10(volts_per_unit) - S(f) - G.

``S`` is either one number (``sensitivity_db_re_1v_per_upa``, the flat case)
or a :class:`SensitivityCurve`: points ``(f_i, S_i)`` with strictly
increasing ``f_i > 0``, interpolated linearly in ``log10 f`` between the
points; below the first point and above the last the end values are held
(``S(f) = S_0`` for ``f <= f_0``, including 0 Hz, ``S(f) = S_n`` for
``f >= f_n``). A sensor may have several curves, each valid in
``[valid_from, valid_until)`` (either end may be open); their validity
intervals never overlap. At a time ``t`` the curve valid at ``t`` is used;
where none is, the flat sensitivity (which must then be given).
:meth:`Calibration.at` picks what is valid at a package's start, and every
product of the package (PSD, HMD, levels, pictures, MP3 gain) is made
with that choice through :func:`offset_db_at`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np

from hydroserve.codecs.raw import TICKS_PER_SECOND

REFERENCE_FREQUENCY_HZ = 1000.0
"""Where one number stands for a curve (the MP3 gain, a summary offset): the offset at 1 kHz."""


def _utc(unix_s: float | None) -> str | None:
    return None if unix_s is None else datetime.fromtimestamp(unix_s, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SensitivityCurve:
    """Receiving sensitivity (dB re 1 V/uPa) at ``frequency_hz``, valid from ``valid_from_unix_s`` (inclusive) until
    ``valid_until_unix_s`` (exclusive); None: open. ``source`` says where the curve comes from.

    Raises
    ------
    ValueError
        The message starts with the field at fault (``frequency_hz: ...``).
    """

    frequency_hz: tuple[float, ...]
    sensitivity_db_re_1v_per_upa: tuple[float, ...]
    valid_from_unix_s: float | None = None
    valid_until_unix_s: float | None = None
    source: str | None = None

    def __post_init__(self):
        frequency, sensitivity = self.frequency_hz, self.sensitivity_db_re_1v_per_upa
        if len(frequency) == 0:
            raise ValueError("frequency_hz: a curve needs at least one point")
        if len(sensitivity) != len(frequency):
            raise ValueError(f"sensitivity_db_re_1v_per_upa: {len(sensitivity)} values for {len(frequency)} frequencies")
        for name, values in (("frequency_hz", frequency), ("sensitivity_db_re_1v_per_upa", sensitivity)):
            bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                raise ValueError(f"{name}: value [{bad[0]}] = {values[bad[0]]} is not finite")
        if frequency[0] <= 0:
            raise ValueError(f"frequency_hz: {frequency[0]} must be positive (interpolation is in log frequency)")
        for i in range(1, len(frequency)):
            if frequency[i] <= frequency[i - 1]:
                raise ValueError(f"frequency_hz: must increase strictly, [{i}] = {frequency[i]} follows {frequency[i - 1]}")
        for name in ("valid_from_unix_s", "valid_until_unix_s"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name}: {value} is not finite")
        if None not in (self.valid_from_unix_s, self.valid_until_unix_s) and self.valid_until_unix_s <= self.valid_from_unix_s:
            raise ValueError(f"valid_until: {_utc(self.valid_until_unix_s)} is not after valid_from {_utc(self.valid_from_unix_s)}")

    def covers(self, unix_s: float) -> bool:
        """Whether the curve is valid at ``unix_s``."""
        return ((self.valid_from_unix_s is None or self.valid_from_unix_s <= unix_s)
                and (self.valid_until_unix_s is None or unix_s < self.valid_until_unix_s))

    def sensitivity_db_at(self, frequency_hz: np.ndarray) -> np.ndarray:
        """S(f): linear in log10 f between the points, the end values held outside them."""
        points = np.asarray(self.frequency_hz, dtype=np.float64)
        clipped = np.clip(np.asarray(frequency_hz, dtype=np.float64), points[0], points[-1])
        return np.interp(np.log10(clipped), np.log10(points), np.asarray(self.sensitivity_db_re_1v_per_upa, dtype=np.float64))

    def overlaps(self, other: SensitivityCurve) -> bool:
        starts_before_other_ends = (self.valid_from_unix_s is None or other.valid_until_unix_s is None
                                    or self.valid_from_unix_s < other.valid_until_unix_s)
        ends_after_other_starts = (self.valid_until_unix_s is None or other.valid_from_unix_s is None
                                   or other.valid_from_unix_s < self.valid_until_unix_s)
        return starts_before_other_ends and ends_after_other_starts

    def to_json(self) -> dict:
        return {"frequency_hz": list(self.frequency_hz), "sensitivity_db_re_1v_per_upa": list(self.sensitivity_db_re_1v_per_upa),
                "valid_from_unix_s": self.valid_from_unix_s, "valid_until_unix_s": self.valid_until_unix_s, "source": self.source}

    def describe(self) -> dict:
        """The curve as /info shows it: points, validity (RFC 3339, null: open), source, interpolation rule."""
        return {"source": self.source, "valid_from": _utc(self.valid_from_unix_s), "valid_until": _utc(self.valid_until_unix_s),
                "frequency_hz": list(self.frequency_hz), "sensitivity_db_re_1v_per_upa": list(self.sensitivity_db_re_1v_per_upa),
                "interpolation": "linear in log10(frequency) between points; end values held outside them"}


@dataclass(frozen=True)
class Calibration:
    """Converts sample units to pressure (see the module text): ``p = sign * s * volts_per_unit / 10**((S + G) / 20)``
    uPa.

    ``sensitivity_db_re_1v_per_upa`` is the flat sensitivity (None: the ``curves`` give it at every time);
    ``curves`` are sorted by validity and never overlap.
    """

    sensitivity_db_re_1v_per_upa: float | None
    gain_db: float = 0.0
    volts_per_unit: float = 1.0
    sign: int = 1
    curves: tuple[SensitivityCurve, ...] = ()

    def __post_init__(self):
        if self.sensitivity_db_re_1v_per_upa is None and not self.curves:
            raise ValueError("sensitivity_db_re_1v_per_upa: needed when no sensitivity curve is given")
        ordered = sorted(self.curves, key=lambda c: -math.inf if c.valid_from_unix_s is None else c.valid_from_unix_s)
        for earlier, later in pairwise(ordered):
            if earlier.overlaps(later):
                raise ValueError(f"sensitivity_curve: the validity of curves {self.curves.index(earlier)} and "
                                 f"{self.curves.index(later)} overlaps ({_utc(earlier.valid_from_unix_s)} until "
                                 f"{_utc(earlier.valid_until_unix_s)}; {_utc(later.valid_from_unix_s)} until "
                                 f"{_utc(later.valid_until_unix_s)})")
        object.__setattr__(self, "curves", tuple(ordered))

    def curve_at(self, unix_s: float) -> SensitivityCurve | None:
        """The curve valid at ``unix_s``, or None (the flat sensitivity applies)."""
        return next((curve for curve in self.curves if curve.covers(unix_s)), None)

    def at(self, unix_s: float) -> Calibration:
        """The calibration in force at ``unix_s``: at most the one curve valid then.

        Raises
        ------
        ValueError
            No curve is valid at ``unix_s`` and there is no flat sensitivity.
        """
        curve = self.curve_at(unix_s)
        if curve is None and self.sensitivity_db_re_1v_per_upa is None:
            raise ValueError(f"no sensitivity curve is valid at {_utc(unix_s)} and no flat sensitivity is given")
        return replace(self, curves=() if curve is None else (curve,))

    @property
    def curve(self) -> SensitivityCurve | None:
        """The one curve of a calibration chosen by :meth:`at` (None: flat).

        Raises
        ------
        ValueError
            There are several curves: choose with :meth:`at`.
        """
        if len(self.curves) > 1:
            raise ValueError(f"{len(self.curves)} sensitivity curves: choose the one valid at a time (Calibration.at)")
        return self.curves[0] if self.curves else None

    @property
    def flat_offset_db(self) -> float | None:
        """The offset with the flat sensitivity, whatever the curves (None without a flat sensitivity)."""
        return None if self.sensitivity_db_re_1v_per_upa is None else replace(self, curves=()).offset_db

    @property
    def offset_db(self) -> float:
        """The offset at :data:`REFERENCE_FREQUENCY_HZ` (the flat offset when there is no curve)."""
        return float(offset_db_at(self, np.array(REFERENCE_FREQUENCY_HZ)))

    def to_json(self) -> dict:
        return {"sensitivity_db_re_1v_per_upa": self.sensitivity_db_re_1v_per_upa, "gain_db": self.gain_db,
                "volts_per_unit": self.volts_per_unit, "sign": self.sign, "curves": [c.to_json() for c in self.curves]}

    @classmethod
    def from_json(cls, document: dict) -> Calibration:
        curves = tuple(SensitivityCurve(tuple(c["frequency_hz"]), tuple(c["sensitivity_db_re_1v_per_upa"]),
                                        c["valid_from_unix_s"], c["valid_until_unix_s"], c["source"])
                       for c in document.get("curves", ()))
        return cls(document["sensitivity_db_re_1v_per_upa"], document["gain_db"], document["volts_per_unit"],
                   document["sign"], curves)


def in_force(calibration: Calibration | None, tick: int) -> Calibration | None:
    """What a package starting at ``tick`` (16 ns since the Unix epoch) is calibrated with (:meth:`Calibration.at`)."""
    return None if calibration is None else calibration.at(tick / TICKS_PER_SECOND)


def offset_db_at(calibration: Calibration | None, frequency_hz: np.ndarray, at_unix_s: float | None = None) -> np.ndarray:
    """dB to add to a level in dB re 1 unit^2/Hz at ``frequency_hz`` to get dB re 1 uPa^2/Hz; zeros when uncalibrated.

    Parameters
    ----------
    calibration : Calibration or None
    frequency_hz : numpy.ndarray
        Frequencies in Hz (any shape; 0 Hz takes the first point of a curve).
    at_unix_s : float, optional
        The time whose curve is used (see :meth:`Calibration.at`); None: ``calibration`` must hold at most one curve
        (as :meth:`Calibration.at` returns), which is used.

    Returns
    -------
    numpy.ndarray
        ``20 log10(volts_per_unit) - S(f) - gain_db``, float64, the shape of ``frequency_hz``.

    Raises
    ------
    ValueError
        See :meth:`Calibration.at` and :attr:`Calibration.curve`.
    """
    frequency_hz = np.asarray(frequency_hz, dtype=np.float64)
    if calibration is None:
        return np.zeros(frequency_hz.shape)
    chosen = calibration if at_unix_s is None else calibration.at(at_unix_s)
    curve = chosen.curve
    sensitivity = (np.full(frequency_hz.shape, chosen.sensitivity_db_re_1v_per_upa) if curve is None
                   else curve.sensitivity_db_at(frequency_hz))
    return 20 * math.log10(chosen.volts_per_unit) - sensitivity - chosen.gain_db


def calibration_offset_db(calibration: Calibration | None) -> float:
    """One number for a calibration: :attr:`Calibration.offset_db` (the offset at 1 kHz for a curve), 0 without one."""
    return 0.0 if calibration is None else calibration.offset_db


def calibration_tag(calibration: Calibration | None) -> str:
    """A short stable tag of a calibration (``uncal`` if none): products made with it are stored under it. A change of
    any value, of a curve's point, validity or source, changes it."""
    if calibration is None:
        return "uncal"
    flat = (calibration.sensitivity_db_re_1v_per_upa, calibration.gain_db, calibration.volts_per_unit)
    text = repr(flat) if not calibration.curves else repr((flat, [c.to_json() for c in calibration.curves]))
    return "cal" + hashlib.sha256(text.encode()).hexdigest()[:12]
