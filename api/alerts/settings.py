"""What the alert domain needs to know of the configuration: built by the wiring, never read from the global settings."""

from __future__ import annotations

from dataclasses import dataclass

from hydroserve.codecs import voevent

from .packets import Authorship


@dataclass(frozen=True)
class AlertSettings:
    """Naming, authorship, detector sites and delivery of the alert packets.

    Parameters
    ----------
    collection : str
        KM3ResourceCollection kid of the alerts; their stream is ``<collection>_voevent``.
    ivorn_authority, ivorn_stream : str
        Packet IVORNs are ``ivo://<ivorn_authority>/<ivorn_stream>#<alert id>``.
    publisher : str
        ``Who/Author/title`` of the packets and publisher of their resources.
    contact_name, contact_email : str or None
        ``Who/Author`` contact of the packets.
    observatories : tuple of Observatory
        Detector sites; an alert's instrument starts with its site's name.
    public_url : str
        Base URL of this service, written into the resource records.
    destinations : tuple of str
        Outbox destinations every new packet is queued for (the ODC and each VTP broker).
    """

    collection: str
    ivorn_authority: str
    ivorn_stream: str
    publisher: str
    contact_name: str | None
    contact_email: str | None
    observatories: tuple[voevent.Observatory, ...]
    public_url: str
    destinations: tuple[str, ...]

    def __post_init__(self):
        if not self.destinations:
            raise ValueError(f"{self.destinations=} must name at least one outbox destination")

    @property
    def stream_kid(self) -> str:
        """The registry stream of the packets."""
        return f"{self.collection}_voevent"

    @property
    def author_ivorn(self) -> str:
        return f"ivo://{self.ivorn_authority}/{self.ivorn_stream}"

    @property
    def authorship(self) -> Authorship:
        """The ``Who`` of every packet."""
        return Authorship(self.author_ivorn, self.publisher, self.contact_name, self.contact_email)
