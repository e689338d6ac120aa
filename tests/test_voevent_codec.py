"""VOEvent 2.0 codec: schema-valid packets, exact round trip, escaping, refusals naming the part; VTP replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from comet.protocol import messages as comet_messages
from lxml import etree

from alert_support import assert_xsd_valid
from hydroserve.codecs import voevent, voevent_reader, voevent_writer
from hydroserve.codecs.voevent import Citation, Group, Inference, Param

IVORN = "ivo://km3net.org/alerts#E-1_r2"
SITE = voevent.Observatory("ARCA", 16.1, 36.2667, -3500.0)
HOSTILE = 'x</Param><Param name="evil" value="1"/>&amp;<![CDATA[y]]>"\'\r\n\t\u00e9\u2603'


def packet(**changes) -> voevent.Packet:
    base = dict(
        ivorn=IVORN,
        role="observation",
        who=voevent.Who("ivo://km3net.org/alerts", datetime(2025, 1, 14, 3, 12, 9, 500000, tzinfo=UTC),
                        "KM3NeT Collaboration", "KM3NeT", "Alert desk", "alerts@example.org"),
        what=(Param("event_id", "E-1", ucd="meta.id"), Param("record_number", 2, ucd="meta.number"),
              Param("src_error_50", 0.7, "deg", "stat.error;pos.eq", "50 % radius"), Param("far", 3.2e-08, "Hz"),
              Group("trigger_types", (Param("trigger", "JTRIGGER3DMUON"),), "triggers")),
        where_when=voevent.WhereWhen(datetime(2025, 1, 14, 3, 11, 58, 337512, tzinfo=UTC), 231.2, -12.8, 1.6, SITE),
        how=voevent.How(("online selection",), ("https://example.org/doc?a=1&b=2",)),
        why=voevent.Why(0.31, (Inference(0.97, "neutrino candidate", description="is a neutrino"),)),
        citations=(Citation("ivo://km3net.org/alerts#E-1_r1", "supersedes"),),
        citations_description="Update of E-1_r1",
        description="free text",
    )
    base.update(changes)
    return voevent.Packet(**base)


def test_packet_is_schema_valid_and_reads_back_identically():
    data = voevent_writer.build(packet())
    assert_xsd_valid(data)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert voevent_reader.parse(data) == packet()


def test_where_when_carries_utc_time_position_90_percent_radius_and_site():
    eastern = timezone(timedelta(hours=-5))
    local = datetime(2025, 1, 13, 22, 11, 58, 337512, tzinfo=eastern)  # 03:11:58.337512 UTC
    data = voevent_writer.build(packet(where_when=voevent.WhereWhen(local, 0.0, -90.0, 180.0, SITE)))
    assert_xsd_valid(data)
    root = etree.fromstring(data)
    coords = root.find("WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords")
    assert coords.get("coord_system_id") == "UTC-FK5-GEO"
    assert coords.findtext("Time/TimeInstant/ISOTime") == "2025-01-14T03:11:58.337512"
    assert [coords.findtext(f"Position2D/{p}") for p in ("Value2/C1", "Value2/C2", "Error2Radius")] == ["0.0", "-90.0", "180.0"]
    assert coords.find("Position2D").get("unit") == "deg"
    site = root.find("WhereWhen/ObsDataLocation/ObservatoryLocation")
    assert site.get("id") == "ARCA"
    assert [site.findtext(f"AstroCoords/Position3D/Value3/C{i}") for i in (1, 2, 3)] == ["16.1", "36.2667", "-3500.0"]


def test_params_are_typed_string_float_int_only():
    root = etree.fromstring(voevent_writer.build(packet()))
    types = {p.get("name"): (p.get("dataType"), p.get("value"), p.get("unit")) for p in root.iter("Param")}
    assert types == {
        "event_id": ("string", "E-1", None),
        "record_number": ("int", "2", None),
        "src_error_50": ("float", "0.7", "deg"),
        "far": ("float", "3.2e-08", "Hz"),
        "trigger": ("string", "JTRIGGER3DMUON", None),
    }
    with pytest.raises(ValueError, match="'flag'.*no boolean dataType"):
        voevent_writer.build(packet(what=(Param("flag", True),)))


def test_hostile_text_is_escaped_everywhere_and_reads_back_unchanged():
    hostile = packet(
        what=(Param(HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE),),
        who=voevent.Who("ivo://km3net.org/alerts", datetime(2025, 1, 1, tzinfo=UTC), HOSTILE, contact_email=HOSTILE),
        how=voevent.How((HOSTILE,)),
        description=HOSTILE,
    )
    data = voevent_writer.build(hostile)
    assert_xsd_valid(data)
    root = etree.fromstring(data)
    assert [p.get("name") for p in root.iter("Param")] == [HOSTILE]  # no injected element
    assert b"<![CDATA[" not in data and b'<Param name="evil"' not in data
    assert voevent_reader.parse(data) == hostile


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ivorn": "ivo://km3net.org/alerts"}, "ivorn="),
        ({"ivorn": "http://km3net.org/alerts#x"}, "ivorn="),
        ({"role": "retraction"}, "role="),
        ({"description": "bell \x07"}, "description contains the character U\\+0007"),
        ({"what": (Param("x", float("nan")),)}, "Param 'x' value"),
        ({"what": (Param("x", [1, 2]),)}, "must be str, int or float"),
        ({"what": (Group("empty", ()),)}, "at least one Param"),
        ({"citations": (Citation(IVORN, "answers"),)}, "relation 'answers'"),
        ({"why": voevent.Why(1.5)}, "importance=1.5"),
        ({"who": voevent.Who("ivo://km3net.org/alerts", datetime(2025, 1, 1))}, "timezone-aware"),
        ({"where_when": voevent.WhereWhen(datetime(2025, 1, 1, tzinfo=UTC), 360.0, 0.0, 1.0, SITE)}, "ra_deg=360.0"),
        ({"where_when": voevent.WhereWhen(datetime(2025, 1, 1, tzinfo=UTC), 1.0, 0.0, 0.0, SITE)}, "error_radius_deg=0.0"),
    ],
)
def test_invalid_parts_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        voevent_writer.build(packet(**changes))


def test_parse_refuses_what_is_not_a_voevent():
    with pytest.raises(voevent_reader.VOEventError, match="not well-formed"):
        voevent_reader.parse(b"<VOEvent")
    with pytest.raises(voevent_reader.VOEventError, match="not a VOEvent 2.0"):
        voevent_reader.parse(b"<VOEvent version='2.0'/>")
    entity = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>'
    with pytest.raises(voevent_reader.VOEventError, match="entities"):
        voevent_reader.parse(entity)


def test_transport_ack_and_nak_as_comet_writes_them():
    ack = voevent_reader.parse_transport(comet_messages.ack("ivo://test/broker", IVORN).raw_bytes)
    assert (ack.role, ack.origin, ack.response, ack.result) == ("ack", IVORN, "ivo://test/broker", None)
    nak = voevent_reader.parse_transport(comet_messages.nak("ivo://test/broker", IVORN, "Event rejected: <seen>").raw_bytes)
    assert (nak.role, nak.origin, nak.result) == ("nak", IVORN, "Event rejected: <seen>")
    with pytest.raises(voevent_reader.VOEventError, match="expected a Transport message"):
        voevent_reader.parse_transport(voevent_writer.build(packet()))
