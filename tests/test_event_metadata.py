"""The event-table domain's metadata rules: the metadata document validated by the schema, errors naming the field and column."""

from __future__ import annotations

import json

import pytest

from hydroserve.api.events.metadata import InvalidMetadata, load_metadata
from hydroserve.codecs import table_metadata
from hydroserve.samples import events


@pytest.fixture(scope="module")
def table():
    return events.generate(400, seed=5)


def _document(table) -> dict:
    return json.loads(json.dumps(table_metadata.metadata_to_dict(table.metadata)))


def test_metadata_document_round_trips_through_the_schema(table):
    document = _document(table)
    assert load_metadata(document) == table.metadata
    assert table_metadata.metadata_to_dict(load_metadata(document)) == document


def _column(document, name):
    return next(c for c in document["columns"] if c["name"] == name)


@pytest.mark.parametrize("spoil, expected", [
    (lambda d: _column(d, "energy_gev").update(unit="GeVV"), ("columns", "energy_gev", "unit")),
    (lambda d: _column(d, "energy_gev").update(unit="erg"), ("columns", "energy_gev", "unit")),
    (lambda d: _column(d, "zenith_deg").update(ucd="pos.az.zenith"), ("columns", "zenith_deg", "ucd")),
    (lambda d: _column(d, "n_hits").update(type="int16"), ("columns", "n_hits", "type")),
    (lambda d: _column(d, "likelihood").pop("description"), ("columns", "likelihood", "description")),
    (lambda d: _column(d, "likelihood").update(verbosity=4), ("columns", "likelihood", "verbosity")),
    (lambda d: _column(d, "likelihood").update(name="2nd"), ("columns", "2nd", "name")),
    (lambda d: d["data_taking"].update(stop="2022-12-31T00:00:00Z"), ("data_taking", "stop")),
    (lambda d: d["data_taking"].update(start="2023-01-01T00:00:00"), ("data_taking", "start")),
    (lambda d: d["data_taking"].update(start="0001-01-01T00:00:00+01:00"), ("data_taking", "start")),  # no UTC equivalent
    (lambda d: d["publication"].pop("owner"), ("publication", "owner")),
    (lambda d: d["publication"].update(created="15/01/2024"), ("publication", "created")),
    (lambda d: d["provenance"][0].pop("id"), ("provenance", 0, "id")),
    (lambda d: d["provenance"][0]["parameters"].update(cuts=[1, 2]), ("provenance", 0, "parameters")),
    (lambda d: d.update(id="no spaces"), ("id",)),
    (lambda d: d.update(extra_field=1), ("extra_field",)),
])
def test_metadata_errors_name_the_field_and_the_column(table, spoil, expected):
    document = _document(table)
    spoil(document)
    with pytest.raises(InvalidMetadata) as caught:
        load_metadata(document)
    messages = caught.value.messages
    for key in expected:
        assert key in messages, (key, messages)
        messages = messages[key]


@pytest.mark.parametrize("spoil, expected", [
    (lambda d: _column(d, "event_id").update(ucd="meta.id"), "exactly one column must be the event identifier"),
    (lambda d: _column(d, "run_id").update(ucd="meta.id;meta.main"), "exactly one column must be the event identifier"),
    (lambda d: _column(d, "dec_deg").update(ucd="pos.eq.dec"), "give one column with ucd 'pos.eq.ra;meta.main' and one"),
    (lambda d: _column(d, "ra_deg").update(unit="rad"), "position column 'ra_deg' must be float32/float64 with unit 'deg'"),
    (lambda d: _column(d, "likelihood").update(name="n_hits"), "name 'n_hits' appears more than once"),
    (lambda d: _column(d, "likelihood").update(identifier="km3net:events:n_hits"), "identifier 'km3net:events:n_hits' appears"),
])
def test_metadata_consistency_errors_name_the_columns(table, spoil, expected):
    document = _document(table)
    spoil(document)
    with pytest.raises(InvalidMetadata) as caught:
        load_metadata(document)
    assert any(expected in message for message in caught.value.messages["columns"]), caught.value.messages


TOML = '''
id = "tiny"
title = "Three events"

[publication]
publisher = "KM3NeT Collaboration"
owner = "KM3NeT Collaboration"
created = 2024-02-01
version = "0.1"
description = "A tiny table."

[data_taking]
start = 2023-05-01T00:00:00Z
stop = 2023-05-02T12:00:00+02:00
detector = "ORCA6"
event_selection = "none"

[[provenance]]
id = "km3pipe:reco"
description = "track reconstruction"
parameters = { cut = 0.5, tag = "v2" }

[[columns]]
name = "event_id"
type = "string"
unit = ""
description = "identifier"
identifier = "km3net:events:event_id"
ucd = "meta.id;meta.main"

[[columns]]
name = "energy_gev"
type = "float64"
unit = "GeV"
description = "energy"
identifier = "km3net:events:energy"
ucd = "phys.energy"
verbosity = 3
'''


def test_toml_metadata_reads_like_json():
    from_toml = load_metadata(table_metadata.read_metadata_document(TOML.encode()))
    assert from_toml.data_taking.stop.isoformat() == "2023-05-02T10:00:00+00:00"
    assert from_toml.provenance[0].parameters == {"cut": 0.5, "tag": "v2"}
    as_json = table_metadata.encode_metadata(from_toml)
    assert load_metadata(table_metadata.read_metadata_document(as_json)) == from_toml
    assert from_toml.position_columns is None and from_toml.id_column == "event_id"
    with pytest.raises(table_metadata.MetadataError, match="invalid JSON at line 1"):
        table_metadata.read_metadata_document(b'{"id": }')
    with pytest.raises(table_metadata.MetadataError, match="neither JSON nor valid TOML"):
        table_metadata.read_metadata_document(b"id = ")
