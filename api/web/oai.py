"""OAI-PMH 2.0 endpoint (``/oai``): the registry's resources as ``oai_dc`` records, one set per stream.

Identifiers are ``oai:<oai_repository_id>:<resource kid>``; datestamps are the
resources' modification times at seconds granularity. Lists are paged with
resumption tokens that carry the harvest's arguments and its (modified, kid)
position, so they stay valid while records are added. For incremental
harvesting use the latest datestamp received as the next ``from``: records
with that datestamp come again, none is missed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import Response, request, url_for
from marshmallow import ValidationError
from sqlalchemy import func, select

from hydroserve.codecs import oaipmh
from hydroserve.codecs.times import as_utc
from hydroserve.odc_sync import registry

from . import cursor as cursors
from .blueprint import Blueprint
from .services import services

bp = Blueprint("oai", __name__, description="OAI-PMH 2.0 harvesting of the open-data resources")

LIST_VERBS = {"ListIdentifiers", "ListRecords"}
ARGUMENTS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), {"resumptionToken"}),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
}
DCMI_TYPE = {"audio/wav": "Sound", "audio/mpeg": "Sound"}


class OaiError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _base_url() -> str:
    return url_for("oai.Oai", _external=True)


def _respond(body: bytes) -> Response:
    return Response(body, mimetype=oaipmh.MEDIA_TYPE, content_type=f"{oaipmh.MEDIA_TYPE}; charset=utf-8")


def _parse_time(text: str, *, end: bool) -> tuple[datetime, str]:
    """A from/until argument as a bound: day granularity or seconds with Z; ``end`` makes it exclusive-upper."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), UTC)
            return (moment + timedelta(days=1) if end else moment), "day"
        if len(text) == 20 and text.endswith("Z") and text[10] == "T":
            moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return (moment + timedelta(seconds=1) if end else moment), "seconds"
    except ValueError:
        pass
    raise OaiError("badArgument", f"{text!r} is not a UTC datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)")


def _identifier(kid: str) -> str:
    return f"oai:{services().settings.oai_repository_id}:{kid}"


def _kid(identifier: str) -> str:
    prefix = f"oai:{services().settings.oai_repository_id}:"
    if not identifier.startswith(prefix):
        raise OaiError("idDoesNotExist", f"{identifier!r} is not an identifier of this repository ({prefix}<kid>)")
    return identifier[len(prefix):]


def _record_header(resource: registry.Resource):
    return oaipmh.header(_identifier(resource.kid), resource.modified, [resource.stream_kid])


def _dublin_core(resource: registry.Resource):
    fields = [
        ("title", resource.title), ("creator", resource.creator), ("subject", resource.ktype),
        ("description", resource.description), ("publisher", resource.publisher),
        ("date", resource.created.isoformat()), ("type", DCMI_TYPE.get(resource.media_type, "Dataset")),
        ("format", resource.media_type), ("identifier", resource.access_url), ("identifier", resource.kid),
    ]
    if resource.info_url:
        fields.append(("relation", resource.info_url))
    fields.append(("relation", url_for("registry.Stream", kid=resource.stream_kid, _external=True)))
    if resource.coverage_start and resource.coverage_end:
        fields.append(("coverage", f"{resource.coverage_start.isoformat()}/{resource.coverage_end.isoformat()}"))
    fields.append(("rights", resource.license))
    return oaipmh.dublin_core(fields)


def _verb_identify(conn, args):
    earliest = conn.execute(select(func.min(registry.resources.c.modified))).scalar()
    return oaipmh.identify(
        name="hydroserve open acoustic data", base_url=_base_url(), admin_email=services().settings.admin_email,
        earliest=as_utc(earliest) or datetime.now(UTC), repository_id=services().settings.oai_repository_id,
    )


def _verb_list_metadata_formats(conn, args):
    if "identifier" in args and registry.get_resource(conn, _kid(args["identifier"])) is None:
        raise OaiError("idDoesNotExist", f"no record {args['identifier']!r}")
    return oaipmh.list_metadata_formats()


def _verb_list_sets(conn, args):
    if "resumptionToken" in args:
        raise OaiError("badResumptionToken", "ListSets is never paged here")
    return oaipmh.list_sets((row.kid, row.title) for row in registry.list_streams(conn))


def _check_prefix(prefix: str) -> None:
    if prefix != "oai_dc":
        raise OaiError("cannotDisseminateFormat", f"metadataPrefix {prefix!r} is not offered; use oai_dc")


def _verb_get_record(conn, args):
    _check_prefix(args["metadataPrefix"])
    resource = registry.get_resource(conn, _kid(args["identifier"]))
    if resource is None:
        raise OaiError("idDoesNotExist", f"no record {args['identifier']!r}")
    return oaipmh.get_record(oaipmh.record(_record_header(resource), _dublin_core(resource)))


def _harvest_from_arguments(conn, args) -> dict:
    _check_prefix(args["metadataPrefix"])
    harvest = {"set": args.get("set"), "from": None, "until": None, "after": None, "done": 0}
    granularities = set()
    for argument, end in (("from", False), ("until", True)):
        if argument in args:
            moment, granularity = _parse_time(args[argument], end=end)
            harvest[argument] = moment.isoformat()
            granularities.add(granularity)
    if len(granularities) > 1:
        raise OaiError("badArgument", "from and until must have the same granularity")
    if harvest["from"] and harvest["until"] and harvest["from"] >= harvest["until"]:
        raise OaiError("badArgument", "from is later than until")
    if harvest["set"] is not None and registry.get_stream(conn, harvest["set"]) is None:
        raise OaiError("noRecordsMatch", f"there is no set {harvest['set']!r}")
    return harvest


def _verb_list(conn, args, verb: str):
    if "resumptionToken" in args:
        if set(args) != {"verb", "resumptionToken"}:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument")
        try:
            token_verb, prefix, set_spec, since, until, after_stamp, after_kid, done = cursors.decode(
                args["resumptionToken"], (str, str, str, str, str, str, str, int)
            )
        except ValidationError:
            raise OaiError("badResumptionToken", "the resumption token is not one this repository issued") from None
        if token_verb != verb:
            raise OaiError("badResumptionToken", f"the resumption token belongs to {token_verb}")
        harvest = {"set": set_spec or None, "from": since or None, "until": until or None,
                   "after": (datetime.fromisoformat(after_stamp), after_kid), "done": done}
    else:
        if "metadataPrefix" not in args:
            raise OaiError("badArgument", "metadataPrefix is required")
        harvest = _harvest_from_arguments(conn, args)
        prefix = args["metadataPrefix"]
    since = datetime.fromisoformat(harvest["from"]) if harvest["from"] else None
    until = datetime.fromisoformat(harvest["until"]) if harvest["until"] else None
    streams = [harvest["set"]] if harvest["set"] else None
    page_size = services().settings.oai_page_size
    page = registry.feed(conn, since=since, until=until, stream_kids=streams, after=harvest["after"], limit=page_size + 1)
    if not page and harvest["after"] is None:
        raise OaiError("noRecordsMatch", "no record matches these arguments")
    more, page = len(page) > page_size, page[:page_size]
    total = _count(conn, since, until, streams)
    token = None
    if more:
        last = page[-1]
        token = cursors.encode([verb, prefix, harvest["set"] or "", harvest["from"] or "", harvest["until"] or "",
                                last.modified.isoformat(), last.kid, harvest["done"] + len(page)])
    if verb == "ListIdentifiers":
        items = [_record_header(r) for r in page]
    else:
        items = [oaipmh.record(_record_header(r), _dublin_core(r)) for r in page]
    return oaipmh.listing(verb, items, token=token, complete_size=total, cursor=harvest["done"])


def _count(conn, since, until, streams) -> int:
    query = select(func.count()).select_from(registry.resources)
    if since is not None:
        query = query.where(registry.resources.c.modified >= since)
    if until is not None:
        query = query.where(registry.resources.c.modified < until)
    if streams is not None:
        query = query.where(registry.resources.c.stream_kid.in_(streams))
    return conn.execute(query).scalar()


@bp.route("/oai", methods=["GET", "POST"], endpoint="Oai")
@bp.doc(
    summary="OAI-PMH 2.0",
    description="verbs Identify, ListMetadataFormats, ListSets, ListIdentifiers, ListRecords, GetRecord; oai_dc; "
                "protocol errors are OAI-PMH error elements (HTTP 200)",
    parameters=[{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("verb", "identifier", "metadataPrefix", "from", "until", "set", "resumptionToken")],
    responses={"200": {"description": "OAI-PMH response", "content": {"text/xml": {"schema": {"type": "string"}}}}},
)
def oai():
    """OAI-PMH 2.0 requests (GET or POST form)."""
    now = datetime.now(UTC)
    values = request.values
    args = {key: values[key] for key in values}
    repeated = [key for key in values if len(values.getlist(key)) > 1]
    verb = args.get("verb")
    if verb not in ARGUMENTS:
        message = "the verb argument is missing" if verb is None else f"{verb!r} is not an OAI-PMH verb"
        return _respond(oaipmh.document(response_date=now, base_url=_base_url(), request_arguments={}, errors=[("badVerb", message)]))
    required, optional = ARGUMENTS[verb]
    given = set(args) - {"verb"}
    problems = []
    if repeated:
        problems.append(f"repeated argument(s): {', '.join(sorted(repeated))}")
    if given - required - optional:
        problems.append(f"illegal argument(s) for {verb}: {', '.join(sorted(given - required - optional))}")
    if "resumptionToken" not in given and required - given:
        problems.append(f"missing argument(s): {', '.join(sorted(required - given))}")
    if problems:
        return _respond(oaipmh.document(response_date=now, base_url=_base_url(), request_arguments={},
                                        errors=[("badArgument", "; ".join(problems))]))
    handlers = {
        "Identify": _verb_identify, "ListMetadataFormats": _verb_list_metadata_formats, "ListSets": _verb_list_sets,
        "GetRecord": _verb_get_record,
        "ListIdentifiers": lambda conn, a: _verb_list(conn, a, "ListIdentifiers"),
        "ListRecords": lambda conn, a: _verb_list(conn, a, "ListRecords"),
    }
    try:
        with services().engine.connect() as conn:
            body = handlers[verb](conn, args)
    except OaiError as error:
        echoed = {} if error.code in ("badVerb", "badArgument") else args  # the protocol says: no attributes then
        return _respond(oaipmh.document(response_date=now, base_url=_base_url(), request_arguments=echoed,
                                        errors=[(error.code, str(error))]))
    return _respond(oaipmh.document(response_date=now, base_url=_base_url(), request_arguments=args, body=body))
