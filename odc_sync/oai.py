"""The OAI-PMH 2.0 protocol over the registry: verbs, argument rules, resumption tokens, error conditions.

The registry's resources are ``oai_dc`` records, one set per registry
stream. Identifiers are ``oai:<repository_id>:<resource kid>``; datestamps
are the resources' modification times at seconds granularity. Lists are
paged with resumption tokens that carry the harvest's arguments and its
feed position (the ``(modified, kid)`` of the last record sent), so they
stay valid while records are added. For incremental harvesting use the
latest datestamp received as the next ``from``: records with that
datestamp come again, none is missed. Deleted records are kept for good
(``deletedRecord`` is ``persistent``): a resource whose bytes were deleted
is listed, at the datestamp of its deletion, as a header with
``status="deleted"`` and no metadata, so an incremental harvest sees it.

:func:`answer` turns one request's arguments into the bytes of the
response; the XML is written by :mod:`hydroserve.codecs.oaipmh`. Protocol
errors are OAI-PMH error elements in an ordinary response, never exceptions
for the caller.

Words: the *resumption token* is the opaque text a harvester sends back;
``records_before`` is what OAI-PMH calls the ``cursor`` attribute of a
token (how many records the earlier pages held).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Connection, Engine

from hydroserve.codecs import oaipmh, tokens, xmltext

from . import registry

METADATA_PREFIX = "oai_dc"
ARGUMENTS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), {"resumptionToken"}),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
}
"""Required and optional arguments of each verb (besides ``verb``)."""
UNECHOED_ERRORS = ("badVerb", "badArgument")
"""Error codes whose response does not repeat the request's arguments (as the protocol says)."""
DCMI_TYPE = {"audio/wav": "Sound", "audio/mpeg": "Sound"}
TOKEN_TYPES = (str, str, str, str, str, str, str, int)
COMPLETE_SIZE_LIMIT = 10_000
"""A paged list states its ``completeListSize`` (optional in OAI-PMH) when it holds at most this many records:
counting a larger one would cost a scan of the registry on every page."""


class OaiError(Exception):
    """An OAI-PMH error condition: ``code`` (e.g. ``badArgument``) and a message for the harvester."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Repository:
    """What the answers say about this repository, besides the registry's content.

    Parameters
    ----------
    repository_id : str
        The ``<repository_id>`` of the identifiers, e.g. ``hydroserve.km3net.org``.
    base_url : str
        The absolute URL harvesters send requests to.
    admin_email : str
        The contact of ``Identify``.
    page_size : int
        Records (or headers) per page of a list.
    stream_url : callable
        ``stream_url(stream_kid) -> str``: the absolute URL of a registry stream (a ``relation`` of each record).
    name : str
        The repository's name in ``Identify``.
    """

    repository_id: str
    base_url: str
    admin_email: str
    page_size: int
    stream_url: Callable[[str], str]
    name: str = "hydroserve open acoustic data"

    def __post_init__(self):
        if self.page_size < 1:
            raise ValueError(f"page_size={self.page_size!r} must be at least 1")

    @property
    def identifier_prefix(self) -> str:
        return f"oai:{self.repository_id}:"

    def identifier(self, kid: str) -> str:
        """The OAI identifier of the resource ``kid``."""
        return self.identifier_prefix + kid

    def kid(self, identifier: str) -> str:
        """The resource kid of an OAI identifier; ``idDoesNotExist`` if it is not one of this repository's."""
        if not identifier.startswith(self.identifier_prefix):
            raise OaiError("idDoesNotExist",
                           f"{identifier!r} is not an identifier of this repository ({self.identifier_prefix}<kid>)")
        return identifier[len(self.identifier_prefix):]


@dataclass(frozen=True)
class Harvest:
    """One ListIdentifiers/ListRecords harvest: its arguments and how far its pages have come.

    ``since``/``until`` bound the modification time (``until`` exclusive, already moved past the
    granularity of the argument); ``after`` is the feed position of the last record sent.
    """

    verb: str
    metadata_prefix: str
    set_spec: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, str] | None = None
    records_before: int = 0

    def next_token(self, last: registry.Resource, page_length: int) -> str:
        """The resumption token of the page after this one, whose last record is ``last``."""
        return tokens.encode([
            self.verb, self.metadata_prefix, self.set_spec or "", _iso(self.since), _iso(self.until),
            last.modified.isoformat(), last.kid, self.records_before + page_length,
        ])

    @classmethod
    def from_token(cls, token: str, verb: str) -> Harvest:
        """The harvest a resumption token continues; ``badResumptionToken`` unless this repository issued it for ``verb``."""
        try:
            token_verb, prefix, set_spec, since, until, after_stamp, after_kid, records_before = tokens.decode(token, TOKEN_TYPES)
            harvest = cls(token_verb, prefix, set_spec or None, _moment(since) if since else None,
                          _moment(until) if until else None, (_moment(after_stamp), after_kid), records_before)
        except ValueError:
            raise OaiError("badResumptionToken", "the resumption token is not one this repository issued") from None
        if harvest.verb != verb:
            raise OaiError("badResumptionToken", f"the resumption token belongs to {harvest.verb}")
        return harvest


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _moment(text: str) -> datetime:
    """A time written by :func:`_iso`; ValueError for anything else."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment


def parse_datestamp(text: str, *, end: bool) -> tuple[datetime, str]:
    """A ``from``/``until`` argument as a bound and its granularity (``"day"`` or ``"seconds"``).

    ``YYYY-MM-DD`` or ``YYYY-MM-DDThh:mm:ssZ`` (UTC); with ``end`` the bound
    is exclusive: the start of the next day or second. ``badArgument`` otherwise.
    """
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), UTC)
            return (moment + timedelta(days=1) if end else moment), "day"
        if len(text) == 20 and text.endswith("Z") and text[10] == "T":
            moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return (moment + timedelta(seconds=1) if end else moment), "seconds"
    except ValueError:
        pass
    raise OaiError("badArgument", f"{text!r} is not a UTC datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)")


def argument_problems(verb: str, arguments: dict[str, str], repeated: Collection[str]) -> list[str]:
    """What is wrong with the arguments of a known verb, independent of the registry (empty if nothing)."""
    required, optional = ARGUMENTS[verb]
    given = set(arguments) - {"verb"}
    problems = []
    if repeated:
        problems.append(f"repeated argument(s): {', '.join(sorted(repeated))}")
    if given - required - optional:
        problems.append(f"illegal argument(s) for {verb}: {', '.join(sorted(given - required - optional))}")
    if "resumptionToken" not in given and required - given:
        problems.append(f"missing argument(s): {', '.join(sorted(required - given))}")
    return problems


def _unwritable_argument(arguments: dict[str, str]) -> str | None:
    """What is wrong with the first argument whose name or value XML cannot carry (so it cannot be echoed), if any."""
    for name, value in arguments.items():
        try:
            xmltext.check_text(name, "an argument name")
            xmltext.check_text(value, f"the argument {name}")
        except ValueError as error:
            return str(error)
    return None


def answer(engine: Engine, repository: Repository, arguments: dict[str, str], *, repeated: Collection[str] = (),
           now: datetime) -> bytes:
    """The OAI-PMH response document to one request.

    Parameters
    ----------
    engine : Engine
        The catalog, read only.
    repository : Repository
        This repository's identity and paging.
    arguments : dict
        The request's arguments (``verb`` included), one value each.
    repeated : collection of str
        Names of arguments the request gave more than once (a ``badArgument``).
    now : datetime
        The response date (UTC).

    Returns
    -------
    bytes
        The XML document: the verb's answer, or its error condition.
    """
    def document(**content) -> bytes:
        return oaipmh.document(response_date=now, base_url=repository.base_url, **content)

    unwritable = _unwritable_argument(arguments)
    if unwritable:
        return document(request_arguments={}, errors=[("badArgument", unwritable)])
    verb = arguments.get("verb")
    if verb not in ARGUMENTS:
        message = "the verb argument is missing" if verb is None else f"{verb!r} is not an OAI-PMH verb"
        return document(request_arguments={}, errors=[("badVerb", message)])
    problems = argument_problems(verb, arguments, repeated)
    if problems:
        return document(request_arguments={}, errors=[("badArgument", "; ".join(problems))])
    try:
        with engine.connect() as conn:
            body = VERBS[verb](conn, repository, arguments, now)
    except OaiError as error:
        echoed = {} if error.code in UNECHOED_ERRORS else arguments
        return document(request_arguments=echoed, errors=[(error.code, str(error))])
    return document(request_arguments=arguments, body=body)


def _record_header(repository: Repository, resource: registry.Resource):
    return oaipmh.header(repository.identifier(resource.kid), resource.modified, [resource.stream_kid],
                         deleted=resource.deleted)


def _dublin_core(repository: Repository, resource: registry.Resource):
    fields = [
        ("title", resource.title), ("creator", resource.creator), ("subject", resource.ktype),
        ("description", resource.description), ("publisher", resource.publisher),
        ("date", resource.created.isoformat()), ("type", DCMI_TYPE.get(resource.media_type, "Dataset")),
        ("format", resource.media_type), ("identifier", resource.access_url), ("identifier", resource.kid),
    ]
    if resource.info_url:
        fields.append(("relation", resource.info_url))
    fields.append(("relation", repository.stream_url(resource.stream_kid)))
    if resource.coverage_start and resource.coverage_end:
        fields.append(("coverage", f"{resource.coverage_start.isoformat()}/{resource.coverage_end.isoformat()}"))
    fields.append(("rights", resource.license))
    return oaipmh.dublin_core(fields)


def _record(repository: Repository, resource: registry.Resource):
    """The record; a deleted resource (a tombstone) is its header with ``status="deleted"`` and no metadata."""
    metadata = None if resource.deleted else _dublin_core(repository, resource)
    return oaipmh.record(_record_header(repository, resource), metadata)


def _check_prefix(prefix: str) -> None:
    if prefix != METADATA_PREFIX:
        raise OaiError("cannotDisseminateFormat", f"metadataPrefix {prefix!r} is not offered; use {METADATA_PREFIX}")


def _identify(conn: Connection, repository: Repository, arguments: dict, now: datetime):
    return oaipmh.identify(
        name=repository.name, base_url=repository.base_url, admin_email=repository.admin_email,
        earliest=registry.earliest_modified(conn) or now, repository_id=repository.repository_id,
    )


def _list_metadata_formats(conn: Connection, repository: Repository, arguments: dict, now: datetime):
    if "identifier" in arguments and registry.get_resource(conn, repository.kid(arguments["identifier"])) is None:
        raise OaiError("idDoesNotExist", f"no record {arguments['identifier']!r}")
    return oaipmh.list_metadata_formats()


def _list_sets(conn: Connection, repository: Repository, arguments: dict, now: datetime):
    if "resumptionToken" in arguments:
        raise OaiError("badResumptionToken", "ListSets is never paged here")
    return oaipmh.list_sets((row.kid, row.title) for row in registry.list_streams(conn))


def _get_record(conn: Connection, repository: Repository, arguments: dict, now: datetime):
    _check_prefix(arguments["metadataPrefix"])
    resource = registry.get_resource(conn, repository.kid(arguments["identifier"]))
    if resource is None:
        raise OaiError("idDoesNotExist", f"no record {arguments['identifier']!r}")
    return oaipmh.get_record(_record(repository, resource))


def _new_harvest(conn: Connection, verb: str, arguments: dict) -> Harvest:
    """The first page's harvest from a list request's arguments."""
    _check_prefix(arguments["metadataPrefix"])
    bounds, granularities = {}, set()
    for name, end in (("from", False), ("until", True)):
        if name in arguments:
            bounds[name], granularity = parse_datestamp(arguments[name], end=end)
            granularities.add(granularity)
    if len(granularities) > 1:
        raise OaiError("badArgument", "from and until must have the same granularity")
    if "from" in bounds and "until" in bounds and bounds["from"] >= bounds["until"]:
        raise OaiError("badArgument", "from is later than until")
    set_spec = arguments.get("set")
    if set_spec is not None and registry.get_stream(conn, set_spec) is None:
        raise OaiError("noRecordsMatch", f"there is no set {set_spec!r}")
    return Harvest(verb, arguments["metadataPrefix"], set_spec, bounds.get("from"), bounds.get("until"))


def _list(conn: Connection, repository: Repository, arguments: dict, now: datetime):
    verb = arguments["verb"]
    if "resumptionToken" in arguments:
        if set(arguments) != {"verb", "resumptionToken"}:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument")
        harvest = Harvest.from_token(arguments["resumptionToken"], verb)
    else:
        harvest = _new_harvest(conn, verb, arguments)
    window = dict(since=harvest.since, until=harvest.until, stream_kids=[harvest.set_spec] if harvest.set_spec else None)
    page = registry.feed(conn, after=harvest.after, limit=repository.page_size + 1, **window)
    if not page and harvest.after is None:
        raise OaiError("noRecordsMatch", "no record matches these arguments")
    more, page = len(page) > repository.page_size, page[:repository.page_size]
    token = harvest.next_token(page[-1], len(page)) if more else None
    if verb == "ListIdentifiers":
        items = [_record_header(repository, resource) for resource in page]
    else:
        items = [_record(repository, resource) for resource in page]
    paged = token is not None or harvest.records_before > 0
    complete_size = registry.count(conn, **window, at_most=COMPLETE_SIZE_LIMIT) if paged else None
    return oaipmh.listing(verb, items, token=token, complete_size=complete_size, records_before=harvest.records_before)


VERBS = {
    "Identify": _identify, "ListMetadataFormats": _list_metadata_formats, "ListSets": _list_sets,
    "GetRecord": _get_record, "ListIdentifiers": _list, "ListRecords": _list,
}
"""Each verb's answer: ``verb(conn, repository, arguments, now)`` -> the verb's XML element; raises OaiError."""
