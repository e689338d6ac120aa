"""Event-table codecs: CSV, HDF5 and VOTable round trips, read by h5py and astropy, errors that name the place."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
from astropy.io.votable import parse, validate

from hydroserve.codecs import csvtable, hdf5table, tables, votable
from hydroserve.codecs.table_metadata import metadata_to_dict
from hydroserve.codecs.tables import TableError
from hydroserve.samples import events


@pytest.fixture(scope="module")
def table():
    return events.generate(400, seed=5)


def assert_same_rows(a, b):
    assert list(a.data) == list(b.data)
    for name in a.data:
        assert b.data[name].dtype.kind == a.data[name].dtype.kind, name
        assert np.array_equal(a.data[name], b.data[name], equal_nan=a.data[name].dtype.kind == "f"), name


def test_generated_sample_is_mostly_down_going_muons_with_a_few_up_going_neutrinos(table):
    upgoing = table.data["is_upgoing"]
    assert upgoing.sum() == 12  # 3 % of 400
    assert np.all(table.data["zenith_deg"][~upgoing] < 85) and np.all(table.data["zenith_deg"][upgoing] > 95)
    assert np.all(table.data["dir_z"][~upgoing] < 0) and np.all(table.data["dir_z"][upgoing] > 0)
    assert set(table.data["classification"][~upgoing]) == {"muon-like"}
    assert np.median(table.data["energy_gev"][upgoing]) > 10 * np.median(table.data["energy_gev"][~upgoing])
    # MJD and UTC columns agree to the microsecond
    utc = np.array([np.datetime64(t[:-1], "us") for t in table.data["time_utc"]]).astype(np.int64)
    assert np.allclose((table.data["time_mjd"] - events.MJD_UNIX_EPOCH) * 86400e6, utc, atol=2)
    assert events.generate(400, seed=5).data["event_id"].tolist() == table.data["event_id"].tolist()


def test_sample_positions_follow_from_zenith_azimuth_and_time():
    # straight up at the site: Dec = site latitude, RA = local sidereal time
    ra, dec = events.equatorial(np.array([0.0]), np.array([0.0]), np.array([51544.5]))  # J2000.0, GMST 280.46061837 deg
    assert dec[0] == pytest.approx(events.SITE_LATITUDE_DEG, abs=1e-9)
    assert ra[0] == pytest.approx((280.46061837 + events.SITE_LONGITUDE_DEG) % 360, abs=1e-9)
    # due north on the horizon: Dec = 90 - latitude
    _, dec = events.equatorial(np.array([90.0]), np.array([0.0]), np.array([51544.5]))
    assert dec[0] == pytest.approx(90 - events.SITE_LATITUDE_DEG, abs=1e-9)


def test_csv_round_trip_is_bit_exact(table):
    data = csvtable.encode(table)
    lines = data.decode().split("\r\n")
    assert lines[0].split(",") == [c.name for c in table.metadata.columns] and len(lines) == 402 and lines[-1] == ""
    back = csvtable.decode(data, table.metadata)
    assert_same_rows(table, back)
    assert csvtable.encode(back) == data
    # LF line ends, a byte-order mark, another column order and 1/0 booleans read the same
    header, *rows = data.decode().splitlines()
    names = header.split(",")
    order = list(reversed(range(len(names))))
    swapped = ["\ufeff" + ",".join(names[i] for i in order)]
    swapped += [",".join(row.split(",")[i] for i in order).replace("false", "0").replace("true", "1") for row in rows]
    assert_same_rows(table, csvtable.decode("\n".join(swapped).encode(), table.metadata))


def _csv_with(table, edit) -> bytes:
    """The first three events as CSV lines (header first), changed by ``edit(lines)``."""
    head = tables.EventTable(table.metadata, {name: values[:3] for name, values in table.data.items()})
    lines = csvtable.encode(head).decode().split("\r\n")[:-1]
    edit(lines)
    return "\r\n".join(lines).encode()


def _set_cell(lines, line_no: int, column: str, value: str) -> None:
    names = lines[0].split(",")
    cells = lines[line_no - 1].split(",")
    cells[names.index(column)] = value
    lines[line_no - 1] = ",".join(cells)


@pytest.mark.parametrize("edit, expected", [
    (lambda ls: _set_cell(ls, 3, "energy_gev", "12,5"), "line 3: 19 fields, the header has 18"),
    (lambda ls: _set_cell(ls, 3, "energy_gev", "abc"), "line 3, column 'energy_gev': 'abc' is not a number (float32)"),
    (lambda ls: _set_cell(ls, 2, "n_hits", "4000000000"), "line 2, column 'n_hits': '4000000000' is not within the int32 range"),
    (lambda ls: _set_cell(ls, 4, "n_hits", "7.5"), "line 4, column 'n_hits': '7.5' is not an integer (int32)"),
    (lambda ls: _set_cell(ls, 2, "is_upgoing", "maybe"), "line 2, column 'is_upgoing': 'maybe' is not a boolean"),
    (lambda ls: _set_cell(ls, 4, "event_id", ls[1].split(",")[0]), "rows 1, 3, column 'event_id': event identifier"),
    (lambda ls: _set_cell(ls, 2, "dec_deg", "91.5"), "row 1, column 'dec_deg': Dec 91.5 deg must be in [-90, 90]"),
    (lambda ls: _set_cell(ls, 3, "ra_deg", "360"), "row 2, column 'ra_deg': RA 360.0 deg must be in [0, 360)"),
    (lambda ls: _set_cell(ls, 2, "event_id", ""), "row 1, column 'event_id': the event identifier is empty"),
    (lambda ls: ls.__setitem__(0, ls[0].replace("likelihood", "loglike")),
     "column 'loglike' is not described by the metadata"),
    (lambda ls: ls.__setitem__(0, ls[0].replace("likelihood", "likelihood\u00a0")),
     "column 'likelihood\\xa0' is not described by the metadata"),  # invisible characters shown
    (lambda ls: ls.__setitem__(0, ls[0].replace("likelihood", "n_hits")), "column 'n_hits' appears more than once"),
    (lambda ls: ls.__delitem__(slice(1, None)), "CSV: no rows after the header"),
])
def test_csv_problems_name_the_line_row_and_column(table, edit, expected):
    with pytest.raises(TableError) as caught:
        csvtable.decode(_csv_with(table, edit), table.metadata)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_csv_reports_many_problems_at_once_and_counts_the_rest(table):
    head = tables.EventTable(table.metadata, {name: values[:30] for name, values in table.data.items()})
    lines = csvtable.encode(head).decode().split("\r\n")[:-1]
    for line_no in range(2, 32):
        _set_cell(lines, line_no, "energy_gev", "x")
    with pytest.raises(TableError) as caught:
        csvtable.decode("\r\n".join(lines).encode(), table.metadata)
    assert len(caught.value.problems) == tables.MAX_PROBLEMS and caught.value.n_more == 10
    assert caught.value.problems[0] == "line 2, column 'energy_gev': 'x' is not a number (float32)"
    with pytest.raises(TableError, match="not UTF-8 text"):
        csvtable.decode(b"event_id\xff\n", table.metadata)


def test_hdf5_file_as_h5py_reads_it(table):
    data = hdf5table.encode(table)
    with h5py.File(io.BytesIO(data), "r") as file:
        assert file.attrs["format"] == "km3net-event-table" and file.attrs["n_rows"] == 400
        assert json.loads(file.attrs["metadata"]) == metadata_to_dict(table.metadata)
        rows = file["events"][()]
        assert rows.dtype.names == tuple(c.name for c in table.metadata.columns)
        assert rows["event_id"][7].decode() == table.data["event_id"][7]
        assert np.array_equal(rows["energy_gev"], table.data["energy_gev"]) and rows["energy_gev"].dtype == np.float32
        assert np.array_equal(rows["is_upgoing"], table.data["is_upgoing"])
        attrs = file["events"].attrs
        names = list(attrs["column_names"])
        assert attrs["column_units"][names.index("energy_gev")] == "GeV"
        assert attrs["column_ucds"][names.index("ra_deg")] == "pos.eq.ra;meta.main"
        header = {(s.decode(), k.decode()): v.decode() for s, k, v in file["header"][()]}
    assert header[("publication", "publisher")] == "KM3NeT Collaboration"
    assert header[("publication", "created")] == "2024-01-15"
    assert header[("data_taking", "start")] == "2023-01-01T00:00:00Z"
    assert header[("data_taking", "detector")] == "ARCA21 (synthetic)"
    assert header[("provenance/1", "id")] == "hydroserve:samples:synthetic-events"
    assert header[("provenance/1", "parameters.n_events")] == "400"
    assert header[("column/energy_gev", "unit")] == "GeV" and header[("column/energy_gev", "ucd")] == "phys.energy"
    assert hdf5table.encode(table) == data  # reproducible: no timestamps
    assert_same_rows(table, hdf5table.decode(data, table.metadata))


def test_hdf5_input_converts_exactly_or_names_the_field(table, tmp_path):
    def write(**overrides):
        fields = {name: values for name, values in table.data.items() if name not in ("event_id", "time_utc", "classification")}
        fields.update(overrides)
        strings = {name: np.char.encode(table.data[name], "utf-8") for name in ("event_id", "time_utc", "classification")}
        records = np.empty(400, dtype=[(n, v.dtype) for n, v in {**strings, **fields}.items()])
        for name, values in {**strings, **fields}.items():
            records[name] = values
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as file:
            file.create_dataset("hits/reco", data=records)
        return buffer.getvalue()

    widened = write(n_hits=table.data["n_hits"].astype(np.int64), energy_gev=table.data["energy_gev"].astype(np.float64))
    assert_same_rows(table, hdf5table.decode(widened, table.metadata, dataset="hits/reco"))
    with pytest.raises(TableError, match="no 1-d compound dataset 'events' \\(found: hits\\)"):
        hdf5table.decode(widened, table.metadata)
    lossy = write(energy_gev=table.data["energy_gev"].astype(np.float64) + 1e-9)
    with pytest.raises(TableError, match="HDF5 field 'energy_gev': float64 values do not all convert exactly to float32"):
        hdf5table.decode(lossy, table.metadata, dataset="hits/reco")
    with pytest.raises(TableError, match="HDF5 field 'n_hits': float64 values for a int32 column"):
        hdf5table.decode(write(n_hits=table.data["n_hits"].astype(np.float64)), table.metadata, dataset="hits/reco")
    with pytest.raises(TableError, match="not an HDF5 file"):
        hdf5table.decode(b"event_id\n", table.metadata)


def test_full_votable_validates_without_warnings_and_reads_back(table):
    data = votable.encode_table(table)
    assert validate(io.BytesIO(data), output=io.StringIO()) is True
    document = parse(io.BytesIO(data), verify="exception")
    assert document.version == "1.4"
    resource = document.resources[0]
    assert resource.type == "results" and resource.coordinate_systems[0].system == "ICRS"
    assert resource.time_systems[0].timescale == "UTC" and resource.time_systems[0].timeorigin == "MJD-origin"
    infos = {(i.name, i.value) for i in resource.infos}
    assert ("publisher", "KM3NeT Collaboration") in infos and ("data_taking_start", "2023-01-01T00:00:00Z") in infos
    assert ("provenance", "hydroserve:samples:event-table") in infos
    element = document.get_first_table()
    fields = {f.name: f for f in element.fields}
    assert fields["event_id"].ucd == "meta.id;meta.main" and fields["event_id"].datatype == "char"
    assert fields["ra_deg"].ucd == "pos.eq.ra;meta.main" and str(fields["ra_deg"].unit) == "deg" and fields["ra_deg"].ref == "_icrs"
    assert str(fields["energy_gev"].unit) == "GeV" and fields["energy_gev"].datatype == "float"
    assert fields["time_mjd"].ref == "_utc_mjd" and fields["n_hits"].datatype == "int" and fields["run_id"].datatype == "long"
    assert fields["energy_gev"].description == "reconstructed energy"
    read = element.to_table()
    for name, values in table.data.items():
        column = np.asarray(read[name])
        assert np.array_equal(column.astype(values.dtype) if values.dtype.kind != "U" else column.astype(str), values), name


def test_non_ascii_strings_become_unicode_char(table):
    data = dict(table.data, classification=np.where(table.data["is_upgoing"], "ν-like", "µ-like"))
    document = parse(io.BytesIO(votable.encode_table(tables.EventTable(table.metadata, data))), verify="exception")
    element = document.get_first_table()
    assert {f.name: f.datatype for f in element.fields}["classification"] == "unicodeChar"
    assert set(element.to_table()["classification"]) == {"ν-like", "µ-like"}
