"""Event tables under a real gunicorn, read by the clients astronomers use: pyvo for the cone search, h5py, astropy."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
import pyvo
import requests
from astropy.io.votable import parse
from pyvo.dal import DALQueryError

from event_support import CONES, brute_force_ids, files_of, sky_table
from support import TOKEN
from support import url as path_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def table():
    return sky_table()


def start_and_publish(app, gunicorn_server, table):
    """A gunicorn with the sky table published through its POST endpoint; returns (base URL, table description)."""
    url = gunicorn_server(workers=2, HYDROSERVE_EVENTS_SCS_MAX_RECORDS=500, HYDROSERVE_EVENTS_SCS_MAX_SR_DEG=60)
    csv_bytes, meta_bytes = files_of(table)
    created = requests.post(url + path_of(app, "events.Tables"), headers={"Authorization": f"Bearer {TOKEN}"},
                            files={"table": ("sky_test.csv", csv_bytes, "text/csv"),
                                   "metadata": ("sky_test.meta.json", meta_bytes, "application/json")}, timeout=60)
    assert created.status_code == 201, created.text
    return url, created.json()


def test_real_clients_under_gunicorn(app, gunicorn_server, table):
    """One server (starting gunicorn and publishing dominate the time) for the three checks below.

    ``app`` (the same settings as the server) only builds the URLs, with ``url_for``."""
    server = start_and_publish(app, gunicorn_server, table)
    check_pyvo_cone_search_equals_brute_force_at_poles_and_across_ra_zero(app, server, table)
    check_pyvo_sees_verbosity_metadata_overflow_and_errors(app, server, table)
    check_downloads_read_by_h5py_and_astropy(server, table)


def check_pyvo_cone_search_equals_brute_force_at_poles_and_across_ra_zero(app, server, table):
    url, described = server
    service = pyvo.dal.SCSService(described["cone_search"]["url"])
    assert described["cone_search"]["url"] == url + path_of(app, "events.Scs", table_id="sky_test") + "?"
    for ra, dec, sr in CONES:
        results = service.search(pos=(ra, dec), radius=sr, verbosity=3)
        inside, edge, separation = brute_force_ids(table, ra, dec, sr)
        found = [str(record.id) for record in results]
        assert set(found) - edge == inside - edge and len(found) == len(set(found)) > 0, (ra, dec, sr)
        # pyvo's record helpers find the identifier and the position by their SCS UCDs
        first = results[0]
        row = table.data["event_id"].tolist().index(first.id)
        assert first.pos.ra.deg == table.data["ra_deg"][row] and first.pos.dec.deg == table.data["dec_deg"][row]
        assert np.allclose(results["_r"], [separation[i] for i in found], rtol=0, atol=1e-9)
        assert list(results["_r"]) == sorted(results["_r"])
        assert len(results.fieldnames) == len(table.metadata.columns) + 1


def check_pyvo_sees_verbosity_metadata_overflow_and_errors(app, server, table):
    url, described = server
    service = pyvo.dal.SCSService(described["cone_search"]["url"])
    assert [column.name for column in service.columns] == ["event_id", "time_mjd", "ra_deg", "dec_deg", "angular_error_deg",
                                                           "energy_gev", "zenith_deg", "azimuth_deg", "n_hits", "neutrino_score",
                                                           "classification", "is_upgoing", "_r"]
    assert service.search(pos=(0, 90), radius=0).votable.get_first_table().array.shape == (0,)  # SR=0: metadata only
    minimal = service.search(pos=(0, 90), radius=2, verbosity=1)
    assert minimal.fieldnames == ("event_id", "time_mjd", "ra_deg", "dec_deg", "angular_error_deg", "_r")

    nearest = service.search(pos=(250, 10), radius=35, maxrec=7)
    status = [(i.name, i.value) for i in nearest.votable.resources[0].infos if i.name == "QUERY_STATUS"]
    everything, _, separation = brute_force_ids(table, 250, 10, 35)
    assert status == [("QUERY_STATUS", "OVERFLOW")] and len(nearest) == 7
    assert [str(r.id) for r in nearest] == sorted(everything, key=separation.get)[:7]
    capped = service.search(pos=(0, 0), radius=60)  # more than events_scs_max_records = 500 match
    assert len(capped) == 500 and capped.votable.resources[0].infos[0].value == "OVERFLOW"

    with pytest.raises(DALQueryError, match="SR=61.0 must be between 0 and 60 degrees"):
        service.search(pos=(10, 20), radius=61)
    query = service.create_query(pos=(10, 20), radius=1)
    query["DEC"] = -95  # pyvo's pos checks |Dec| <= 90 itself; set the parameter directly to see the service's answer
    with pytest.raises(DALQueryError, match="DEC=-95 must be between -90 and 90 degrees"):
        query.execute()
    missing = requests.get(described["cone_search"]["url"] + "RA=10&SR=1", timeout=10)
    assert parse(io.BytesIO(missing.content), verify="exception").infos[0].value == "DEC is required (decimal degrees)"
    with pytest.raises(DALQueryError, match="No event table 'no_such_table'"):  # a 404 whose error VOTable pyvo reads
        pyvo.dal.SCSService(url + path_of(app, "events.Scs", table_id="no_such_table") + "?").search(pos=(1, 2), radius=1)


def check_downloads_read_by_h5py_and_astropy(server, table):
    _, described = server
    formats = described["formats"]
    with h5py.File(io.BytesIO(requests.get(formats["hdf5"]["url"], timeout=30).content), "r") as file:
        assert np.array_equal(file["events"]["ra_deg"], table.data["ra_deg"])
        assert file["events"].attrs["column_units"][list(file["events"].attrs["column_names"]).index("ra_deg")] == "deg"
    document = parse(io.BytesIO(requests.get(formats["votable"]["url"], timeout=30).content), verify="exception")
    assert np.array_equal(document.get_first_table().to_table()["dec_deg"], table.data["dec_deg"])
    ranged = requests.get(formats["csv"]["url"], headers={"Range": "bytes=0-7"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == b"event_id"
