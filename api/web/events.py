"""Event-table endpoints: publish, list, describe, download (CSV + metadata, HDF5, VOTable) and cone search.

The JSON endpoints answer errors as problem+json; the cone search answers
them as SCS 1.03 error VOTables (``INFO name="Error"``), HTTP 200 for bad
parameters (what SCS clients expect) and 404 for a table that does not
exist or has no sky positions.
"""

from __future__ import annotations

from flask import Response, abort, request, url_for
from flask.views import MethodView
from werkzeug.exceptions import NotFound

from hydroserve.acoustics.blobstore import BlobDamaged, BlobNotFound
from hydroserve.api import urls
from hydroserve.api.events import cone, publishing, registration, store
from hydroserve.api.events.registration import PRODUCTS
from hydroserve.api.events.store import TableRecord
from hydroserve.codecs import votable
from hydroserve.codecs.table_metadata import TABLE_ID
from hydroserve.codecs.tables import SCS_MEDIA_TYPE
from hydroserve.codecs.times import rfc3339

from . import errors, http
from .auth import require_token
from .blueprint import Blueprint
from .cursor import NEXT_LINK, next_page
from .event_schemas import PublishFiles, TableListQuery, TablePageSchema, TableSchema
from .http import accepts
from .lookup import load_or_404
from .services import services

bp = Blueprint("events", __name__, description="Particle-event tables: CSV with metadata, HDF5, VOTable and IVOA Simple Cone Search")

MAX_DETAIL_PROBLEMS = 5


def load_record(table_id: str) -> TableRecord:
    """The published table ``table_id``; 404 problem+json when the id is malformed or unknown."""

    def load() -> TableRecord | None:
        with services().engine.connect() as conn:
            return store.get_table(conn, table_id)

    return load_or_404("event table", table_id, TABLE_ID.pattern, load)


def _links(record: TableRecord) -> dict[str, str]:
    table_id = record.table_id
    links = {"self": url_for("events.Table", table_id=table_id, _external=True)}
    links.update({kind: url_for(f"events.{kind.capitalize()}", table_id=table_id, _external=True) for kind in PRODUCTS})
    if record.cone_search is not None:
        links["scs"] = url_for("events.Scs", table_id=table_id, _external=True) + "?"
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
            **registration.cone_search_capability(services().event_settings, record.table_id, record.cone_search),
            "url": links["scs"],
        },
        "links": links,
    }
    if full:
        body["metadata"] = document
        body["resources"] = list(record.resources)
    return body


@bp.route(urls.rule(urls.TABLES), endpoint="Tables")
class Tables(MethodView):
    @bp.arguments(TableListQuery, location="query", as_kwargs=True)
    @bp.response(200, TablePageSchema, headers=NEXT_LINK)
    @bp.alt_response(400, description="Invalid parameter", **errors.PROBLEM)
    def get(self, limit, cursor=None):
        """Published event tables by id, paginated with an opaque cursor."""
        with services().engine.connect() as conn:
            records = store.list_tables(conn, after=None if cursor is None else cursor[0], limit=limit + 1)
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
        try:
            published = publishing.publish(services().writer, services().blobs, services().event_settings,
                                           files["table"].read(), files["metadata"].read())
        except publishing.InvalidInput as error:
            return _invalid_table(error)
        except publishing.TableConflict as error:
            abort(409, description=str(error))
        location = url_for("events.Table", table_id=published.record.table_id, _external=True)
        return table_json(published.record, full=True), 201 if published.created else 200, {"Location": location}


def _invalid_table(error: publishing.InvalidInput) -> Response:
    """422 problem+json: the first problems in ``detail``, all of them under ``errors``."""
    lines = error.lines()
    shown = "; ".join(lines[:MAX_DETAIL_PROBLEMS])
    if len(lines) > MAX_DETAIL_PROBLEMS:
        shown += f"; and {len(lines) - MAX_DETAIL_PROBLEMS} more"
    return errors.problem(422, f"The event table was not published: {shown}.", title="Invalid event table",
                          kind="invalid-event-table", errors=error.errors)


@bp.route(urls.rule(urls.TABLE), endpoint="Table")
@bp.response(200, TableSchema)
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_table(table_id: str):
    """A table: its full metadata (provenance, parameters, data taking, publication), formats, cone search, resources."""
    return table_json(load_record(table_id), full=True)


def _send_product(table_id: str, kind: str) -> Response:
    record = load_record(table_id)
    product = record.products[kind]
    # every chunk is checked as it is served; a damaged first chunk is a 503, a later one cuts the answer short
    file = services().products.integrity.open(product["key"], table_id, expected_sha256=product["sha256"])
    return http.send_stream(file, product["size_bytes"], media_type=PRODUCTS[kind].media_type, etag=product["sha256"],
                            last_modified=record.created, download_name=f"{table_id}.{PRODUCTS[kind].extension}")


@bp.route(urls.rule(urls.TABLE_CSV), endpoint="Csv")
@bp.doc(**http.file_doc("CSV: a header line of column names, one line per event",
                                       PRODUCTS["csv"].media_type))
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_csv(table_id: str):
    """The rows as CSV; what the columns mean is in the metadata file (``.meta.json``)."""
    return _send_product(table_id, "csv")


@bp.route(urls.rule(urls.TABLE_METADATA), endpoint="Meta")
@bp.doc(**http.file_doc("the metadata document (MetadataSchema)", PRODUCTS["meta"].media_type,
                                       {"type": "object"}))
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_meta(table_id: str):
    """The CSV's metadata file: provenance, parameters, data taking, publication (publishable again with the CSV)."""
    return _send_product(table_id, "meta")


@bp.route(urls.rule(urls.TABLE_HDF5), endpoint="Hdf5")
@bp.doc(**http.file_doc("HDF5: /events, /header and metadata attributes", PRODUCTS["hdf5"].media_type))
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_hdf5(table_id: str):
    """The table as HDF5: the ``events`` dataset, a human-readable ``header`` table, machine metadata as attributes."""
    return _send_product(table_id, "hdf5")


@bp.route(urls.rule(urls.TABLE_VOTABLE), endpoint="Votable")
@bp.doc(**http.file_doc("VOTable 1.4", PRODUCTS["votable"].media_type))
@bp.alt_response(404, description="No such table", **errors.PROBLEM)
def get_votable(table_id: str):
    """The whole table as a VOTable 1.4 with UCDs, units, ICRS and UTC/MJD frames."""
    return _send_product(table_id, "votable")


def _scs_error(status: int, message: str, table_id: str) -> Response:
    body = votable.encode_cone_error(message, description=f"hydroserve Simple Cone Search over event table {table_id[:80]}")
    return Response(body, status=status, content_type=SCS_MEDIA_TYPE)


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


@bp.route(urls.rule(urls.TABLE_CONE_SEARCH), endpoint="Scs")
@bp.doc(parameters=_SCS_PARAMETERS, responses={
    "200": {"description": "SCS 1.03 VOTable: the events in the cone, nearest first (or an error VOTable with INFO name=Error)",
            "content": {SCS_MEDIA_TYPE: {"schema": {"type": "string"}}}},
    "404": {"description": "no such table, or it has no sky positions (error VOTable)",
            "content": {SCS_MEDIA_TYPE: {"schema": {"type": "string"}}}},
})
def cone_search(table_id: str):
    """IVOA Simple Cone Search 1.03: the events within SR degrees (true angular distance) of RA, DEC.

    Unknown parameters are ignored, as SCS requires; the three fields SCS
    requires carry the UCDs ``ID_MAIN``, ``POS_EQ_RA_MAIN``,
    ``POS_EQ_DEC_MAIN``; ``_r`` is the distance from the centre in degrees.
    """
    try:
        record = load_record(table_id)
    except NotFound as error:
        return _scs_error(404, error.description, table_id)
    if record.cone_search is None:
        return _scs_error(404, f"Event table {table_id!r} has no sky positions; it offers no cone search.", table_id)
    settings = services().event_settings
    try:
        query = cone.parse_query(request.args.to_dict(flat=False), max_sr_deg=settings.scs_max_sr_deg,
                                 max_records=settings.scs_max_records)
    except cone.ConeSearchError as error:
        return _scs_error(200, str(error), table_id)
    try:
        index = services().cone_indexes.get(record.products["hdf5"]["sha256"],
                                            lambda: cone.ConeIndex(store.load_table(services().products.integrity, record)))
    except BlobNotFound:
        return _scs_error(503, f"The data of event table {table_id!r} are missing from the blob store.", table_id)
    except BlobDamaged:
        return _scs_error(503, f"The data of event table {table_id!r} are damaged in the blob store.", table_id)
    return Response(index.search_votable(query), content_type=SCS_MEDIA_TYPE)
