"""Sky geometry: hand-computed distances and the defining points of the galactic frame."""

from __future__ import annotations

import math

import pytest

from hydroserve.codecs import sky


@pytest.mark.parametrize(
    ("a", "b", "expected_deg"),
    [
        ((0.0, 0.0), (90.0, 0.0), 90.0),
        ((359.5, 0.0), (0.5, 0.0), 1.0),  # across RA 0/360
        ((10.0, 89.0), (190.0, 89.0), 2.0),  # across the north pole
        ((0.0, -90.0), (123.0, -90.0), 0.0),  # RA is meaningless at the pole
        ((0.0, 60.0), (180.0, -60.0), 180.0),  # antipodes
        ((45.0, 0.0), (45.0, 1e-7), 1e-7),  # tiny separations keep their precision
    ],
)
def test_angular_distance(a, b, expected_deg):
    assert sky.angular_distance_deg(*a, *b) == pytest.approx(expected_deg, abs=1e-12)


def test_unit_vector_is_unit_and_dot_product_is_cosine_of_distance():
    u, v = sky.unit_vector(12.3, -45.6), sky.unit_vector(200.1, 33.3)
    assert math.fsum(c * c for c in u) == pytest.approx(1.0, abs=1e-15)
    dot = sum(p * q for p, q in zip(u, v))
    assert math.degrees(math.acos(dot)) == pytest.approx(sky.angular_distance_deg(12.3, -45.6, 200.1, 33.3), abs=1e-9)


def test_galactic_frame_defining_points():
    # the north galactic pole and the galactic centre in J2000 (Hipparcos vol. 1, 1.5.3)
    l_deg, b_deg = sky.equatorial_to_galactic(192.85948, 27.12825)
    assert b_deg == pytest.approx(90.0, abs=1e-4)
    l_deg, b_deg = sky.equatorial_to_galactic(266.40499, -28.93617)
    assert (min(l_deg, 360.0 - l_deg), b_deg) == pytest.approx((0.0, 0.0), abs=1e-4)
    # the north celestial pole lies at l = 122.93192 deg, b = 27.12825 deg
    assert sky.equatorial_to_galactic(0.0, 90.0) == pytest.approx((122.93192, 27.12825), abs=1e-4)


@pytest.mark.parametrize(("ra", "dec", "name"), [(360.0, 0.0, "ra_deg"), (-1.0, 0.0, "ra_deg"), (0.0, 91.0, "dec_deg"),
                                                 (float("nan"), 0.0, "ra_deg")])
def test_out_of_range_positions_are_refused_by_name(ra, dec, name):
    with pytest.raises(ValueError, match=name):
        sky.equatorial_to_galactic(ra, dec)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("83.63", "22.01", "3"), sky.Cone(83.63, 22.01, 3.0)),
        (("360", "-90", "180"), sky.Cone(0.0, -90.0, 180.0)),  # RA 360 is RA 0
        ((" 0 ", "90", "1e-3"), sky.Cone(0.0, 90.0, 0.001)),
    ],
)
def test_parse_cone_reads_decimal_degrees(texts, expected):
    assert sky.parse_cone(*texts) == expected


@pytest.mark.parametrize(
    ("texts", "options", "message"),
    [
        (("a", "2", "3"), {}, "ra='a' is not a number"),
        (("1", None, "3"), {}, "dec is required (decimal degrees)"),
        (("1", "2", " "), {}, "radius is required (decimal degrees)"),
        (("nan", "2", "3"), {}, "ra=nan must be between 0 and 360 degrees"),
        (("360.5", "2", "3"), {}, "ra=360.5 must be between 0 and 360 degrees"),
        (("1", "-90.5", "3"), {}, "dec=-90.5 must be between -90 and 90 degrees"),
        (("1", "2", "0"), {}, "radius=0 must be more than 0 and at most 180 degrees"),
        (("1", "2", "inf"), {}, "radius=inf must be more than 0 and at most 180 degrees"),
        (("1", "2", "10.5"), {"names": ("RA", "DEC", "SR"), "max_radius_deg": 10, "zero_radius": True},
         "SR=10.5 must be between 0 and 10 degrees"),
        (("-1", "95", "-1"), {"names": ("RA", "DEC", "SR")}, "RA=-1 must be between 0 and 360 degrees"),  # the first fault
    ],
)
def test_parse_cone_names_the_value_at_fault(texts, options, message):
    with pytest.raises(ValueError) as raised:
        sky.parse_cone(*texts, **options)
    assert str(raised.value) == message


def test_parse_cone_accepts_a_zero_radius_only_when_asked():
    assert sky.parse_cone("1", "2", "0", zero_radius=True) == sky.Cone(1.0, 2.0, 0.0)
