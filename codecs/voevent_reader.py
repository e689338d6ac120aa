"""XML bytes to VOEvent 2.0 packets and VOEvent Transport Protocol (VTP) replies: :func:`parse`, :func:`parse_transport`.

:func:`parse` reads back what :func:`hydroserve.codecs.voevent_writer.build`
writes (``parse(build(p)) == p``). VTP replies (``Transport`` documents with
role ``ack``, ``nak``, ``iamalive`` ...) are read by :func:`parse_transport`.
The parser resolves no entities and fetches nothing from the network;
documents using entities are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from .times import as_utc
from .voevent import VOEVENT_NS, Citation, Group, How, Inference, Observatory, Packet, Param, WhereWhen, Who, Why

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class VOEventError(ValueError):
    """A document that is not a VOEvent (or Transport message) this module can read."""


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
