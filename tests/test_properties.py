"""Property-based tests (hypothesis): the raw codec and every query parser take any input without crashing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from marshmallow import ValidationError

from hydroserve.api.web import cursor
from hydroserve.codecs import raw, tokens

FRAME_LENGTH = 16  # small frames: many frames per example
FRAME_BYTES = raw.frame_bytes(FRAME_LENGTH)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(data=st.binary(max_size=5 * FRAME_BYTES), complete=st.booleans(), previous=st.none() | st.integers(0, 2**40))
def test_decode_never_raises_and_returns_only_valid_frames(data, complete, previous):
    frames = raw.decode(data, frame_length=FRAME_LENGTH, source="fuzz.bin", complete=complete, previous_start_tick=previous)
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
    frames = raw.decode(raw.encode(starts, samples), frame_length=FRAME_LENGTH, source="x")
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


@FAST
@given(values=st.tuples(st.integers(), st.text(), st.text()))
def test_cursors_round_trip(values):
    assert cursor.decode(tokens.encode(list(values)), (int, str, str)) == list(values)
    with pytest.raises(ValidationError):
        cursor.decode(tokens.encode(list(values)), (str, str, str))


QUERY_VALUES = st.one_of(
    st.text(max_size=40), st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True).map(str),
    st.sampled_from(["", "2020-12-23T19:28:00Z", "2020-12-23", "DOM_808956920_CH1", "oai_dc", "ListRecords",
                     "0,0,1", "1e309", "-0", "null", "../..", "%00", "newest"]),
)
QUERY_NAMES = st.sampled_from([
    "sensor", "start", "end", "order", "limit", "cursor", "fmin", "fmax", "nfft", "since", "until", "stream", "role",
    "detector", "cone", "event", "latest", "alert_type", "RA", "DEC", "SR", "VERB", "MAXREC", "verb", "metadataPrefix",
    "from", "set", "identifier", "resumptionToken", "xscale", "colour",
])
QUERIES = st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=6)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    from hydroserve.api import wiring
    from hydroserve.api.app import create_app
    from hydroserve.api.config import load_settings
    from hydroserve.api.demo import publish_samples

    settings = load_settings(env={}, data_dir=str(tmp_path_factory.mktemp("fuzz")))
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
