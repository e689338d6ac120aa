"""Event tables hold only text every format carries unchanged: control characters are refused (422), never dropped."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
from lxml import etree

from hydroserve.codecs import csvtable, hdf5table, tables
from hydroserve.codecs.tables import TableError
from hydroserve.samples import events
from support import AUTH, url

SAMPLE_CSV = (events.EXAMPLE_DIR / f"{events.TABLE_ID}.csv").read_bytes()
SAMPLE_META = (events.EXAMPLE_DIR / f"{events.TABLE_ID}.meta.json").read_bytes()


# refused tables (nothing is written) go to one catalog per engine (module_client); accepted ones to a fresh catalog each


def publish(client, table: bytes, metadata: bytes = SAMPLE_META):
    return client.post(url(client, "events.Tables"), headers=AUTH, content_type="multipart/form-data",
                       data={"table": (io.BytesIO(table), "t.csv"), "metadata": (io.BytesIO(metadata), "t.meta.json")})


def csv_with_text(row: int, value: str) -> bytes:
    """The sample CSV with the ``classification`` text of event ``row`` (counted from 1) replaced."""
    lines = SAMPLE_CSV.decode().split("\r\n")
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index("classification")] = value
    lines[row] = ",".join(cells)
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize("value, code", [
    ("muon\x01-like", "U+0001"), ("muon-like\x00", "U+0000"), ('"muon\nlike"', "U+000A"), ("muon\x7f", "U+007F"),
    ("muon\x85", "U+0085"), ("muon\ufffe", "U+FFFE"),
])
def test_a_control_character_in_a_text_cell_is_a_422_naming_line_row_and_column(module_client, value, code):
    response = publish(module_client, csv_with_text(2, value))
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    line = 4 if "\n" in value else 3  # a line break inside quotes: the record ends on the next line
    assert f"line {line} (row 2), column 'classification': the text contains the character {code}" in response.json["detail"]
    assert module_client.get(url(module_client, "events.Tables")).json["items"] == []


def test_a_tab_in_a_text_cell_is_kept_and_the_votable_stays_well_formed(client):
    response = publish(client, csv_with_text(2, "muon\tlike"))
    assert response.status_code == 201
    assert client.get(url(client, "events.Csv", table_id=events.TABLE_ID)).data.split(b"\r\n")[2].count(b"muon\tlike") == 1
    etree.fromstring(client.get(url(client, "events.Votable", table_id=events.TABLE_ID)).data)  # well-formed


@pytest.mark.parametrize("path, value, field", [
    (("title",), "Synthetic\x01 events", "metadata.title"),
    (("publication", "owner"), "KM3NeT\x00", "metadata.publication.owner"),
    (("data_taking", "event_selection"), "all\x0b events", "metadata.data_taking.event_selection"),
    (("columns", 16, "description"), "class\x02", "metadata.columns.classification.description"),
    (("provenance", 0, "parameters", "cut"), "x\x03", "metadata.provenance.0.parameters.cut.value"),
])
def test_a_control_character_in_the_metadata_is_a_422_naming_the_field(module_client, path, value, field):
    document = json.loads(SAMPLE_META)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    response = publish(module_client, SAMPLE_CSV, json.dumps(document).encode())
    assert response.status_code == 422, response.json
    assert f"{field}: The text contains the character U+000" in response.json["detail"]


def test_line_breaks_are_allowed_in_metadata_descriptions(client):
    document = json.loads(SAMPLE_META)
    document["publication"]["description"] = "First paragraph.\n\nSecond paragraph."
    assert publish(client, SAMPLE_CSV, json.dumps(document).encode()).status_code == 201


def test_hdf5_strings_with_control_characters_are_refused_naming_field_and_row():
    metadata = events.generate(3, seed=1, table_id="t_2023").metadata
    table = csvtable.decode(csvtable.encode(events.generate(3, seed=1, table_id="t_2023")), metadata)
    data = io.BytesIO(hdf5table.encode(table))
    with h5py.File(data, "r+") as file:
        rows = file["events"][()]
        rows["classification"][1] = "a\x01".encode()
        del file["events"]
        file.create_dataset("events", data=rows)
    with pytest.raises(TableError) as caught:
        hdf5table.decode(data.getvalue(), metadata)
    assert caught.value.problems == ["HDF5 field 'classification', row 2: the text contains the character U+0001 at position 1, "
                                     "a control character (only tab is allowed)"]


def test_csv_codec_refuses_a_trailing_nul_instead_of_dropping_it():
    table = events.generate(3, seed=1, table_id="t_2023")
    text = csvtable.encode(table).decode().split("\r\n")
    text[1] = text[1].replace("-like", "-like\x00", 1)
    with pytest.raises(TableError, match=r"line 2 \(row 1\), column 'classification': the text contains the character U\+0000"):
        csvtable.decode("\r\n".join(text).encode(), table.metadata)
    assert np.array(["x\x00"], dtype=np.str_)[0] == "x"  # why: numpy's text arrays drop trailing NULs silently
    assert tables  # the metadata model is unchanged by these checks
