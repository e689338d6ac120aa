"""VOEvent 2.0 packets to XML bytes: :func:`build`.

Pure functions built on lxml: every value goes into the tree as text or an
attribute and lxml escapes it, so no input can change the document's
structure. :func:`build` emits packets valid against the IVOA VOEvent 2.0
XML schema (``VOEvent-v2.0.xsd``) and checks every value on the way
(:mod:`hydroserve.codecs.voevent_reader` reads them back).

Conventions of the packets:

* ``ivorn`` is ``ivo://<authority>/<resource key>#<local id>``.
* ``WhereWhen`` uses the coordinate system ``UTC-FK5-GEO``: ``ISOTime`` is
  UTC without a zone suffix, with microseconds (``2024-09-01T01:16:47.000000``);
  ``Position2D`` holds RA/Dec in deg and ``Error2Radius`` in deg. The
  observatory is given in ``UTC-GEOD-TOPO`` as a ``Position3D`` of longitude
  (deg, east positive), latitude (deg) and height above sea level (m),
  ``unit="deg-deg-m"``.
* ``What`` holds typed ``Param``s (``dataType`` is ``string``, ``float`` or
  ``int``; the schema allows no other; booleans must be given as int 0/1 or
  as strings) optionally in ``Group``s.
* ``Who/Date`` is an ``xs:dateTime`` in UTC with a ``Z`` suffix.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from lxml import etree

from . import sky
from .voevent import (
    CITE_RELATIONS,
    ROLES,
    VOEVENT_NS,
    Group,
    Packet,
    Param,
    WhereWhen,
    Who,
    Why,
    check_ivorn,
    check_ivorn_prefix,
)
from .xmltext import check_text

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{VOEVENT_NS} http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd"
COORD_SYSTEM = "UTC-FK5-GEO"
OBSERVATORY_COORD_SYSTEM = "UTC-GEOD-TOPO"
OBSERVATORY_UNIT = "deg-deg-m"


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what}={value!r} must be a finite number")
    return float(value)


def format_isotime(value: datetime) -> str:
    """``ISOTime`` text: UTC, microseconds, no zone suffix (the zone is the coordinate system's)."""
    return _utc(value, "time").strftime("%Y-%m-%dT%H:%M:%S.%f")


def format_datetime(value: datetime) -> str:
    """``xs:dateTime`` text in UTC with microseconds and a ``Z`` suffix."""
    return _utc(value, "date").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _number(value: float) -> str:
    """Shortest text that reads back as the same float (valid ``xs:float`` lexical form)."""
    return repr(float(value))


def _sub(parent: etree._Element, tag: str, text: str | None = None, what: str | None = None, **attrib: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    for key, value in attrib.items():
        if value is not None:
            element.set(key, check_text(value, f"{what or tag} attribute {key}"))
    if text is not None:
        element.text = check_text(text, what or tag)
    return element


def _param(parent: etree._Element, param: Param) -> None:
    check_text(param.name, "Param name")
    data_type = param.data_type
    if data_type == "float":
        value = _number(_finite(param.value, f"Param {param.name!r} value"))
    else:
        value = str(param.value)
    element = _sub(parent, "Param", what=f"Param {param.name!r}", name=param.name, ucd=param.ucd, value=value,
                   unit=param.unit, dataType=data_type)
    if param.description is not None:
        _sub(element, "Description", param.description, what=f"Param {param.name!r} description")


def _who(root: etree._Element, who: Who) -> None:
    element = _sub(root, "Who")
    _sub(element, "AuthorIVORN", check_ivorn_prefix(who.author_ivorn), what="author_ivorn")
    _sub(element, "Date", format_datetime(who.date))
    author_fields = (("title", who.title), ("shortName", who.short_name), ("contactName", who.contact_name),
                     ("contactEmail", who.contact_email))
    if any(value is not None for _, value in author_fields):
        author = _sub(element, "Author")
        for tag, value in author_fields:
            if value is not None:
                _sub(author, tag, value, what=f"Author {tag}")


def _where_when(root: etree._Element, where: WhereWhen) -> None:
    sky.check_equatorial(where.ra_deg, where.dec_deg)
    radius = _finite(where.error_radius_deg, "error_radius_deg")
    if not 0.0 < radius <= 180.0:
        raise ValueError(f"error_radius_deg={radius} must be in (0, 180] deg")
    site = where.observatory
    longitude, latitude = _finite(site.longitude_deg, "longitude_deg"), _finite(site.latitude_deg, "latitude_deg")
    if not (-180.0 <= longitude <= 180.0 and -90.0 <= latitude <= 90.0):
        raise ValueError(f"observatory {site.name!r}: longitude_deg={longitude} must be in [-180, 180], "
                         f"latitude_deg={latitude} in [-90, 90]")
    element = _sub(root, "WhereWhen")
    location = _sub(element, "ObsDataLocation")
    observatory = _sub(location, "ObservatoryLocation", id=site.name, what="observatory name")
    _sub(observatory, "AstroCoordSystem", id=OBSERVATORY_COORD_SYSTEM)
    site_coords = _sub(observatory, "AstroCoords", coord_system_id=OBSERVATORY_COORD_SYSTEM)
    position3 = _sub(site_coords, "Position3D", unit=OBSERVATORY_UNIT)
    _sub(position3, "Name1", "longitude")
    _sub(position3, "Name2", "latitude")
    _sub(position3, "Name3", "height")
    value3 = _sub(position3, "Value3")
    _sub(value3, "C1", _number(longitude))
    _sub(value3, "C2", _number(latitude))
    _sub(value3, "C3", _number(_finite(site.height_m, "height_m")))
    observation = _sub(location, "ObservationLocation")
    _sub(observation, "AstroCoordSystem", id=COORD_SYSTEM)
    coords = _sub(observation, "AstroCoords", coord_system_id=COORD_SYSTEM)
    time = _sub(coords, "Time", unit="s")
    instant = _sub(time, "TimeInstant")
    _sub(instant, "ISOTime", format_isotime(where.time))
    position = _sub(coords, "Position2D", unit="deg")
    _sub(position, "Name1", "RA")
    _sub(position, "Name2", "Dec")
    value2 = _sub(position, "Value2")
    _sub(value2, "C1", _number(where.ra_deg))
    _sub(value2, "C2", _number(where.dec_deg))
    _sub(position, "Error2Radius", _number(radius))


def _probability(value: float | None, what: str) -> str | None:
    if value is None:
        return None
    number = _finite(value, what)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{what}={number} must be in [0, 1]")
    return _number(number)


def _why(root: etree._Element, why: Why) -> None:
    element = _sub(root, "Why", importance=_probability(why.importance, "importance"))
    for inference in why.inferences:
        child = _sub(element, "Inference", probability=_probability(inference.probability, "inference probability"))
        for tag, value in (("Name", inference.name), ("Concept", inference.concept), ("Description", inference.description)):
            if value is not None:
                _sub(child, tag, value, what=f"Inference {tag}")
    if why.description is not None:
        _sub(element, "Description", why.description, what="Why description")


def build(packet: Packet) -> bytes:
    """Serialise a packet as UTF-8 XML bytes (with declaration).

    Raises
    ------
    ValueError
        Naming the offending part: a malformed IVORN, an unknown role or
        citation relation, a non-finite or out-of-range number, a naive
        datetime, a boolean param value, or text XML cannot carry.
    """
    check_ivorn(packet.ivorn)
    if packet.role not in ROLES:
        raise ValueError(f"role={packet.role!r} must be one of {ROLES}")
    root = etree.Element(f"{{{VOEVENT_NS}}}VOEvent", nsmap={"voe": VOEVENT_NS, "xsi": XSI_NS})
    root.set("ivorn", packet.ivorn)
    root.set("role", packet.role)
    root.set("version", "2.0")
    root.set(f"{{{XSI_NS}}}schemaLocation", SCHEMA_LOCATION)
    _who(root, packet.who)
    if packet.what:
        what = _sub(root, "What")
        for item in packet.what:
            if isinstance(item, Group):
                if not item.params:
                    raise ValueError(f"Group {item.name!r} needs at least one Param")
                group = _sub(what, "Group", name=item.name, what="Group name")
                for param in item.params:
                    _param(group, param)
                if item.description is not None:
                    _sub(group, "Description", item.description, what=f"Group {item.name!r} description")
            else:
                _param(what, item)
    if packet.where_when is not None:
        _where_when(root, packet.where_when)
    if packet.how is not None:
        how = _sub(root, "How")
        for text in packet.how.descriptions:
            _sub(how, "Description", text, what="How description")
        for uri in packet.how.references:
            _sub(how, "Reference", uri=uri, what="How reference")
    if packet.why is not None:
        _why(root, packet.why)
    if packet.citations:
        citations = _sub(root, "Citations")
        for citation in packet.citations:
            if citation.relation not in CITE_RELATIONS:
                raise ValueError(f"citation relation {citation.relation!r} must be one of {CITE_RELATIONS}")
            _sub(citations, "EventIVORN", check_ivorn(citation.ivorn, "cited ivorn"), cite=citation.relation)
        if packet.citations_description is not None:
            _sub(citations, "Description", packet.citations_description, what="Citations description")
    elif packet.citations_description is not None:
        raise ValueError("citations_description needs at least one citation")
    if packet.description is not None:
        _sub(root, "Description", packet.description, what="description")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
