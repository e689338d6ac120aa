"""Registering published event tables as open-data resources.

The event tables form their own KM3ResourceCollection (``EventSettings.collection``)
with one KM3ResourceStream per way of getting a table:

``<collection>_csv``      the CSV table (its metadata file is linked from the resource)
``<collection>_hdf5``     the HDF5 file
``<collection>_votable``  the whole table as a VOTable
``<collection>_scs``      the table's IVOA Simple Cone Search service (only tables with sky positions)

Each table yields one KM3OpenResource per stream, kid ``<stream kid>_<table id>``,
written in the transaction that stores the table. Every URL in a record comes
from the templates of :mod:`hydroserve.api.urls`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from hydroserve.api import urls
from hydroserve.codecs import csvtable, hdf5table, table_metadata, tables
from hydroserve.codecs.tables import EventTable
from hydroserve.odc_sync import registry
from hydroserve.odc_sync.outbox import ODC_DESTINATION

from .settings import EventSettings

SCS_STANDARD_ID = "ivo://ivoa.net/std/ConeSearch"
TEST_QUERY_SR_DEG = 1.0


@dataclass(frozen=True)
class Product:
    """One stored format of a table: where it is served (a template of :mod:`~hydroserve.api.urls`) and as what."""

    url_template: str  # ends with "{table_id}.<extension>"
    media_type: str

    @property
    def extension(self) -> str:
        """The file-name extension, e.g. ``meta.json``."""
        return self.url_template.split("{table_id}.", 1)[1]


PRODUCTS = {
    "csv": Product(urls.TABLE_CSV, csvtable.MEDIA_TYPE),
    "meta": Product(urls.TABLE_METADATA, table_metadata.METADATA_MEDIA_TYPE),
    "hdf5": Product(urls.TABLE_HDF5, hdf5table.MEDIA_TYPE),
    "votable": Product(urls.TABLE_VOTABLE, tables.VOTABLE_MEDIA_TYPE),
}


@dataclass(frozen=True)
class EventStream:
    """How one kind of event-table resource is described."""

    media_type: str
    ktype: str
    label: str           # for resource titles
    title: str
    description: str


EVENT_STREAMS = {
    "csv": EventStream(PRODUCTS["csv"].media_type, "events.table.csv", "CSV", "Event tables as CSV",
                       "Particle-event tables as CSV, one row per event, each with a JSON metadata file"),
    "hdf5": EventStream(PRODUCTS["hdf5"].media_type, "events.table.hdf5", "HDF5", "Event tables as HDF5",
                        "Particle-event tables as HDF5: an events table, a human-readable header table, metadata attributes"),
    "votable": EventStream(PRODUCTS["votable"].media_type, "events.table.votable", "VOTable", "Event tables as VOTable",
                           "Particle-event tables as IVOA VOTable 1.4 with UCDs and units"),
    "scs": EventStream(tables.SCS_MEDIA_TYPE, "events.service.scs", "cone search", "Event cone searches",
                       "IVOA Simple Cone Search 1.03 services over the particle-event tables with sky positions"),
}


def events_collection(settings: EventSettings) -> registry.Collection:
    return registry.Collection(
        settings.collection,
        "Particle event tables",
        "Reconstructed particle events reduced to one row per event, published with provenance, parameter, "
        "data-taking and publication metadata as CSV, HDF5 and VOTable, and searchable through IVOA Simple Cone Search.",
    )


def stream_kid(settings: EventSettings, kind: str) -> str:
    return f"{settings.collection}_{kind}"


def resource_kid(settings: EventSettings, kind: str, table_id: str) -> str:
    return f"{stream_kid(settings, kind)}_{table_id}"


def table_url(settings: EventSettings, table_id: str) -> str:
    return urls.absolute(settings.public_url, urls.TABLE, table_id=table_id)


def product_url(settings: EventSettings, kind: str, table_id: str) -> str:
    """The URL of one stored format of a table (a key of :data:`PRODUCTS`)."""
    return urls.absolute(settings.public_url, PRODUCTS[kind].url_template, table_id=table_id)


def cone_search_url(settings: EventSettings, table_id: str) -> str:
    """The SCS base URL of a table (ends with '?': clients append RA=&DEC=&SR=)."""
    return urls.absolute(settings.public_url, urls.TABLE_CONE_SEARCH, table_id=table_id) + "?"


def cone_search_test_query(table: EventTable) -> dict | None:
    """A query that finds the table's first event (what the VO registry calls a test query); None without sky positions.

    It is the only part of a table's cone-search capability that depends on the data; the rest follows the
    current settings (:func:`cone_search_capability`)."""
    positions = table.metadata.position_columns
    if positions is None:
        return None
    ra_name, dec_name = positions
    return {"ra": float(table.data[ra_name][0]), "dec": float(table.data[dec_name][0]), "sr": TEST_QUERY_SR_DEG}


def cone_search_capability(settings: EventSettings, table_id: str, test_query: dict) -> dict:
    """The SCS capability of a table as the VO registry describes one, with the limits in force now."""
    return {
        "url": cone_search_url(settings, table_id),
        "standard_id": SCS_STANDARD_ID,
        "max_sr_deg": settings.scs_max_sr_deg,
        "max_records": settings.scs_max_records,
        "verbosity": True,
        "test_query": test_query,
    }


def ensure_events_registry(conn: Connection, settings: EventSettings) -> None:
    """Create the events collection and its streams if missing (in the caller's transaction)."""
    registry.ensure_collection(conn, events_collection(settings))
    for kind, stream in EVENT_STREAMS.items():
        registry.ensure_stream(conn, registry.Stream(stream_kid(settings, kind), settings.collection, stream.ktype,
                                                     stream.title, stream.description, stream.media_type))


def _access_url(settings: EventSettings, kind: str, table_id: str) -> str:
    return cone_search_url(settings, table_id) if kind == "scs" else product_url(settings, kind, table_id)


def table_resources(settings: EventSettings, table: EventTable, document: dict, products: dict[str, dict],
                    test_query: dict | None) -> list[registry.Resource]:
    """One resource per format of ``table`` (plus its cone search).

    Parameters
    ----------
    settings : EventSettings
    table : EventTable
    document : dict
        The canonical metadata document of the table (:func:`~hydroserve.codecs.table_metadata.metadata_to_dict`);
        its provenance steps (keyed ``id``) become the resources' provenance.
    products : dict
        The stored formats: kind -> ``{key, size_bytes, sha256}``.
    test_query : dict or None
        The cone search's test query; None: the table has no sky positions, hence no cone-search resource.
    """
    metadata = table.metadata
    publication, taking = metadata.publication, metadata.data_taking
    extra = {
        "table_id": metadata.id, "n_rows": table.n_rows, "version": publication.version, "detector": taking.detector,
        "event_selection": taking.event_selection, "columns": [c.name for c in metadata.columns],
        "metadata_url": product_url(settings, "meta", metadata.id),
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
            access_url=_access_url(settings, kind, metadata.id),
            size_bytes=product.get("size_bytes"),
            sha256=product.get("sha256"),
            coverage_start=taking.start,
            coverage_end=taking.stop,
            subject_id=metadata.id,
            info_url=table_url(settings, metadata.id),
            provenance=tuple(document["provenance"]),
            creator=publication.owner,
            publisher=publication.publisher,
            license=publication.license,
            extra=kind_extra,
        ))
    return items


def register_table(conn: Connection, settings: EventSettings, table: EventTable, document: dict,
                   products: dict[str, dict], test_query: dict | None) -> list[str]:
    """Register the table's resources and queue them for the ODC, in the caller's transaction; return their kids."""
    ensure_events_registry(conn, settings)
    items = table_resources(settings, table, document, products, test_query)
    registry.register(conn, items, destinations=(ODC_DESTINATION,))
    return [item.kid for item in items]
