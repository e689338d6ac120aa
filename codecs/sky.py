"""Positions on the sky: unit vectors, true angular distance, equatorial to galactic.

Pure functions on angles in degrees. Equatorial coordinates are J2000
(FK5; the ~20 mas difference to ICRS is far below any neutrino error
radius). A direction is the unit vector

    x = cos(dec) cos(ra),  y = cos(dec) sin(ra),  z = sin(dec)

and the angular distance between two directions is computed with the
Vincenty formula ``atan2(|u x v|, u . v)``, accurate at all separations
(the arccos of the dot product loses precision below ~1 arcsec and near 180
deg). A cone test can be done with the dot product alone: a direction ``v``
lies within ``radius`` of ``u`` exactly when ``u . v >= cos(radius)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Rotation from J2000 equatorial to galactic unit vectors (the IAU 1958
# definition as transferred to FK5 J2000: ESA 1997, The Hipparcos Catalogue,
# vol. 1, section 1.5.3, eq. 1.5.11).
EQUATORIAL_TO_GALACTIC = (
    (-0.0548755604162154, -0.8734370902348850, -0.4838350155487132),
    (+0.4941094278755837, -0.4448296299600112, +0.7469822444972189),
    (-0.8676661490190047, -0.1980763734312015, +0.4559837761750669),
)


def check_equatorial(ra_deg: float, dec_deg: float) -> None:
    """Raise ValueError unless ``0 <= ra_deg < 360`` and ``-90 <= dec_deg <= 90`` (finite)."""
    if not (math.isfinite(ra_deg) and 0.0 <= ra_deg < 360.0):
        raise ValueError(f"{ra_deg=} must be in [0, 360) deg")
    if not (math.isfinite(dec_deg) and -90.0 <= dec_deg <= 90.0):
        raise ValueError(f"{dec_deg=} must be in [-90, 90] deg")


@dataclass(frozen=True)
class Cone:
    """A circle on the sky: centre (J2000, deg; ``0 <= ra_deg < 360``) and radius (deg)."""

    ra_deg: float
    dec_deg: float
    radius_deg: float


def parse_cone(
    ra: str | None,
    dec: str | None,
    radius: str | None,
    *,
    names: tuple[str, str, str] = ("ra", "dec", "radius"),
    max_radius_deg: float = 180.0,
    zero_radius: bool = False,
) -> Cone:
    """The cone of three decimal-degree texts, checked in order: centre RA, centre Dec, radius.

    Parameters
    ----------
    ra, dec, radius : str or None
        The texts as given (None or blank: missing). RA must be in [0, 360]
        (360 is RA 0), Dec in [-90, 90], the radius in (0, ``max_radius_deg``],
        or [0, ``max_radius_deg``] with ``zero_radius``.
    names : tuple of str
        What the request calls the three values, for the error messages.
    max_radius_deg : float
        Largest radius accepted, deg.
    zero_radius : bool
        Whether a radius of 0 is accepted (an IVOA cone search's metadata query).

    Raises
    ------
    ValueError
        Naming the first missing, unparsable or out-of-range value, e.g.
        ``DEC=91 must be between -90 and 90 degrees``.
    """
    ra_name, dec_name, radius_name = names
    ra_deg = _degrees(ra, ra_name, 0.0, 360.0)
    dec_deg = _degrees(dec, dec_name, -90.0, 90.0)
    radius_deg = _degrees(radius, radius_name, 0.0, max_radius_deg, low_inclusive=zero_radius)
    return Cone(ra_deg % 360.0, dec_deg, radius_deg)


def _degrees(text: str | None, name: str, low: float, high: float, *, low_inclusive: bool = True) -> float:
    if text is None or text.strip() == "":
        raise ValueError(f"{name} is required (decimal degrees)")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text[:40]!r} is not a number") from None
    above_low = low <= value if low_inclusive else low < value
    if not (math.isfinite(value) and above_low and value <= high):
        bounds = f"between {low:g} and {high:g}" if low_inclusive else f"more than {low:g} and at most {high:g}"
        raise ValueError(f"{name}={text[:40]} must be {bounds} degrees")
    return value


def unit_vector(ra_deg: float, dec_deg: float) -> tuple[float, float, float]:
    """The direction (x, y, z) of a point on the sky.

    Parameters
    ----------
    ra_deg, dec_deg : float
        Longitude-like and latitude-like angle in degrees (RA/Dec or l/b).

    Returns
    -------
    tuple of float
        ``(cos(dec) cos(ra), cos(dec) sin(ra), sin(dec))``, dimensionless.
    """
    ra, dec = math.radians(ra_deg), math.radians(dec_deg)
    return (math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec))


def angular_distance_deg(ra1_deg, dec1_deg, ra2_deg, dec2_deg):
    """True angular distance in degrees between (ra1, dec1) and (ra2, dec2), elementwise (Vincenty formula).

    ``atan2(|u x v|, u . v)`` for the unit vectors ``u``, ``v``, written with
    ``delta = ra2 - ra1``: exact near 0 and 180 degrees, at the poles and
    across RA 0/360. Scalars give a float, arrays an array.
    """
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (ra1_deg, dec1_deg, ra2_deg, dec2_deg))
    delta = ra2 - ra1
    sin_d1, cos_d1, sin_d2, cos_d2 = np.sin(dec1), np.cos(dec1), np.sin(dec2), np.cos(dec2)
    across = np.hypot(cos_d2 * np.sin(delta), cos_d1 * sin_d2 - sin_d1 * cos_d2 * np.cos(delta))
    along = sin_d1 * sin_d2 + cos_d1 * cos_d2 * np.cos(delta)
    distance = np.degrees(np.arctan2(across, along))
    return float(distance) if distance.ndim == 0 else distance


def equatorial_to_galactic(ra_deg: float, dec_deg: float) -> tuple[float, float]:
    """Galactic longitude and latitude of a J2000 equatorial position.

    Parameters
    ----------
    ra_deg : float
        Right ascension in degrees, ``0 <= ra_deg < 360``.
    dec_deg : float
        Declination in degrees, ``-90 <= dec_deg <= 90``.

    Returns
    -------
    (l_deg, b_deg) : tuple of float
        Galactic longitude in ``[0, 360)`` deg and latitude in ``[-90, 90]`` deg:
        ``g = R e``, ``l = atan2(g_y, g_x)``, ``b = asin(g_z)`` with ``R`` =
        :data:`EQUATORIAL_TO_GALACTIC` and ``e`` the equatorial unit vector.
    """
    check_equatorial(ra_deg, dec_deg)
    e = unit_vector(ra_deg, dec_deg)
    g = [sum(row[i] * e[i] for i in range(3)) for row in EQUATORIAL_TO_GALACTIC]
    l_deg = math.degrees(math.atan2(g[1], g[0])) % 360.0
    b_deg = math.degrees(math.asin(max(-1.0, min(1.0, g[2]))))
    return (0.0 if l_deg == 360.0 else l_deg), b_deg
