"""Event-table endpoints through the Flask test client, and ``hydroserve events publish``."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
from astropy.io.votable import parse
from sqlalchemy import func, select

from event_support import files_of, with_metadata
from hydroserve.api.events import publishing, registration, store
from hydroserve.codecs import csvtable
from hydroserve.codecs.table_metadata import metadata_to_dict
from hydroserve.codecs.tables import EventTable
from hydroserve.codecs.times import as_utc
from hydroserve.odc_sync import outbox, registry
from hydroserve.samples import events
from support import AUTH, server_env, url

SAMPLE_CSV = events.EXAMPLE_DIR / f"{events.TABLE_ID}.csv"
SAMPLE_META = events.EXAMPLE_DIR / f"{events.TABLE_ID}.meta.json"


@pytest.fixture(scope="module")
def small_table() -> EventTable:
    return events.generate(120, seed=9, table_id="small_2023")



def publish(client, table_bytes: bytes, metadata_bytes: bytes, *, headers=AUTH, names=("events.csv", "events.meta.json")):
    return client.post(url(client, "events.Tables"), headers=headers, content_type="multipart/form-data",
                       data={"table": (io.BytesIO(table_bytes), names[0]), "metadata": (io.BytesIO(metadata_bytes), names[1])})


def count(app, table) -> int:
    with app.extensions["hydroserve"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_publishing_needs_a_bearer_token(app, client, small_table):
    refused = publish(client, *files_of(small_table), headers={})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.json["detail"].startswith("This endpoint needs a bearer token")
    wrong = publish(client, *files_of(small_table), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json["detail"] == "The bearer token is not accepted."
    assert client.get(url(app, "events.Tables")).json == {"items": [], "next": None}
    assert count(app, registry.resources) == 0


def test_published_table_is_described_and_downloadable(app, client, small_table):
    csv_bytes, meta_bytes = files_of(small_table)
    response = publish(client, csv_bytes, meta_bytes)
    assert response.status_code == 201
    assert response.headers["Location"] == url(app, "events.Table", table_id="small_2023", _external=True)
    described = client.get(url(app, "events.Table", table_id="small_2023")).json
    assert described == response.json
    assert described["metadata"] == metadata_to_dict(small_table.metadata)
    assert described["n_rows"] == 120 and described["detector"] == "ARCA21 (synthetic)" and described["version"] == "1.0"
    assert described["cone_search"]["url"] == url(app, "events.Scs", table_id="small_2023", _external=True) + "?"
    assert described["cone_search"]["max_sr_deg"] == 180.0 and described["cone_search"]["verbosity"] is True
    assert described["cone_search"]["test_query"] == {"ra": float(small_table.data["ra_deg"][0]),
                                                      "dec": float(small_table.data["dec_deg"][0]), "sr": 1.0}
    assert described["resources"] == [f"events20_01_{kind}_small_2023" for kind in ("csv", "hdf5", "votable", "scs")]

    csv = client.get(described["formats"]["csv"]["url"])
    assert csv.status_code == 200 and csv.data == csv_bytes and csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv.headers["ETag"] == f'"{described["formats"]["csv"]["sha256"]}"'
    assert "small_2023.csv" in csv.headers["Content-Disposition"]
    assert client.get(described["formats"]["csv"]["url"], headers={"If-None-Match": csv.headers["ETag"]}).status_code == 304
    assert client.get(described["formats"]["meta"]["url"]).data == meta_bytes

    with h5py.File(io.BytesIO(client.get(described["formats"]["hdf5"]["url"]).data), "r") as file:
        assert np.array_equal(file["events"]["energy_gev"], small_table.data["energy_gev"])
        assert json.loads(file.attrs["metadata"])["id"] == "small_2023"
    document = parse(io.BytesIO(client.get(described["formats"]["votable"]["url"]).data), verify="exception")
    assert list(document.get_first_table().to_table()["event_id"]) == small_table.data["event_id"].tolist()


def test_csv_with_its_metadata_file_round_trips(app, client, small_table):
    publish(client, *files_of(small_table))
    described = client.get(url(app, "events.Table", table_id="small_2023")).json
    csv_bytes = client.get(described["formats"]["csv"]["url"]).data
    meta_bytes = client.get(described["formats"]["meta"]["url"]).data
    back = publishing.read_input(csv_bytes, meta_bytes, max_rows=1000)
    assert back.metadata == small_table.metadata
    for name, values in small_table.data.items():
        assert back.data[name].dtype.kind == values.dtype.kind and np.array_equal(back.data[name], values), name
    # the downloaded HDF5 with the metadata file is the same table again: nothing changes
    hdf5_bytes = client.get(described["formats"]["hdf5"]["url"]).data
    again = publish(client, hdf5_bytes, meta_bytes, names=("small_2023.h5", "small_2023.meta.json"))
    assert again.status_code == 200 and again.json["created"] == described["created"]


def test_same_table_again_changes_nothing_and_a_different_one_is_refused(app, client, small_table):
    first = publish(client, *files_of(small_table))
    n_resources, n_outbox = count(app, registry.resources), count(app, outbox.table)
    assert first.status_code == 201 and n_resources == 4 and n_outbox == 4
    again = publish(client, *files_of(small_table))
    assert again.status_code == 200 and again.json == first.json
    changed = EventTable(small_table.metadata, dict(small_table.data, energy_gev=small_table.data["energy_gev"] * 2))
    conflict = publish(client, *files_of(changed))
    assert conflict.status_code == 409
    assert conflict.json["detail"].startswith("table 'small_2023' is already published with different content")
    assert (count(app, registry.resources), count(app, outbox.table), count(app, store.event_tables)) == (4, 4, 1)
    assert client.get(first.json["formats"]["csv"]["url"]).data == files_of(small_table)[0]


def test_resources_are_registered_with_the_table(app, client, settings, small_table):
    publish(client, *files_of(small_table))
    with app.extensions["hydroserve"].engine.connect() as conn:
        items = registry.resources_for_subject(conn, "small_2023")
        streams = {row.kid: row for row in registry.list_streams(conn, "events20_01")}
        pending = outbox.due(conn, "odc", as_utc(items[0].modified))
    assert [(r.ktype, r.media_type) for r in items] == [
        ("events.table.csv", "text/csv"), ("events.table.hdf5", "application/x-hdf5"),
        ("events.service.scs", "text/xml;content=x-votable"), ("events.table.votable", "application/x-votable+xml")]
    scs = next(r for r in items if r.ktype == "events.service.scs")
    assert scs.access_url == settings.public_url + url(app, "events.Scs", table_id="small_2023") + "?"  # a URL the service answers
    assert scs.extra["capability"]["standard_id"] == "ivo://ivoa.net/std/ConeSearch" and scs.size_bytes is None
    csv = next(r for r in items if r.ktype == "events.table.csv")
    assert csv.extra["metadata_url"].endswith("/small_2023.meta.json") and csv.extra["n_rows"] == 120
    assert csv.coverage_start.isoformat() == "2023-01-01T00:00:00+00:00" and csv.license == "CC-BY-4.0"
    assert [step["id"] for step in csv.provenance] == ["hydroserve:samples:synthetic-events", "hydroserve:samples:event-table"]
    assert set(streams) == {"events20_01_csv", "events20_01_hdf5", "events20_01_votable", "events20_01_scs"}
    assert {item.resource_kid for item in pending} == {r.kid for r in items}


def _spoil_unit(meta_bytes: bytes) -> bytes:
    document = json.loads(meta_bytes)
    next(c for c in document["columns"] if c["name"] == "energy_gev")["unit"] = "GeVV"
    return json.dumps(document).encode()


def test_invalid_input_is_refused_naming_the_column(app, client, small_table):
    csv_bytes, meta_bytes = files_of(small_table)
    bad_meta = publish(client, csv_bytes, _spoil_unit(meta_bytes))
    assert bad_meta.status_code == 422 and bad_meta.headers["Content-Type"] == "application/problem+json"
    assert bad_meta.json["errors"]["metadata"]["columns"]["energy_gev"]["unit"][0].startswith("'GeVV' is not a VOUnit string")
    assert "metadata.columns.energy_gev.unit: 'GeVV' is not a VOUnit string" in bad_meta.json["detail"]

    lines = csv_bytes.decode().split("\r\n")
    lines[0] = lines[0].replace("likelihood,", "")  # an undescribed table: the header lacks a described column
    bad_rows = publish(client, "\r\n".join(lines).encode(), meta_bytes)
    assert bad_rows.status_code == 422
    assert "CSV header (line 1): column 'likelihood' is described by the metadata but missing" in bad_rows.json["errors"]["table"]

    missing_part = client.post(url(app, "events.Tables"), headers=AUTH, content_type="multipart/form-data",
                               data={"table": (io.BytesIO(csv_bytes), "events.csv")})
    assert missing_part.status_code == 422 and "metadata" in missing_part.json["errors"]["files"]
    assert count(app, store.event_tables) == 0 and count(app, registry.resources) == 0


def test_table_without_sky_positions_has_no_cone_search(app, client, small_table):
    columns = tuple(c for c in small_table.metadata.columns if c.name not in ("ra_deg", "dec_deg"))
    metadata = dataclasses.replace(small_table.metadata, id="muons_only", columns=columns)
    table = EventTable(metadata, {c.name: small_table.data[c.name] for c in columns})
    created = publish(client, *files_of(table))
    assert created.status_code == 201 and created.json["cone_search"] is None and "scs" not in created.json["links"]
    assert created.json["resources"] == ["events20_01_csv_muons_only", "events20_01_hdf5_muons_only", "events20_01_votable_muons_only"]
    answer = client.get(url(app, "events.Scs", table_id="muons_only", RA=1, DEC=2, SR=3))
    assert answer.status_code == 404 and answer.headers["Content-Type"] == "text/xml;content=x-votable"
    error = parse(io.BytesIO(answer.data), verify="exception").infos[0]
    assert (error.name, error.value) == ("Error", "Event table 'muons_only' has no sky positions; it offers no cone search.")


def test_cone_search_answers_votables_and_errors_as_votables(app, client, small_table):
    publish(client, *files_of(small_table))
    ra, dec = float(small_table.data["ra_deg"][0]), float(small_table.data["dec_deg"][0])
    found = client.get(url(app, "events.Scs", table_id="small_2023", RA=ra, DEC=dec, SR=1, VERB=3, FORMAT="ignored"))
    assert found.status_code == 200 and found.headers["Content-Type"] == "text/xml;content=x-votable"
    rows = parse(io.BytesIO(found.data), verify="exception").get_first_table().to_table()
    assert rows["event_id"][0] == small_table.data["event_id"][0] and rows["_r"][0] == 0.0
    assert len(rows.colnames) == len(small_table.metadata.columns) + 1
    invalid = client.get(url(app, "events.Scs", table_id="small_2023", RA=ra, DEC=-95, SR=1))
    error = parse(io.BytesIO(invalid.data), verify="exception").infos[0]
    assert invalid.status_code == 200 and (error.name, error.value) == ("Error", "DEC=-95 must be between -90 and 90 degrees")
    unknown = client.get(url(app, "events.Scs", table_id="nothing_here", RA=1, DEC=2, SR=3))
    assert unknown.status_code == 404 and parse(io.BytesIO(unknown.data)).infos[0].value == "No event table 'nothing_here'."
    assert client.get(url(app, "events.Table", table_id="nothing_here")).json["detail"] == "No event table 'nothing_here'."
    bad_id = client.get(url(app, "events.Hdf5", table_id="bad.id"))
    assert bad_id.status_code == 404 and "table ids look like" in bad_id.json["detail"]  # refused by its form, not looked up


def test_tables_are_listed_by_id_in_pages(app, client, small_table):
    for table_id in ("c_table", "a_table", "b_table"):
        assert publish(client, *files_of(with_metadata(small_table, id=table_id))).status_code == 201
    first = client.get(url(app, "events.Tables", limit=2))
    assert [item["id"] for item in first.json["items"]] == ["a_table", "b_table"] and "metadata" not in first.json["items"][0]
    assert first.headers["Link"] == f'<{first.json["next"]}>; rel="next"'
    second = client.get(first.json["next"])
    assert [item["id"] for item in second.json["items"]] == ["c_table"] and second.json["next"] is None
    garbage = client.get(url(app, "events.Tables", cursor="garbage"))
    assert garbage.status_code == 400 and garbage.json["errors"] == {"query": {"cursor": ["Not a cursor issued by this service."]}}
    assert client.get(url(app, "events.Tables", sort="id")).json["errors"] == {"query": {"sort": ["Unknown field."]}}


def test_cli_publishes_the_shipped_sample_as_is(app, client, runner, settings, tmp_path):
    result = runner("events", "publish", str(SAMPLE_CSV), str(SAMPLE_META))
    assert result.exit_code == 0 and result.output.startswith(f"{events.TABLE_ID}: published; 3000 events; cone search: http://127.0.0.1:8000/")
    described = client.get(url(app, "events.Table", table_id=events.TABLE_ID)).json
    assert described["n_rows"] == 3000 and described["metadata"] == json.loads(SAMPLE_META.read_text())
    assert client.get(described["formats"]["csv"]["url"]).data == SAMPLE_CSV.read_bytes()

    result = runner("events", "publish", "--json", str(SAMPLE_CSV), str(SAMPLE_META))
    summary = result.json()
    assert result.exit_code == 0 and summary["status"] == "already published (identical), nothing changed"
    assert summary["id"] == events.TABLE_ID and summary["n_rows"] == 3000  # the table's identifier has one key: "id"
    assert summary["cone_search"] == settings.public_url + url(app, "events.Scs", table_id=events.TABLE_ID) + "?"

    bad = tmp_path / "bad.meta.json"
    bad.write_bytes(_spoil_unit(SAMPLE_META.read_bytes()))
    result = runner("events", "publish", str(SAMPLE_CSV), str(bad))
    assert result.exit_code == 2 and "  metadata.columns.energy_gev.unit: 'GeVV' is not a VOUnit string" in result.stderr
    result = runner("events", "publish", str(tmp_path / "none.csv"), str(SAMPLE_META))
    assert result.exit_code == 2 and "No such file or directory" in result.stderr


_LOADED_WEB_MODULES = """
import json, sys
from hydroserve.api.cli import main
status = main(sys.argv[1:])
web = sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "flask_smorest", "werkzeug") or m.startswith("hydroserve.api.web"))
print(json.dumps({"status": status, "web_modules": web}), file=sys.stderr)
"""


def test_cli_publish_loads_no_flask_and_no_web_layer(settings):
    """``hydroserve events publish`` runs on the event-table domain alone: no Flask, flask-smorest or api.web is imported."""
    run = subprocess.run([sys.executable, "-c", _LOADED_WEB_MODULES, "events", "publish", "--json", str(SAMPLE_CSV), str(SAMPLE_META)],
                         env=server_env(settings), capture_output=True, text=True, timeout=120)
    assert json.loads(run.stderr.splitlines()[-1]) == {"status": 0, "web_modules": []}, run.stderr
    assert json.loads(run.stdout)["id"] == events.TABLE_ID and json.loads(run.stdout)["status"] == "published"


def test_the_shipped_sample_is_what_the_generator_makes():
    table = publishing.read_input(SAMPLE_CSV.read_bytes(), SAMPLE_META.read_bytes(), max_rows=10_000)
    generated = events.generate()
    assert table.metadata == generated.metadata
    # numpy may change its random streams between versions: then regenerate with `python -m hydroserve.samples.events`
    assert csvtable.encode(generated) == SAMPLE_CSV.read_bytes(), "samples/events/ is stale: regenerate it"


def test_a_publish_that_fails_midway_leaves_nothing_visible(app, client, small_table, monkeypatch):
    def broken_register(*args, **kwargs):
        raise RuntimeError("registry down")

    monkeypatch.setattr(registration.registry, "register", broken_register)
    failed = publish(client, *files_of(small_table))
    assert failed.status_code == 500 and failed.json["detail"].startswith("The server failed to answer this request")
    assert client.get(url(app, "events.Tables")).json["items"] == []
    assert (count(app, store.event_tables), count(app, registry.resources), count(app, outbox.table)) == (0, 0, 0)
    assert client.get(url(app, "events.Table", table_id="small_2023")).status_code == 404
    monkeypatch.undo()
    assert publish(client, *files_of(small_table)).status_code == 201  # the blobs already written are simply rewritten
    assert client.get(url(app, "events.Table", table_id="small_2023")).json["n_rows"] == 120


def test_cone_search_description_follows_the_current_limits(settings, small_table):
    from hydroserve.api import wiring
    from hydroserve.api.app import create_app
    from hydroserve.api.config import load_settings, settings_env

    wiring.init_catalog(settings).dispose()
    assert publish(create_app(settings).test_client(), *files_of(small_table)).status_code == 201
    stricter = load_settings(env=settings_env(settings), events_scs_max_sr_deg=5, events_scs_max_records=10)
    client = create_app(stricter).test_client()
    cone = client.get(url(client, "events.Table", table_id="small_2023")).json["cone_search"]
    assert (cone["max_sr_deg"], cone["max_records"]) == (5, 10)
    refused = client.get(url(client, "events.Scs", table_id="small_2023", RA=0, DEC=0, SR=10))
    assert b"must be between 0 and 5" in refused.data
