"""Property-based tests (hypothesis): the raw codec, every query parser, cursors and resumption tokens of any shape,
any JSON body and any event-table cell are taken without crashing: an answer or a clear client error."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from marshmallow import ValidationError

from hydroserve.api.web import cursor
from hydroserve.codecs import csvtable, raw, raw_decoder, tokens
from hydroserve.codecs.tables import TableError
from hydroserve.samples import events as samples

FRAME_LENGTH = 16  # small frames: many frames per example
FRAME_BYTES = raw.frame_bytes(FRAME_LENGTH)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(data=st.binary(max_size=5 * FRAME_BYTES), complete=st.booleans(), previous=st.none() | st.integers(0, 2**40))
def test_decode_never_raises_and_returns_only_valid_frames(data, complete, previous):
    frames = raw_decoder.decode(data, frame_length=FRAME_LENGTH, source="fuzz.bin", complete=complete, previous_start_tick=previous)
    assert frames.consumed_bytes <= len(data) and frames.consumed_bytes % FRAME_BYTES == 0
    starts = frames.start_ticks
    assert np.all(np.diff(starts) > 0) and (previous is None or not len(starts) or starts[0] > previous)
    assert np.all(frames.records["cycles_16ns"] < raw.TICKS_PER_SECOND)
    for row, length in zip(frames.samples, frames.valid_lengths):
        assert np.isfinite(row[:length]).all() and np.isnan(row[length:]).all() and length >= 1
    for issue in frames.issues:
        assert issue.offset is not None and 0 <= issue.offset <= len(data) and "fuzz.bin at byte" in str(issue)


@FAST
@given(
    gaps=st.lists(st.integers(1, 10**9), min_size=1, max_size=6),
    values=st.data(),
)
def test_encode_then_decode_gives_back_the_frames(gaps, values):
    starts = 10**15 + np.cumsum(gaps, dtype=np.int64)
    samples = np.array(
        values.draw(st.lists(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=FRAME_LENGTH,
                                      max_size=FRAME_LENGTH), min_size=len(gaps), max_size=len(gaps))),
        dtype=np.float32,
    )
    frames = raw_decoder.decode(raw.encode(starts, samples), frame_length=FRAME_LENGTH, source="x")
    assert frames.issues == () and list(frames.start_ticks) == list(starts)
    np.testing.assert_array_equal(frames.samples, samples)


@FAST
@given(text=st.text(max_size=300))
def test_cursor_decoding_of_any_text_gives_its_types_or_a_validation_error(text):
    try:
        values = cursor.decode(text, (int, str, str))
    except ValidationError as error:
        assert error.messages == ["Not a cursor issued by this service."]
    else:
        assert [type(v) for v in values] == [int, str, str]


INT64 = st.integers(tokens.INT64_MIN, tokens.INT64_MAX)
UNICODE_TEXT = st.text(st.characters(exclude_categories=["Cs"]))  # lone surrogates are no Unicode text


@FAST
@given(values=st.tuples(INT64, UNICODE_TEXT, UNICODE_TEXT))
def test_cursors_round_trip(values):
    assert cursor.decode(tokens.encode(list(values)), (int, str, str)) == list(values)
    with pytest.raises(ValidationError):
        cursor.decode(tokens.encode(list(values)), (str, str, str))


@FAST
@given(values=st.tuples(st.integers().filter(lambda n: not tokens.INT64_MIN <= n <= tokens.INT64_MAX), st.text(), st.text())
       | st.tuples(INT64, st.characters(categories=["Cs"]).map(lambda c: f"x{c}y"), st.text()))
def test_cursors_holding_what_no_page_writes_are_refused(values):
    # an integer beyond int64 would overflow the catalog's columns; a lone surrogate cannot be encoded for a query
    with pytest.raises(ValidationError):
        cursor.decode(tokens.encode(list(values)), (int, str, str))


ZONED_TIMES = st.builds(
    lambda moment, minutes: moment.isoformat() + ("Z" if minutes == 0 else f"{minutes // 60:+03d}:{abs(minutes) % 60:02d}"),
    st.datetimes(), st.integers(-14 * 60, 14 * 60),
)  # any calendar time at any UTC offset, up to the year boundaries (0001-01-01T00:00:00+14:00 has no UTC equivalent)
TOKEN_VALUES = st.one_of(st.integers(), st.text(), ZONED_TIMES, st.sampled_from(["ListRecords", "oai_dc", "newest", "oldest"]))
TOKENS = st.lists(TOKEN_VALUES, max_size=9).map(tokens.encode)  # tokens of any shape: page cursors, resumption tokens
QUERY_VALUES = st.one_of(
    st.text(max_size=40), st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True).map(str), ZONED_TIMES, TOKENS,
    st.sampled_from(["", "2020-12-23T19:28:00Z", "2020-12-23", "DOM_808956920_CH1", "oai_dc", "ListRecords",
                     "0,0,1", "1e309", "-0", "null", "../..", "%00", "newest", "9" * 5000]),
)
QUERY_NAMES = st.sampled_from([
    "sensor", "start", "end", "order", "limit", "cursor", "fmin", "fmax", "nfft", "since", "until", "stream", "role",
    "detector", "cone", "event", "latest", "alert_type", "RA", "DEC", "SR", "VERB", "MAXREC", "verb", "metadataPrefix",
    "from", "set", "identifier", "resumptionToken", "xscale", "colour",
])
QUERIES = st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=6)


FUZZ_TOKEN = "fuzz-token"


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    from hydroserve.api import wiring
    from hydroserve.api.app import create_app
    from hydroserve.api.config import load_settings
    from hydroserve.api.demo import publish_samples

    settings = load_settings(env={}, data_dir=str(tmp_path_factory.mktemp("fuzz")), api_tokens=FUZZ_TOKEN)
    publish_samples(settings, wiring.init_catalog(settings))  # a table with a cone search, an alert
    return create_app(settings).test_client()


@pytest.mark.parametrize("path", [
    "/api/v1/packages", "/api/v1/sensors", "/api/v1/packages/DOM_808956920_CH1_1608751680/psd", "/api/v1/resources",
    "/api/v1/streams/acoustic20_01_psd", "/api/v1/alerts", "/api/v1/events/tables",
])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES)
def test_query_parsers_answer_with_a_result_or_a_clear_client_error(fuzz_client, path, query):
    response = fuzz_client.get(path, query_string=query)
    assert response.status_code in (200, 400, 404, 406), response.data[:300]
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json" and response.json["detail"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES)
def test_oai_answers_every_request_with_oai_pmh_xml(fuzz_client, query):
    response = fuzz_client.get("/oai", query_string=query)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = etree.fromstring(response.data)
    assert root.tag == "{http://www.openarchives.org/OAI/2.0/}OAI-PMH"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES)
def test_cone_search_answers_every_query_with_a_votable(fuzz_client, query):
    # IVOA SCS 1.03: results, or a VOTable whose INFO name="Error" says what is wrong, with HTTP 200
    response = fuzz_client.get("/api/v1/events/tables/synthetic_arca_2023/scs", query_string=query)
    assert response.status_code == 200 and b"<VOTABLE" in response.data[:600]
    names = {name for name, _ in query}
    if not {"RA", "DEC", "SR"} <= names:
        assert b'name="Error"' in response.data


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON_BODIES = st.one_of(
    st.integers(1, 200_000).map(nested_json),
    st.integers(4301, 20_000).map(lambda digits: '{"ra": ' + "7" * digits + "}"),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                 lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
                 max_leaves=20).map(json.dumps),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON_BODIES)
def test_any_json_body_of_an_alert_post_is_an_answer_or_a_client_error(fuzz_client, body):
    response = fuzz_client.post("/api/v1/alerts", data=body, headers={"Authorization": f"Bearer {FUZZ_TOKEN}",
                                                                      "Content-Type": "application/json"})
    assert response.status_code in (200, 201, 400, 409, 422), response.data[:300]
    assert response.status_code < 300 or response.mimetype == "application/problem+json"


TEXT_CELLS = st.text(st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cell=TEXT_CELLS, energy=st.one_of(st.floats().map(repr), st.integers().map(str), st.text(max_size=12),
                                         st.integers(4301, 6000).map(lambda n: "9" * n)))
def test_any_event_table_cells_are_published_unchanged_or_refused_naming_the_line(cell, energy):
    # a published text cell comes back exactly; anything else is a TableError naming line and column (never a crash)
    table = samples.generate(2, seed=3, table_id="fuzz_2023")
    rows = csvtable.encode(table).decode().split("\r\n")
    header = rows[0].split(",")
    cells = next(csv.reader([rows[1]]))
    cells[header.index("classification")], cells[header.index("n_hits")] = cell, energy
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    rows[1] = out.getvalue().rstrip("\r\n")
    try:
        decoded = csvtable.decode("\r\n".join(rows).encode(), table.metadata)
    except TableError as error:
        assert all(re.match(r"line \d+", problem) for problem in error.problems), error.problems
    else:
        assert decoded.data["classification"][0] == cell
