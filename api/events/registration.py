"""Registering published event tables as open-data resources.

The event tables form their own KM3ResourceCollection (``events_collection``)
with one KM3ResourceStream per way of getting a table:

``<collection>_csv``      the CSV table (its metadata file is linked from the resource)
``<collection>_hdf5``     the HDF5 file
``<collection>_votable``  the whole table as a VOTable
``<collection>_scs``      the table's IVOA Simple Cone Search service (only tables with sky positions)

Each table yields one KM3OpenResource per stream, kid ``<stream kid>_<table id>``,
written in the transaction that stores the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from hydroserve.api.config import Settings
from hydroserve.codecs import csvtable, hdf5table, tables
from hydroserve.codecs.tables import EventTable, metadata_to_dict
from hydroserve.odc_sync import registry
from hydroserve.odc_sync.outbox import ODC_DESTINATION

SCS_STANDARD_ID = "ivo://ivoa.net/std/ConeSearch"
TEST_QUERY_SR_DEG = 1.0

@dataclass(frozen=True)
class Product:
    """One stored format of a table."""

    extension: str
    media_type: str


PRODUCTS = {
    "csv": Product("csv", csvtable.MEDIA_TYPE),
    "meta": Product("meta.json", tables.METADATA_MEDIA_TYPE),
    "hdf5": Product("h5", hdf5table.MEDIA_TYPE),
    "votable": Product("vot", tables.VOTABLE_MEDIA_TYPE),
}


@dataclass(frozen=True)
class EventStream:
    """How one kind of event-table resource is reached and described."""

    suffix: str          # appended to the table URL
    media_type: str
    ktype: str
    label: str           # for resource titles
    title: str
    description: str


EVENT_STREAMS = {
    "csv": EventStream("." + PRODUCTS["csv"].extension, PRODUCTS["csv"].media_type, "events.table.csv", "CSV", "Event tables as CSV",
                       "Particle-event tables as CSV, one row per event, each with a JSON metadata file"),
    "hdf5": EventStream("." + PRODUCTS["hdf5"].extension, PRODUCTS["hdf5"].media_type, "events.table.hdf5", "HDF5", "Event tables as HDF5",
                        "Particle-event tables as HDF5: an events table, a human-readable header table, metadata attributes"),
    "votable": EventStream("." + PRODUCTS["votable"].extension, PRODUCTS["votable"].media_type, "events.table.votable", "VOTable", "Event tables as VOTable",
                           "Particle-event tables as IVOA VOTable 1.4 with UCDs and units"),
    "scs": EventStream("/scs?", tables.SCS_MEDIA_TYPE, "events.service.scs", "cone search", "Event cone searches",
                       "IVOA Simple Cone Search 1.03 services over the particle-event tables with sky positions"),
}


def events_collection(settings: Settings) -> registry.Collection:
    return registry.Collection(
        settings.events_collection,
        "Particle event tables",
        "Reconstructed particle events reduced to one row per event, published with provenance, parameter, "
        "data-taking and publication metadata as CSV, HDF5 and VOTable, and searchable through IVOA Simple Cone Search.",
    )


def stream_kid(settings: Settings, kind: str) -> str:
    return f"{settings.events_collection}_{kind}"


def resource_kid(settings: Settings, kind: str, table_id: str) -> str:
    return f"{stream_kid(settings, kind)}_{table_id}"


def table_url(settings: Settings, table_id: str) -> str:
    return f"{settings.public_url}/api/v1/events/tables/{table_id}"


def cone_search_url(settings: Settings, table_id: str) -> str:
    """The SCS base URL of a table (ends with '?': clients append RA=&DEC=&SR=)."""
    return table_url(settings, table_id) + EVENT_STREAMS["scs"].suffix


def cone_search_test_query(table: EventTable) -> dict | None:
    """A query that finds the table's first event (what the VO registry calls a test query); None without sky positions.

    It is the only part of a table's cone-search capability that depends on the data; the rest follows the
    current settings (:func:`cone_search_capability`)."""
    positions = table.metadata.position_columns
    if positions is None:
        return None
    ra_name, dec_name = positions
    return {"ra": float(table.data[ra_name][0]), "dec": float(table.data[dec_name][0]), "sr": TEST_QUERY_SR_DEG}


def cone_search_capability(settings: Settings, table_id: str, test_query: dict) -> dict:
    """The SCS capability of a table as the VO registry describes one, with the limits in force now."""
    return {
        "url": cone_search_url(settings, table_id),
        "standard_id": SCS_STANDARD_ID,
        "max_sr_deg": settings.events_scs_max_sr_deg,
        "max_records": settings.events_scs_max_records,
        "verbosity": True,
        "test_query": test_query,
    }


def ensure_events_registry(conn: Connection, settings: Settings) -> None:
    """Create the events collection and its streams if missing (in the caller's transaction)."""
    registry.ensure_collection(conn, events_collection(settings))
    for kind, stream in EVENT_STREAMS.items():
        registry.ensure_stream(conn, registry.Stream(stream_kid(settings, kind), settings.events_collection, stream.ktype,
                                                     stream.title, stream.description, stream.media_type))


def table_resources(settings: Settings, table: EventTable, products: dict[str, dict], test_query: dict | None) -> list[registry.Resource]:
    """One resource per format of ``table`` (plus its cone search), given the stored ``products`` (size, sha256)."""
    metadata = table.metadata
    publication, taking = metadata.publication, metadata.data_taking
    base = table_url(settings, metadata.id)
    document = metadata_to_dict(metadata)
    provenance = tuple(document["provenance"])
    extra = {
        "table_id": metadata.id, "n_rows": table.n_rows, "version": publication.version, "detector": taking.detector,
        "event_selection": taking.event_selection, "columns": [c.name for c in metadata.columns],
        "metadata_url": base + "." + PRODUCTS["meta"].extension,
    }
    kinds = [kind for kind in EVENT_STREAMS if kind != "scs" or test_query is not None]
    items = []
    for kind in kinds:
        stream = EVENT_STREAMS[kind]
        product = products.get(kind, {})
        kind_extra = dict(extra)
        if kind == "csv":
            kind_extra["metadata_sha256"] = products["meta"]["sha256"]
        if kind == "scs":
            kind_extra["capability"] = cone_search_capability(settings, metadata.id, test_query)
        items.append(registry.Resource(
            kid=resource_kid(settings, kind, metadata.id),
            stream_kid=stream_kid(settings, kind),
            ktype=stream.ktype,
            title=f"{metadata.title} ({stream.label})",
            description=f"{publication.description} {table.n_rows} events, {taking.detector}.",
            media_type=stream.media_type,
            access_url=base + stream.suffix,
            size_bytes=product.get("size_bytes"),
            sha256=product.get("sha256"),
            coverage_start=taking.start,
            coverage_end=taking.stop,
            subject_id=metadata.id,
            info_url=base,
            provenance=provenance,
            creator=publication.owner,
            publisher=publication.publisher,
            license=publication.license,
            extra=kind_extra,
        ))
    return items


def register_table(conn: Connection, settings: Settings, table: EventTable, products: dict[str, dict],
                   test_query: dict | None) -> list[str]:
    """Register the table's resources and queue them for the ODC, in the caller's transaction; return their kids."""
    ensure_events_registry(conn, settings)
    items = table_resources(settings, table, products, test_query)
    registry.register(conn, items, destinations=(ODC_DESTINATION,))
    return [item.kid for item in items]
