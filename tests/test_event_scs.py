"""Cone search: parameters, true angular distance at the poles and across RA = 0/360, verbosity, MAXREC."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.coordinates import angular_separation
from astropy.io.votable import parse, validate

from event_support import CONES, brute_force_ids, sky_table
from hydroserve.api.events import cone
from hydroserve.codecs import sky, votable


@pytest.fixture(scope="module")
def index():
    return cone.ConeIndex(sky_table())


def query(max_sr_deg=180.0, max_records=10_000, **params):
    return cone.parse_query({k: [str(v)] for k, v in params.items()}, max_sr_deg=max_sr_deg, max_records=max_records)


def test_angular_distance_equals_astropy_everywhere():
    rng = np.random.default_rng(3)
    ra1, ra2 = rng.uniform(0, 360, (2, 20000))
    dec1, dec2 = np.degrees(np.arcsin(rng.uniform(-1, 1, (2, 20000))))
    dec1[:100], dec2[100:200], ra2[200:300] = 90.0, -90.0, ra1[200:300] + 1e-7
    expected = np.degrees(angular_separation(*np.radians([ra1, dec1, ra2, dec2])))
    assert np.max(np.abs(sky.angular_distance_deg(ra1, dec1, ra2, dec2) - expected)) < 1e-10
    # hand-computed cases: across RA = 0, pole to equator, antipodes, a tiny separation
    assert sky.angular_distance_deg(359.5, 0, 0.5, 0) == pytest.approx(1.0, abs=1e-12)
    assert sky.angular_distance_deg(17, 90, 250, 0) == pytest.approx(90.0, abs=1e-12)
    assert sky.angular_distance_deg(10, 20, 190, -20) == pytest.approx(180.0, abs=1e-12)
    assert sky.angular_distance_deg(10, 20, 10, 20 + 1e-9) == pytest.approx(1e-9, rel=1e-6)


@pytest.mark.parametrize("ra, dec, sr", CONES)
def test_cone_equals_brute_force_at_poles_and_across_ra_zero(index, ra, dec, sr):
    result = index.search(query(RA=ra, DEC=dec, SR=sr))
    found = set(index.table.data["event_id"][result.rows].tolist())
    inside, edge, separation = brute_force_ids(index.table, ra, dec, sr)
    assert found - edge == inside - edge and len(inside) > 0
    assert np.all(np.diff(result.distance_deg) >= 0)  # nearest first
    for row, distance in zip(result.rows, result.distance_deg):
        assert distance == pytest.approx(separation[index.table.data["event_id"][row]], abs=1e-10)
    assert not result.overflow


def test_cones_across_ra_zero_take_events_from_both_sides(index):
    for ra, dec, sr in [(0.3, 0.0, 3.0), (359.6, 45.0, 3.0)]:
        ras = index.table.data["ra_deg"][index.search(query(RA=ra, DEC=dec, SR=sr)).rows]
        assert (ras > 350).any() and (ras < 10).any()
    # a cone around the north pole holds events at every RA, including the pole itself
    rows = index.search(query(RA=0, DEC=90, SR=2)).rows
    assert np.ptp(index.table.data["ra_deg"][rows]) > 300 and 90.0 in index.table.data["dec_deg"][rows]


def test_zero_radius_and_zero_maxrec_ask_for_metadata_only(index):
    assert len(index.search(query(RA=0, DEC=90, SR=0)).rows) == 0  # an event sits exactly there
    result = index.search(query(RA=0, DEC=90, SR=2, MAXREC=0))
    assert len(result.rows) == 0 and result.overflow


def test_maxrec_keeps_the_nearest_and_flags_overflow(index):
    everything = index.search(query(RA=250, DEC=10, SR=35))
    first = index.search(query(RA=250, DEC=10, SR=35, MAXREC=10))
    assert first.overflow and np.array_equal(first.rows, everything.rows[:10])
    capped = index.search(query(RA=250, DEC=10, SR=35, MAXREC=500, max_records=20))
    assert capped.overflow and len(capped.rows) == 20
    exact = index.search(query(RA=250, DEC=10, SR=35, MAXREC=len(everything.rows)))
    assert not exact.overflow and len(exact.rows) == len(everything.rows)


def test_parameters_are_case_insensitive_and_unknown_ones_ignored():
    parsed = cone.parse_query({"ra": ["360"], "Dec": ["-12.5"], "sr": ["0.5"], "RESPONSEFORMAT": ["votable"], "foo": ["1"]},
                             max_sr_deg=10, max_records=100)
    assert parsed == cone.ConeQuery(ra_deg=0.0, dec_deg=-12.5, radius_deg=0.5, verbosity=2, max_records=100)
    assert query(RA=1, DEC=2, SR=3, VERB=0).verbosity == 1 and query(RA=1, DEC=2, SR=3, VERB=9).verbosity == 3


@pytest.mark.parametrize("args, message", [
    ({"DEC": "2", "SR": "1"}, "RA is required"),
    ({"RA": "1", "SR": "1"}, "DEC is required"),
    ({"RA": "1", "DEC": "2"}, "SR is required"),
    ({"RA": "1", "DEC": "2", "SR": ""}, "SR is required"),
    ({"RA": "abc", "DEC": "2", "SR": "1"}, "RA='abc' is not a number"),
    ({"RA": "nan", "DEC": "2", "SR": "1"}, "RA=nan must be between 0 and 360 degrees"),
    ({"RA": "1", "DEC": "91", "SR": "1"}, "DEC=91 must be between -90 and 90 degrees"),
    ({"RA": "-1", "DEC": "2", "SR": "1"}, "RA=-1 must be between 0 and 360 degrees"),
    ({"RA": "1", "DEC": "2", "SR": "-0.1"}, "SR=-0.1 must be between 0 and 10 degrees"),
    ({"RA": "1", "DEC": "2", "SR": "10.5"}, "SR=10.5 must be between 0 and 10 degrees"),
    ({"RA": "1", "DEC": "2", "SR": "1", "VERB": "high"}, "VERB='high' is not an integer"),
    ({"RA": "1", "DEC": "2", "SR": "1", "MAXREC": "-3"}, "MAXREC=-3 must not be negative"),
])
def test_invalid_parameters_are_named(args, message):
    with pytest.raises(cone.ConeSearchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cone.parse_query({k: [v] for k, v in args.items()}, max_sr_deg=10, max_records=100)
    with pytest.raises(cone.ConeSearchError, match="RA is given 2 times"):
        cone.parse_query({"RA": ["1"], "ra": ["2"], "DEC": ["0"], "SR": ["1"]}, max_sr_deg=10, max_records=100)


def test_verbosity_selects_columns(index):
    names = {v: [c.name for c in index.columns(v)] for v in (1, 2, 3)}
    assert names[1] == ["event_id", "time_mjd", "ra_deg", "dec_deg", "angular_error_deg"]
    assert names[2] == names[1] + ["energy_gev", "zenith_deg", "azimuth_deg", "n_hits", "neutrino_score", "classification",
                                   "is_upgoing"]
    assert names[3] == [c.name for c in index.table.metadata.columns]


def test_cone_response_is_a_valid_scs_votable(index):
    result = index.search(query(RA=0.3, DEC=0, SR=3, MAXREC=5))
    data = votable.encode_cone_result(index.table, result.rows, index.columns(1), [cone.distance_column(result.distance_deg)],
                                      overflow=result.overflow)
    assert validate(io.BytesIO(data), output=io.StringIO()) is True
    document = parse(io.BytesIO(data), verify="exception")
    assert document.version == "1.1" and len(document.resources) == 1 and document.resources[0].type == "results"
    assert [(i.name, i.value) for i in document.resources[0].infos][0] == ("QUERY_STATUS", "OVERFLOW")
    element = document.get_first_table()
    assert [(f.name, f.ucd) for f in element.fields] == [
        ("event_id", "ID_MAIN"), ("time_mjd", "time.epoch"), ("ra_deg", "POS_EQ_RA_MAIN"), ("dec_deg", "POS_EQ_DEC_MAIN"),
        ("angular_error_deg", "stat.error;pos"), ("_r", "pos.angDistance")]
    rows = element.to_table()
    assert list(rows["event_id"]) == index.table.data["event_id"][result.rows].tolist()
    assert np.allclose(rows["_r"], result.distance_deg, rtol=0, atol=1e-12)
    error = parse(io.BytesIO(votable.encode_cone_error("DEC=91 must be between -90 and 90 degrees", description="test")),
                  verify="exception")
    assert [(i.name, i.value) for i in error.infos] == [("Error", "DEC=91 must be between -90 and 90 degrees")]
    assert error.resources == []
