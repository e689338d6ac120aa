"""What the event-table domain needs to know of the configuration, and nothing more."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class EventSettings:
    """The settings of the event-table domain, built by the wiring from the service configuration.

    Parameters
    ----------
    collection : str
        Kid of the KM3ResourceCollection of the event tables (``events_collection``).
    public_url : str
        Base URL the service is reached at, written into the resource records.
    max_rows : int
        Most events a published table may have (``events_max_rows``).
    scs_max_sr_deg : float
        Largest cone-search radius SR, degrees, in (0, 180] (``events_scs_max_sr_deg``).
    scs_max_records : int
        Most rows one cone-search response returns (``events_scs_max_records``).
    """

    collection: str
    public_url: str
    max_rows: int
    scs_max_sr_deg: float
    scs_max_records: int

    def __post_init__(self):
        if not self.collection:
            raise ValueError(f"{self.collection=} must not be empty")
        if self.max_rows < 1:
            raise ValueError(f"{self.max_rows=} must be at least 1")
        if not (math.isfinite(self.scs_max_sr_deg) and 0 < self.scs_max_sr_deg <= 180):
            raise ValueError(f"{self.scs_max_sr_deg=} must be in (0, 180] degrees")
        if self.scs_max_records < 1:
            raise ValueError(f"{self.scs_max_records=} must be at least 1")
