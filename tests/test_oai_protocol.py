"""The OAI-PMH protocol of odc_sync without Flask: resumption tokens, argument rules, paging over a small registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree
from sqlalchemy import create_engine

from hydroserve.codecs import tokens
from hydroserve.odc_sync import oai, registry

OAI = "{http://www.openarchives.org/OAI/2.0/}"
OAI_DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
KIDS = [f"c_s_{i}" for i in range(5)]


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.metadata.create_all(engine)
    with engine.begin() as conn:
        registry.ensure_collection(conn, registry.Collection("c", "C", "a collection"))
        registry.ensure_stream(conn, registry.Stream("c_s", "c", "test.thing", "S", "a stream", "audio/wav"))
    for kid in KIDS:  # one transaction each: five distinct modification times, in kid order
        with engine.begin() as conn:
            registry.register(conn, [registry.Resource(kid, "c_s", "test.thing", f"title {kid}", "d", "audio/wav",
                                                       f"https://x.org/{kid}")], destinations=())
    return engine


def repository(page_size: int = 2) -> oai.Repository:
    return oai.Repository(repository_id="repo.test", base_url="https://x.org/oai", admin_email="a@x.org",
                          page_size=page_size, stream_url=lambda kid: f"https://x.org/streams/{kid}")


def ask(engine, **arguments) -> etree._Element:
    return etree.fromstring(oai.answer(engine, repository(), arguments, now=NOW))


def errors(root) -> list[str]:
    return [e.get("code") for e in root.iter(f"{OAI}error")]


def test_a_resumption_token_round_trips():
    since = datetime(2020, 1, 1, tzinfo=UTC)
    harvest = oai.Harvest("ListRecords", "oai_dc", "c_s", since, None, None, 4)
    last = registry.Resource("c_s_3", "c_s", "t", "t", "d", "audio/wav", "u", modified=datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC))
    token = harvest.next_token(last, 2)
    assert tokens.decode(token, oai.TOKEN_TYPES) == ["ListRecords", "oai_dc", "c_s", "2020-01-01T00:00:00+00:00", "",
                                                     "2026-01-01T00:00:00.000005+00:00", "c_s_3", 6]
    assert oai.Harvest.from_token(token, "ListRecords") == oai.Harvest(
        "ListRecords", "oai_dc", "c_s", since, None, (last.modified, "c_s_3"), 6)


@pytest.mark.parametrize("token, message", [
    ("bogus", "not one this repository issued"),
    (tokens.encode(["ListRecords", "oai_dc", "", "", "", "yesterday", "k", 1]), "not one this repository issued"),
    (tokens.encode(["ListRecords", "oai_dc", "", "", "", "2026-01-01T00:00:00", "k", 1]), "not one this repository issued"),
    (tokens.encode(["ListRecords", "oai_dc", "", "", "", "2026-01-01T00:00:00+00:00", "k", True]), "not one this repository issued"),
    (tokens.encode(["ListIdentifiers", "oai_dc", "", "", "", "2026-01-01T00:00:00+00:00", "k", 1]), "belongs to ListIdentifiers"),
])
def test_a_token_not_issued_for_this_verb_is_a_bad_resumption_token(token, message):
    with pytest.raises(oai.OaiError, match=message) as raised:
        oai.Harvest.from_token(token, "ListRecords")
    assert raised.value.code == "badResumptionToken"


@pytest.mark.parametrize("text, end, expected", [
    ("2020-01-01", False, (datetime(2020, 1, 1, tzinfo=UTC), "day")),
    ("2020-01-01", True, (datetime(2020, 1, 2, tzinfo=UTC), "day")),
    ("2020-01-01T10:00:59Z", False, (datetime(2020, 1, 1, 10, 0, 59, tzinfo=UTC), "seconds")),
    ("2020-01-01T10:00:59Z", True, (datetime(2020, 1, 1, 10, 1, tzinfo=UTC), "seconds")),
])
def test_datestamps_are_days_or_seconds_and_until_is_exclusive(text, end, expected):
    assert oai.parse_datestamp(text, end=end) == expected


@pytest.mark.parametrize("text", ["2020-13-01", "2020-01-01T10:00:59", "2020-01-01T10:00:59+00:00", "yesterday", ""])
def test_other_datestamps_are_bad_arguments(text):
    with pytest.raises(oai.OaiError, match="is not a UTC datestamp") as raised:
        oai.parse_datestamp(text, end=False)
    assert raised.value.code == "badArgument"


def test_argument_rules_name_every_problem():
    assert oai.argument_problems("ListRecords", {"verb": "ListRecords", "metadataPrefix": "oai_dc"}, []) == []
    assert oai.argument_problems("ListRecords", {"verb": "ListRecords", "resumptionToken": "t"}, []) == []
    assert oai.argument_problems("Identify", {"verb": "Identify", "set": "x", "from": "y"}, ["set"]) == [
        "repeated argument(s): set", "illegal argument(s) for Identify: from, set"]
    assert oai.argument_problems("GetRecord", {"verb": "GetRecord"}, []) == [
        "missing argument(s): identifier, metadataPrefix"]


@pytest.mark.parametrize("arguments, code, message", [
    ({}, "badVerb", "the verb argument is missing"),
    ({"verb": "Dance"}, "badVerb", "'Dance' is not an OAI-PMH verb"),
    ({"verb": "ListRecords"}, "badArgument", "missing argument(s): metadataPrefix"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "t"}, "badArgument",
     "resumptionToken is an exclusive argument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-01-01", "until": "2020-01-02T00:00:00Z"},
     "badArgument", "from and until must have the same granularity"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-01-03", "until": "2020-01-01"},
     "badArgument", "from is later than until"),
])
def test_bad_arguments_are_error_elements_without_the_request_echoed(engine, arguments, code, message):
    root = ask(engine, **arguments)
    assert errors(root) == [code] and root.find(f"{OAI}error").text == message
    assert dict(root.find(f"{OAI}request").attrib) == {}
    assert root.find(f"{OAI}responseDate").text == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize("arguments, code", [
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "nope"}, "noRecordsMatch"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2999-01-01"}, "noRecordsMatch"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:elsewhere:c_s_0"}, "idDoesNotExist"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:repo.test:c_s_9"}, "idDoesNotExist"),
    ({"verb": "ListSets", "resumptionToken": "t"}, "badResumptionToken"),
])
def test_other_errors_echo_the_request(engine, arguments, code):
    root = ask(engine, **arguments)
    assert errors(root) == [code]
    assert dict(root.find(f"{OAI}request").attrib) == arguments


def test_pages_follow_their_tokens_to_every_record_once(engine):
    seen, positions, arguments = [], [], {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"}
    while True:
        root = ask(engine, **arguments)
        seen += [e.text for e in root.iter(f"{OAI}identifier")]
        token = root.find(f".//{OAI}resumptionToken")
        positions.append((token.get("cursor"), token.get("completeListSize")))
        if not token.text:
            break
        arguments = {"verb": "ListIdentifiers", "resumptionToken": token.text}
    assert seen == [f"oai:repo.test:{kid}" for kid in KIDS]
    assert positions == [("0", "5"), ("2", "5"), ("4", "5")]


def test_a_record_is_dublin_core_naming_its_stream(engine):
    root = ask(engine, verb="GetRecord", metadataPrefix="oai_dc", identifier="oai:repo.test:c_s_1")
    dc = [(etree.QName(e).localname, e.text) for e in root.find(f".//{OAI_DC}dc")]
    assert [element for element in dc if element[0] != "date"] == [
        ("title", "title c_s_1"), ("creator", "KM3NeT Collaboration"), ("subject", "test.thing"), ("description", "d"),
        ("publisher", "KM3NeT Collaboration"), ("type", "Sound"), ("format", "audio/wav"),
        ("identifier", "https://x.org/c_s_1"), ("identifier", "c_s_1"), ("relation", "https://x.org/streams/c_s"),
        ("rights", "CC-BY-4.0")]
    assert [e.text for e in root.iter(f"{OAI}setSpec")] == ["c_s"]
