"""VOEvent 2.0 packets as objects: the frozen dataclasses of a packet and the checks of their values.

The parts of a packet hydroserve writes and reads (``Who``, ``What``,
``WhereWhen``, ``How``, ``Why``, ``Citations``) are value objects here;
:mod:`hydroserve.codecs.voevent_writer` turns a :class:`Packet` into XML
bytes and :mod:`hydroserve.codecs.voevent_reader` reads them back
(``parse(build(p)) == p``).

* ``ivorn`` is ``ivo://<authority>/<resource key>#<local id>`` (:func:`check_ivorn`).
* ``What`` holds typed params (``dataType`` is ``string``, ``float`` or
  ``int``; the schema allows no other; booleans must be given as int 0/1 or
  as strings), optionally in groups.
* Text must be something XML 1.0 can carry (:func:`hydroserve.codecs.xmltext.check_text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

VOEVENT_NS = "http://www.ivoa.net/xml/VOEvent/v2.0"
MEDIA_TYPE = "application/xml"

ROLES = ("observation", "prediction", "utility", "test")
CITE_RELATIONS = ("followup", "supersedes", "retraction")

# ivo://authority/resource-key#local-id (IVOA Identifiers 2.0; the local id is required for events)
IVORN_PATTERN = re.compile(r"ivo://[A-Za-z0-9][\w\-.~*'()]{2,}(/[\w\-.~*'()]+)+#[\w\-.~*'()+=/%!$&,;:@?]+")


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


def params(packet: Packet) -> dict[str, Param]:
    """Every param of the packet by name (params inside groups included)."""
    found: dict[str, Param] = {}
    for item in packet.what:
        for param in item.params if isinstance(item, Group) else (item,):
            found[param.name] = param
    return found
