"""Event-table endpoints: publish, list, describe, download (CSV + metadata, HDF5, VOTable) and cone search.

The JSON endpoints answer errors as problem+json; the cone search answers
them as SCS 1.03 error VOTables (``INFO name="Error"``), HTTP 200 for bad
parameters (what SCS clients expect) and 404 for a table that does not
exist or has no sky positions.
"""

from __future__ import annotations

from flask import Response, abort, request, url_for
from flask.views import MethodView

from hydroserve.acoustics.blobstore import BlobNotFound
from hydroserve.api.db import writer
from hydroserve.api.events import cone as scs
from hydroserve.api.events import registration as event_registration
from hydroserve.api.events import store as event_store
from hydroserve.api.events.registration import PRODUCTS
from hydroserve.api.events.store import TableRecord
from hydroserve.codecs import hdf5table, votable
from hydroserve.codecs.tables import SCS_MEDIA_TYPE, TABLE_ID, EventTable
from hydroserve.codecs.times import rfc3339

from . import errors, http
from .auth import require_token
from .blueprint import Blueprint
from .cursor import NEXT_LINK, next_page
from .event_schemas import PublishFiles, TableListQuery, TablePageSchema, TableSchema
from .http import accepts
from .services import services

bp = Blueprint("events", __name__, description="Particle-event tables: CSV with metadata, HDF5, VOTable and IVOA Simple Cone Search")

MAX_DETAIL_PROBLEMS = 5


def _check_tid(tid: str) -> None:
    if not TABLE_ID.fullmatch(tid):
        abort(404, description=f"No event table {tid[:80]!r}: table ids look like {TABLE_ID.pattern}.")


def load_record(tid: str) -> TableRecord:
    _check_tid(tid)
    with services().engine.connect() as conn:
        record = event_store.get_table(conn, tid)
    if record is None:
        abort(404, description=f"No event table {tid!r}.")
    return record


def _links(record: TableRecord) -> dict[str, str]:
    tid = record.table_id
    links = {"self": url_for("events.Table", tid=tid, _external=True)}
    links.update({kind: url_for(f"events.{kind.capitalize()}", tid=tid, _external=True) for kind in PRODUCTS})
    if record.cone_search is not None:
        links["scs"] = url_for("events.Scs", tid=tid, _external=True) + "?"
    return links


def table_json(record: TableRecord, *, full: bool) -> dict:
    """A table's description; ``full`` adds the whole metadata document and the resource kids."""
    links = _links(record)
    document = record.document
    body = {
        "id": record.table_id,
        "title": record.title,
        "n_rows": record.n_rows,
        "version": document["publication"]["version"],
        "detector": document["data_taking"]["detector"],
        "created": rfc3339(record.created),
        "formats": {
            kind: {"url": links[kind], "media_type": PRODUCTS[kind].media_type, "size_bytes": product["size_bytes"],
                   "sha256": product["sha256"]}
            for kind, product in record.products.items()
        },
        "cone_search": None if record.cone_search is None else {
            **event_registration.cone_search_capability(services().settings, record.table_id, record.cone_search),
            "url": links["scs"],
        },
        "links": links,
    }
    if full:
        body["metadata"] = document
        body["resources"] = list(record.resources)
    return body


@bp.route("/events/tables", endpoint="Tables")
class Tables(MethodView):
    @bp.arguments(TableListQuery, location="query", as_kwargs=True)
    @bp.response(200, TablePageSchema, headers=NEXT_LINK)
    @bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
    def get(self, limit, cursor=None):
        """Published event tables by id, paginated with an opaque cursor."""
        with services().engine.connect() as conn:
            records = event_store.list_tables(conn, after=None if cursor is None else cursor[0], limit=limit + 1)
        page = records[:limit]
        next_url, headers = next_page("events.Tables", [page[-1].table_id]) if len(records) > limit else (None, {})
        return {"items": [table_json(r, full=False) for r in page], "next": next_url}, 200, headers

    @require_token
    @accepts("multipart/form-data")
    @bp.arguments(PublishFiles, location="files")
    @bp.response(201, TableSchema, description="Published",
                 headers={"Location": {"description": "the table's URL", "schema": {"type": "string"}}})
    @bp.alt_response(200, schema=TableSchema,
                     description="The same table (same metadata and rows) was already published; nothing changed")
    @bp.alt_response(401, description="No bearer token", **errors.PROBLEM)
    @bp.alt_response(403, description="Bearer token not accepted", **errors.PROBLEM)
    @bp.alt_response(409, description="A different table is published under this id", **errors.PROBLEM)
    @bp.alt_response(413, description="Request larger than the upload limit", **errors.PROBLEM)
    @bp.alt_response(415, description="The body is not multipart/form-data", **errors.PROBLEM)
    @bp.alt_response(422, description="Invalid metadata or rows; `errors` names the field, column, line or row", **errors.PROBLEM)
    @bp.doc(security=[{"bearer": []}])
    def post(self, files):
        """Publish an event table: multipart/form-data with the rows (``table``: CSV or HDF5) and the metadata (``metadata``).

        The metadata part is JSON or TOML (MetadataSchema).

        Multipart, not JSON: the rows go as the very files the command line
        publishes (HDF5 is binary), without base64 or a second encoding, and
        each part keeps its file name. The table is validated whole, stored
        as CSV + metadata, HDF5 and VOTable, and registered as open-data
        resources in one transaction. Tables never change: the same content
        again answers 200, different content under a published id 409.
        """
        settings = services().settings
        try:
            table = event_store.read_input(files["table"].read(), files["metadata"].read(),
                                           max_rows=settings.events_max_rows)
        except event_store.InvalidInput as error:
            lines = error.lines()
            shown = "; ".join(lines[:MAX_DETAIL_PROBLEMS])
            if len(lines) > MAX_DETAIL_PROBLEMS:
                shown += f"; and {len(lines) - MAX_DETAIL_PROBLEMS} more"
            return errors.problem(422, f"The event table was not published: {shown}.", title="Invalid event table",
                                  kind="invalid-event-table", errors=error.errors)
        try:
            published = event_store.publish(writer(services().engine), services().blobs, settings, table)
        except event_store.TableConflict as error:
            abort(409, description=str(error))
        location = url_for("events.Table", tid=published.record.table_id, _external=True)
        return table_json(published.record, full=True), 201 if published.created else 200, {"Location": location}


@bp.route("/events/tables/<tid>", endpoint="Table")
@bp.response(200, TableSchema)
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_table(tid: str):
    """A table: its full metadata (provenance, parameters, data taking, publication), formats, cone search, resources."""
    return table_json(load_record(tid), full=True)


def _send_product(tid: str, kind: str) -> Response:
    record = load_record(tid)
    product = record.products[kind]
    try:
        file = services().blobs.open(product["key"])
    except BlobNotFound:
        abort(503, description=f"The {kind} file of event table {tid} is missing from the blob store.")
    return http.send_stream(file, product["size_bytes"], media_type=PRODUCTS[kind].media_type, etag=product["sha256"],
                            last_modified=record.created, download_name=f"{tid}.{PRODUCTS[kind].extension}")


def _file_doc(media_type: str, description: str, schema: dict | None = None) -> dict:
    schema = schema or {"type": "string", "format": "binary"}
    return {"responses": {"200": {"description": description, "content": {media_type: {"schema": schema}}},
                          "206": {"description": "partial content"}, "304": {"description": "not modified"}}}


@bp.route("/events/tables/<tid>.csv", endpoint="Csv")
@bp.doc(**_file_doc(PRODUCTS["csv"].media_type, "CSV: a header line of column names, one line per event"))
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_csv(tid: str):
    """The rows as CSV; what the columns mean is in the metadata file (``.meta.json``)."""
    return _send_product(tid, "csv")


@bp.route("/events/tables/<tid>.meta.json", endpoint="Meta")
@bp.doc(**_file_doc(PRODUCTS["meta"].media_type, "the metadata document (MetadataSchema)", {"type": "object"}))
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_meta(tid: str):
    """The CSV's metadata file: provenance, parameters, data taking, publication (publishable again with the CSV)."""
    return _send_product(tid, "meta")


@bp.route("/events/tables/<tid>.h5", endpoint="Hdf5")
@bp.doc(**_file_doc(PRODUCTS["hdf5"].media_type, "HDF5: /events, /header and metadata attributes"))
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_hdf5(tid: str):
    """The table as HDF5: the ``events`` dataset, a human-readable ``header`` table, machine metadata as attributes."""
    return _send_product(tid, "hdf5")


@bp.route("/events/tables/<tid>.vot", endpoint="Votable")
@bp.doc(**_file_doc(PRODUCTS["votable"].media_type, "VOTable 1.4"))
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_votable(tid: str):
    """The whole table as a VOTable 1.4 with UCDs, units, ICRS and UTC/MJD frames."""
    return _send_product(tid, "votable")


def _scs_error(status: int, message: str, tid: str) -> Response:
    body = votable.encode_cone_error(message, description=f"hydroserve Simple Cone Search over event table {tid[:80]}")
    return Response(body, status=status, content_type=SCS_MEDIA_TYPE)


def _load_event_table(record: TableRecord) -> EventTable:
    with services().blobs.open(record.products["hdf5"]["key"]) as stored:
        return hdf5table.decode(stored.read(), record.load_metadata())


_SCS_PARAMETERS = [
    {"name": "RA", "in": "query", "required": True, "schema": {"type": "number", "minimum": 0, "maximum": 360},
     "description": "right ascension of the cone centre, ICRS, decimal degrees"},
    {"name": "DEC", "in": "query", "required": True, "schema": {"type": "number", "minimum": -90, "maximum": 90},
     "description": "declination of the cone centre, ICRS, decimal degrees"},
    {"name": "SR", "in": "query", "required": True, "schema": {"type": "number", "minimum": 0},
     "description": "cone radius in decimal degrees (at most events_scs_max_sr_deg); 0: metadata only"},
    {"name": "VERB", "in": "query", "schema": {"type": "integer", "default": 2},
     "description": "verbosity: 1 minimal columns, 2 default, 3 all columns"},
    {"name": "MAXREC", "in": "query", "schema": {"type": "integer", "minimum": 0},
     "description": "most rows to return (capped at events_scs_max_records); 0: metadata only"},
]


@bp.route("/events/tables/<tid>/scs", endpoint="Scs")
@bp.doc(parameters=_SCS_PARAMETERS, responses={
    "200": {"description": "SCS 1.03 VOTable: the events in the cone, nearest first (or an error VOTable with INFO name=Error)",
            "content": {SCS_MEDIA_TYPE: {"schema": {"type": "string"}}}},
    "404": {"description": "no such table, or it has no sky positions (error VOTable)",
            "content": {SCS_MEDIA_TYPE: {"schema": {"type": "string"}}}},
})
def cone_search(tid: str):
    """IVOA Simple Cone Search 1.03: the events within SR degrees (true angular distance) of RA, DEC.

    Unknown parameters are ignored, as SCS requires; the three fields SCS
    requires carry the UCDs ``ID_MAIN``, ``POS_EQ_RA_MAIN``,
    ``POS_EQ_DEC_MAIN``; ``_r`` is the distance from the centre in degrees.
    """
    if not TABLE_ID.fullmatch(tid):
        return _scs_error(404, f"No event table {tid[:80]!r}.", tid)
    with services().engine.connect() as conn:
        record = event_store.get_table(conn, tid)
    if record is None:
        return _scs_error(404, f"No event table {tid!r}.", tid)
    if record.cone_search is None:
        return _scs_error(404, f"Event table {tid!r} has no sky positions; it offers no cone search.", tid)
    settings = services().settings
    try:
        query = scs.parse_query(request.args.to_dict(flat=False), max_sr_deg=settings.events_scs_max_sr_deg,
                                max_records=settings.events_scs_max_records)
    except scs.ConeSearchError as error:
        return _scs_error(200, str(error), tid)
    try:
        index = services().cone_indexes.get(record.products["hdf5"]["sha256"], lambda: scs.ConeIndex(_load_event_table(record)))
    except BlobNotFound:
        return _scs_error(503, f"The data of event table {tid!r} are missing from the blob store.", tid)
    result = index.search(query)
    body = votable.encode_cone_result(index.table, result.rows, index.columns(query.verbosity),
                                      [scs.distance_column(result.distance_deg)], overflow=result.overflow)
    return Response(body, content_type=SCS_MEDIA_TYPE)
