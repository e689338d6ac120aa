"""OAI-PMH 2.0 response documents and Dublin Core records (lxml).

Pure building blocks: the protocol logic (argument checks, paging) lives
in :mod:`hydroserve.odc_sync.oai`; this module only turns values into the
XML of the OAI-PMH 2.0 specification (http://www.openarchives.org/OAI/2.0/).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lxml import etree

from .times import rfc3339

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
MEDIA_TYPE = "text/xml"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
DC_ELEMENTS = ("title", "creator", "subject", "description", "publisher", "contributor", "date", "type", "format",
               "identifier", "source", "language", "relation", "coverage", "rights")


def _q(name: str, ns: str = OAI_NS) -> str:
    return f"{{{ns}}}{name}"


def datestamp(value: datetime) -> str:
    """UTC datestamp at seconds granularity, e.g. ``2020-12-23T19:28:00Z``."""
    return rfc3339(value, "seconds")


def _sub(parent, name: str, text: str | None = None, ns: str = OAI_NS, **attributes):
    element = etree.SubElement(parent, _q(name, ns), {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def document(*, response_date: datetime, base_url: str, request_arguments: dict[str, str], body=None,
             errors: Iterable[tuple[str, str]] = ()) -> bytes:
    """A whole OAI-PMH response.

    Parameters
    ----------
    request_arguments : dict
        Echoed as attributes of ``<request>``, in the order of their names (the same bytes whichever order the
        caller's mapping has, e.g. a set's, which differs between processes); pass ``{}`` for badVerb/badArgument errors.
    body : lxml element, optional
        The verb's element (e.g. from :func:`identify`).
    errors : iterable of (code, message)
        OAI-PMH error conditions; when given, ``body`` is ignored.
    """
    root = etree.Element(_q("OAI-PMH"), nsmap={None: OAI_NS, "xsi": XSI_NS})
    root.set(_q("schemaLocation", XSI_NS), f"{OAI_NS} {OAI_SCHEMA}")
    _sub(root, "responseDate", datestamp(response_date))
    _sub(root, "request", base_url, **dict(sorted(request_arguments.items())))
    errors = list(errors)
    for code, message in errors:
        _sub(root, "error", message, code=code)
    if not errors and body is not None:
        root.append(body)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def identify(*, name: str, base_url: str, admin_email: str, earliest: datetime, repository_id: str) -> etree._Element:
    element = etree.Element(_q("Identify"))
    for tag, text in (("repositoryName", name), ("baseURL", base_url), ("protocolVersion", "2.0"),
                      ("adminEmail", admin_email), ("earliestDatestamp", datestamp(earliest)),
                      ("deletedRecord", "persistent"), ("granularity", GRANULARITY)):
        _sub(element, tag, text)
    description = _sub(element, "description")
    identifier = etree.SubElement(description, "{http://www.openarchives.org/OAI/2.0/oai-identifier}oai-identifier",
                                  nsmap={None: "http://www.openarchives.org/OAI/2.0/oai-identifier"})
    identifier.set(_q("schemaLocation", XSI_NS),
                   "http://www.openarchives.org/OAI/2.0/oai-identifier http://www.openarchives.org/OAI/2.0/oai-identifier.xsd")
    for tag, text in (("scheme", "oai"), ("repositoryIdentifier", repository_id), ("delimiter", ":"),
                      ("sampleIdentifier", f"oai:{repository_id}:acoustic20_01_psd_DOM_808974724_CH1_1601366233")):
        etree.SubElement(identifier, f"{{http://www.openarchives.org/OAI/2.0/oai-identifier}}{tag}").text = text
    return element


def list_metadata_formats() -> etree._Element:
    element = etree.Element(_q("ListMetadataFormats"))
    fmt = _sub(element, "metadataFormat")
    _sub(fmt, "metadataPrefix", "oai_dc")
    _sub(fmt, "schema", OAI_DC_SCHEMA)
    _sub(fmt, "metadataNamespace", OAI_DC_NS)
    return element


def list_sets(sets: Iterable[tuple[str, str]]) -> etree._Element:
    element = etree.Element(_q("ListSets"))
    for spec, name in sets:
        entry = _sub(element, "set")
        _sub(entry, "setSpec", spec)
        _sub(entry, "setName", name)
    return element


def header(identifier: str, stamp: datetime, set_specs: Iterable[str], *, deleted: bool = False) -> etree._Element:
    """A record header; ``deleted``: the header of a deleted record (``status="deleted"``)."""
    element = etree.Element(_q("header"), {"status": "deleted"} if deleted else {})
    _sub(element, "identifier", identifier)
    _sub(element, "datestamp", datestamp(stamp))
    for spec in set_specs:
        _sub(element, "setSpec", spec)
    return element


def dublin_core(fields: Iterable[tuple[str, str]]) -> etree._Element:
    """An ``oai_dc:dc`` element from (element name, text) pairs, in the given order."""
    dc = etree.Element(_q("dc", OAI_DC_NS), nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS})
    dc.set(_q("schemaLocation", XSI_NS), f"{OAI_DC_NS} {OAI_DC_SCHEMA}")
    for name, text in fields:
        if name not in DC_ELEMENTS:
            raise ValueError(f"{name!r} is not a Dublin Core element")
        etree.SubElement(dc, _q(name, DC_NS)).text = text
    return dc


def record(head: etree._Element, metadata: etree._Element | None) -> etree._Element:
    """A record; a deleted record has its header only (``metadata=None``)."""
    element = etree.Element(_q("record"))
    element.append(head)
    if metadata is not None:
        _sub(element, "metadata").append(metadata)
    return element


def get_record(item: etree._Element) -> etree._Element:
    element = etree.Element(_q("GetRecord"))
    element.append(item)
    return element


def listing(verb: str, items: Iterable[etree._Element], *, token: str | None, complete_size: int | None,
            records_before: int) -> etree._Element:
    """``ListRecords``/``ListIdentifiers`` with a resumption token (empty on the last page of several).

    ``records_before`` (how many items the earlier pages held) is the token's ``cursor`` attribute;
    ``complete_size`` its ``completeListSize`` (an optional attribute: left out when None).
    """
    element = etree.Element(_q(verb))
    for item in items:
        element.append(item)
    if token is not None or records_before > 0:
        size = None if complete_size is None else str(complete_size)
        _sub(element, "resumptionToken", token or "", completeListSize=size, cursor=str(records_before))
    return element
