"""VOEvent 2.0 packets and VOEvent Transport Protocol (VTP) replies: objects <-> XML bytes.

Pure functions built on lxml: every value goes into the tree as text or an
attribute and lxml escapes it, so no input can change the document's
structure. :func:`build` emits packets valid against the IVOA VOEvent 2.0
XML schema (``VOEvent-v2.0.xsd``); :func:`parse` reads back what
:func:`build` writes (``parse(build(p)) == p``).

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

VTP replies (``Transport`` documents with role ``ack``, ``nak``,
``iamalive`` ...) are parsed by :func:`parse_transport`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from . import sky
from .times import as_utc

VOEVENT_NS = "http://www.ivoa.net/xml/VOEvent/v2.0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{VOEVENT_NS} http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd"
MEDIA_TYPE = "application/xml"

ROLES = ("observation", "prediction", "utility", "test")
CITE_RELATIONS = ("followup", "supersedes", "retraction")
COORD_SYSTEM = "UTC-FK5-GEO"
OBSERVATORY_COORD_SYSTEM = "UTC-GEOD-TOPO"
OBSERVATORY_UNIT = "deg-deg-m"

# ivo://authority/resource-key#local-id (IVOA Identifiers 2.0; the local id is required for events)
IVORN_PATTERN = re.compile(r"ivo://[A-Za-z0-9][\w\-.~*'()]{2,}(/[\w\-.~*'()]+)+#[\w\-.~*'()+=/%!$&,;:@?]+")
# characters XML 1.0 cannot carry (C0 controls except tab, newline, carriage return; surrogates; U+FFFE/U+FFFF)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class VOEventError(ValueError):
    """A document that is not a VOEvent (or Transport message) this module can read."""


def check_text(value: str, what: str) -> str:
    """Return ``value`` if XML 1.0 can carry it; raise ValueError naming ``what`` otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    bad = _NOT_XML.search(value)
    if bad:
        raise ValueError(f"{what} contains the character U+{ord(bad.group()):04X}, which XML cannot carry")
    return value


def check_ivorn(ivorn: str, what: str = "ivorn") -> str:
    """Return ``ivorn`` if it is ``ivo://<authority>/<resource key>#<local id>``; raise ValueError otherwise."""
    if not isinstance(ivorn, str) or not IVORN_PATTERN.fullmatch(ivorn):
        raise ValueError(f"{what}={ivorn!r} must look like ivo://<authority>/<resource key>#<local id>")
    return ivorn


def check_ivorn_prefix(ivorn: str, what: str = "author_ivorn") -> str:
    """An IVORN without a local id (``ivo://<authority>/<resource key>``), e.g. an author's."""
    if not isinstance(ivorn, str) or not IVORN_PATTERN.fullmatch(ivorn + "#x"):
        raise ValueError(f"{what}={ivorn!r} must look like ivo://<authority>/<resource key>")
    return ivorn


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what}={value!r} must be a finite number")
    return float(value)


@dataclass(frozen=True)
class Param:
    """A typed ``What/Param``: ``dataType`` follows the Python type (str, int, float).

    Parameters
    ----------
    name : str
        Parameter name.
    value : str, int or float
        The value; ``bool`` is refused (VOEvent has no boolean type).
    unit : str, optional
        Unit of the value (e.g. ``deg``, ``GeV``, ``Hz``).
    ucd : str, optional
        IVOA Unified Content Descriptor (e.g. ``pos.eq.ra``).
    description : str, optional
        Human-readable meaning.
    """

    name: str
    value: str | int | float
    unit: str | None = None
    ucd: str | None = None
    description: str | None = None

    @property
    def data_type(self) -> str:
        if isinstance(self.value, bool):
            raise ValueError(f"Param {self.name!r}: VOEvent has no boolean dataType; give int 0/1 or a string")
        if isinstance(self.value, int):
            return "int"
        if isinstance(self.value, float):
            return "float"
        if isinstance(self.value, str):
            return "string"
        raise ValueError(f"Param {self.name!r}: value {self.value!r} must be str, int or float")


@dataclass(frozen=True)
class Group:
    """A named ``What/Group`` of params (at least one)."""

    name: str
    params: tuple[Param, ...]
    description: str | None = None


@dataclass(frozen=True)
class Who:
    """Publication metadata: the author's IVORN, the packet's date and the responsible organisation.

    ``date`` is the time the packet was authored (timezone-aware).
    """

    author_ivorn: str
    date: datetime
    title: str | None = None
    short_name: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None


@dataclass(frozen=True)
class Observatory:
    """Where the detector is: a name and a geodetic position (WGS84).

    Parameters
    ----------
    name : str
        Identifier of the site (``ObservatoryLocation/@id``).
    longitude_deg : float
        East longitude in degrees, ``[-180, 180]``.
    latitude_deg : float
        Geodetic latitude in degrees, ``[-90, 90]``.
    height_m : float
        Height above sea level in metres (negative under water).
    """

    name: str
    longitude_deg: float
    latitude_deg: float
    height_m: float


@dataclass(frozen=True)
class WhereWhen:
    """Space-time of the observation in ``UTC-FK5-GEO``.

    Parameters
    ----------
    time : datetime
        Event time (timezone-aware; written as UTC).
    ra_deg, dec_deg : float
        J2000 equatorial position in degrees.
    error_radius_deg : float
        Radius of the error circle in degrees, ``(0, 180]``.
    observatory : Observatory
        The detector's site.
    """

    time: datetime
    ra_deg: float
    dec_deg: float
    error_radius_deg: float
    observatory: Observatory


@dataclass(frozen=True)
class How:
    """How the data were obtained: descriptions and reference URIs."""

    descriptions: tuple[str, ...] = ()
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inference:
    """A ``Why/Inference``: a statement with its probability in ``[0, 1]``."""

    probability: float | None = None
    concept: str | None = None
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Why:
    """Scientific context: ``importance`` in ``[0, 1]`` and inferences."""

    importance: float | None = None
    inferences: tuple[Inference, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class Citation:
    """An earlier packet this one relates to: ``relation`` is followup, supersedes or retraction."""

    ivorn: str
    relation: str


@dataclass(frozen=True)
class Packet:
    """A VOEvent 2.0 packet (the parts hydroserve writes)."""

    ivorn: str
    role: str
    who: Who
    what: tuple[Param | Group, ...] = ()
    where_when: WhereWhen | None = None
    how: How | None = None
    why: Why | None = None
    citations: tuple[Citation, ...] = ()
    citations_description: str | None = None
    description: str | None = None


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


# ---------------------------------------------------------------- parsing


def _document(data: bytes, what: str) -> etree._Element:
    if not isinstance(data, bytes):
        raise VOEventError(f"{what} must be bytes, not {type(data).__name__}")
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as error:
        raise VOEventError(f"{what} is not well-formed XML: {error}") from None
    if any(isinstance(node, etree._Entity) for node in root.iter()):
        raise VOEventError(f"{what} uses XML entities, which are not accepted")
    return root


def _text(element: etree._Element | None) -> str | None:
    return None if element is None else (element.text or "")


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _param_value(element: etree._Element) -> Param:
    data_type = element.get("dataType", "string")
    raw = element.get("value")
    if raw is None:
        raw = _text(element.find("Value")) or ""
    try:
        value = {"string": str, "int": int, "float": float}[data_type](raw)
    except (KeyError, ValueError):
        raise VOEventError(f"Param {element.get('name')!r}: value {raw!r} is not of dataType {data_type!r}") from None
    return Param(element.get("name"), value, element.get("unit"), element.get("ucd"), _text(element.find("Description")))


def _datetime(text: str | None, what: str) -> datetime:
    if not text:
        raise VOEventError(f"{what} is missing")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise VOEventError(f"{what} {text!r} is not an ISO 8601 time") from None
    return as_utc(value)


def _float(element: etree._Element | None, what: str) -> float:
    try:
        return float(_text(element))
    except (TypeError, ValueError):
        raise VOEventError(f"{what} is missing or not a number") from None


def _parse_who(element: etree._Element | None) -> Who:
    if element is None:
        raise VOEventError("the packet has no Who")
    author = element.find("Author")

    def author_field(tag: str) -> str | None:
        return None if author is None else _text(author.find(tag))

    return Who(
        author_ivorn=_text(element.find("AuthorIVORN")),
        date=_datetime(_text(element.find("Date")), "Who/Date"),
        title=author_field("title"),
        short_name=author_field("shortName"),
        contact_name=author_field("contactName"),
        contact_email=author_field("contactEmail"),
    )


def _parse_where_when(element: etree._Element | None) -> WhereWhen | None:
    if element is None:
        return None
    observation = element.find("ObsDataLocation/ObservationLocation/AstroCoords")
    site = element.find("ObsDataLocation/ObservatoryLocation")
    if observation is None or site is None:
        raise VOEventError("WhereWhen lacks ObservationLocation/AstroCoords or ObservatoryLocation")
    position = observation.find("Position2D")
    site_value = site.find("AstroCoords/Position3D/Value3")
    return WhereWhen(
        time=_datetime(_text(observation.find("Time/TimeInstant/ISOTime")), "ISOTime"),
        ra_deg=_float(position.find("Value2/C1") if position is not None else None, "Position2D RA"),
        dec_deg=_float(position.find("Value2/C2") if position is not None else None, "Position2D Dec"),
        error_radius_deg=_float(position.find("Error2Radius") if position is not None else None, "Error2Radius"),
        observatory=Observatory(
            name=site.get("id"),
            longitude_deg=_float(None if site_value is None else site_value.find("C1"), "observatory longitude"),
            latitude_deg=_float(None if site_value is None else site_value.find("C2"), "observatory latitude"),
            height_m=_float(None if site_value is None else site_value.find("C3"), "observatory height"),
        ),
    )


def _optional_float(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise VOEventError(f"{what} {text!r} is not a number") from None


def _parse_why(element: etree._Element | None) -> Why | None:
    if element is None:
        return None
    inferences = tuple(
        Inference(
            probability=_optional_float(child.get("probability"), "Inference probability"),
            concept=_text(child.find("Concept")),
            name=_text(child.find("Name")),
            description=_text(child.find("Description")),
        )
        for child in element.findall("Inference")
    )
    return Why(_optional_float(element.get("importance"), "Why importance"), inferences, _text(element.find("Description")))


def parse(data: bytes) -> Packet:
    """Read a VOEvent 2.0 packet (as written by :func:`build`).

    Raises
    ------
    VOEventError
        If the bytes are not well-formed XML, not a VOEvent 2.0 root, or
        lack parts this reader needs (Who, a well-formed WhereWhen).
    """
    root = _document(data, "packet")
    if root.tag != f"{{{VOEVENT_NS}}}VOEvent" or root.get("version") != "2.0":
        raise VOEventError(f"the root element {root.tag!r} is not a VOEvent 2.0")
    what = root.find("What")
    items: list[Param | Group] = []
    for child in () if what is None else what:
        if child.tag == "Param":
            items.append(_param_value(child))
        elif child.tag == "Group":
            items.append(Group(child.get("name"), tuple(_param_value(p) for p in child.findall("Param")),
                               _text(child.find("Description"))))
    how = root.find("How")
    citations = root.find("Citations")
    return Packet(
        ivorn=root.get("ivorn"),
        role=root.get("role", "observation"),
        who=_parse_who(root.find("Who")),
        what=tuple(items),
        where_when=_parse_where_when(root.find("WhereWhen")),
        how=None if how is None else How(tuple(_text(d) for d in how.findall("Description")),
                                         tuple(r.get("uri") for r in how.findall("Reference"))),
        why=_parse_why(root.find("Why")),
        citations=() if citations is None else tuple(
            Citation(_text(e), e.get("cite")) for e in citations.findall("EventIVORN")),
        citations_description=None if citations is None else _text(citations.find("Description")),
        description=_text(root.find("Description")),
    )


def params(packet: Packet) -> dict[str, Param]:
    """Every param of the packet by name (params inside groups included)."""
    found: dict[str, Param] = {}
    for item in packet.what:
        for param in item.params if isinstance(item, Group) else (item,):
            found[param.name] = param
    return found


# ---------------------------------------------------------------- VTP transport messages


@dataclass(frozen=True)
class TransportMessage:
    """A VTP ``Transport`` message.

    ``role`` is ``ack``, ``nak``, ``iamalive`` or ``authenticate``;
    ``origin`` the IVORN the message is about (for ack/nak: the event's);
    ``response`` the IVORN of the responding broker; ``result`` the text of
    ``Meta/Result`` (a nak's reason), if any.
    """

    role: str
    origin: str | None
    response: str | None
    timestamp: str | None
    result: str | None


def parse_transport(data: bytes) -> TransportMessage:
    """Read a VTP Transport message (any Transport namespace version).

    Raises
    ------
    VOEventError
        If the bytes are not XML or the root element is not ``Transport``.
    """
    root = _document(data, "transport message")
    if _local(root) != "Transport":
        raise VOEventError(f"expected a Transport message, got a {_local(root)!r} element (role={root.get('role')!r})")
    children = {_local(child): child for child in root if isinstance(child.tag, str)}
    meta = children.get("Meta")
    results = [] if meta is None else [child for child in meta if isinstance(child.tag, str) and _local(child) == "Result"]
    return TransportMessage(
        role=root.get("role", ""),
        origin=_text(children.get("Origin")),
        response=_text(children.get("Response")),
        timestamp=_text(children.get("TimeStamp")),
        result=_text(results[0]) if results else None,
    )
