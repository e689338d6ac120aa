"""The archive's write side: a snippet becomes a visible package, atomically.

Publishing a snippet

1. writes its blobs durably (temporary file, fsync, rename; see
   :mod:`.blobstore`): invisible until step 2 commits; the samples as FLAC
   only once decoded bit for bit (:mod:`.sample_storage`); the samples and
   each product are made side by side, on as many threads as the process may
   use CPUs;
2. in one catalog transaction inserts the package and product rows, moves
   the sensor's resume cursor past the window, counts the package in the
   sensor's row (:mod:`.catalog_by_sensor`) and calls the injected
   ``registrar(conn, record)`` (which writes the open-data resources and
   outbox rows in the same transaction).

A crash between 1 and 2 leaves only blobs nobody points to; storing the
same snippet again rewrites identical bytes and commits. Package ids depend
only on sensor and window, so re-ingesting the same input changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from hydroserve.codecs import SOFTWARE_VERSION
from hydroserve.codecs.raw import SensorId

from . import catalog, catalog_by_sensor, product_keys, products, sample_storage
from .blobstore import BlobStore
from .calibration import in_force
from .cutter import CutSettings, SkippedWindow, Snippet
from .psd import available_cpus
from .sensors import SensorCatalog

log = logging.getLogger(__name__)

Registrar = Callable[[Connection, catalog.PackageRecord], None]
Fence = Callable[[Connection, SensorId], None]


class Archive:
    """Writes packages into the catalog and blob store.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    blobs : BlobStore
    cut_settings : CutSettings
        Recorded with every package (provenance) and used for the cursor.
    product_settings : ProductSettings
    sensor_catalog : SensorCatalog
        Calibration for the /psd document made at ingest.
    registrar : callable, optional
        ``registrar(conn, record)``, called inside each package's transaction.
    fence : callable, optional
        ``fence(conn, sensor)``, called first in every transaction that archives or skips a window of ``sensor``;
        it raises (e.g. :class:`~.leases.LeaseLost`) when this writer may no longer write that sensor, which rolls
        the transaction back.
    """

    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        *,
        cut_settings: CutSettings,
        product_settings: products.ProductSettings,
        sensor_catalog: SensorCatalog | None = None,
        registrar: Registrar | None = None,
        fence: Fence | None = None,
    ):
        self.engine = engine
        self.blobs = blobs
        self.cut_settings = cut_settings
        self.product_settings = product_settings
        self.sensor_catalog = sensor_catalog or SensorCatalog()
        self.registrar = registrar
        self.fence = fence

    def cursor(self, sensor: SensorId) -> int | None:
        """Start of the first window of ``sensor`` that is not final yet (None: nothing archived)."""
        with self.engine.connect() as conn:
            return catalog.cursor(conn, sensor)

    def store(self, snippet: Snippet) -> catalog.PackageRecord | None:
        """Archive a snippet; return its record, or None if the package already exists."""
        pid = snippet.package_id
        with self.engine.connect() as conn:
            self._check_fence(conn, snippet.sensor)  # a writer that lost the sensor writes no blobs either
            if catalog.package_exists(conn, pid):
                log.info("%s: already archived, nothing to do", pid)
                return None
        calibration = in_force(self.sensor_catalog.info(snippet.sensor).calibration, snippet.boundary_tick)
        prefix = product_keys.package_prefix(pid, snippet.sensor, snippet.boundary_tick)
        with ThreadPoolExecutor(max_workers=available_cpus(), thread_name_prefix=f"build-{pid}") as executor:
            storing = executor.submit(sample_storage.store, snippet.samples, prefix=prefix, package_id=pid,
                                      start_tick=snippet.start_tick, storage=self.product_settings.samples_storage,
                                      blobs=self.blobs)
            built = products.build(snippet, self.product_settings, self.blobs, calibration, executor)
            stored = storing.result()
        if stored.flac_product is not None:
            built.append(stored.flac_product)
        record = catalog.PackageRecord(
            sensor=snippet.sensor,
            boundary_tick=snippet.boundary_tick,
            window_end_tick=snippet.window_end_tick,
            n_expected=snippet.n_expected,
            runs=snippet.runs,
            window_size=snippet.window_size,
            samples_key=stored.key,
            sources=tuple(Path(source).name for source in snippet.sources),
            settings={**self.package_settings(), "samples_stored_as": stored.as_json()},
            software_version=SOFTWARE_VERSION,
            created_at=datetime.now(UTC),
            products={p.kind: p for p in built},
        )
        with self.engine.begin() as conn:
            self._check_fence(conn, snippet.sensor)
            if catalog.package_exists(conn, pid):
                return None
            self._advance_cursor(conn, snippet.sensor, snippet.boundary_tick)
            conn.execute(insert(catalog.packages).values(catalog.package_row(record)))
            catalog_by_sensor.count_package(conn, record)
            conn.execute(insert(catalog.products), catalog.product_rows(record))
            if self.registrar is not None:
                self.registrar(conn, record)
        return record

    def skip(self, window: SkippedWindow) -> None:
        """Record a window that is not kept (counted in its sensor's row), and move the cursor past it."""
        with self.engine.begin() as conn:
            self._check_fence(conn, window.sensor)
            self._advance_cursor(conn, window.sensor, window.boundary_tick)
            exists = conn.execute(
                select(catalog.skipped_windows.c.boundary_tick).where(
                    catalog.skipped_windows.c.sensor_id == str(window.sensor),
                    catalog.skipped_windows.c.boundary_tick == window.boundary_tick,
                )
            ).first()
            if exists is None:
                conn.execute(
                    insert(catalog.skipped_windows).values(
                        sensor_id=str(window.sensor),
                        boundary_tick=window.boundary_tick,
                        n_samples=window.n_samples,
                        n_expected=window.n_expected,
                        reason=window.reason,
                        recorded_at=datetime.now(UTC),
                    )
                )
                catalog_by_sensor.count_skipped_window(conn, str(window.sensor))

    def _check_fence(self, conn: Connection, sensor: SensorId) -> None:
        if self.fence is not None:
            self.fence(conn, sensor)

    def _advance_cursor(self, conn: Connection, sensor: SensorId, boundary_tick: int) -> None:
        next_boundary = boundary_tick + self.cut_settings.interval_ticks
        current = conn.execute(
            select(catalog.sensors.c.next_boundary_tick).where(catalog.sensors.c.sensor_id == str(sensor))
        ).first()
        if current is None:
            conn.execute(
                insert(catalog.sensors).values(
                    sensor_id=str(sensor), dom_id=sensor.dom_id, channel=sensor.channel, next_boundary_tick=next_boundary
                )
            )
        elif current.next_boundary_tick is None or current.next_boundary_tick < next_boundary:
            conn.execute(
                update(catalog.sensors)
                .where(catalog.sensors.c.sensor_id == str(sensor))
                .values(next_boundary_tick=next_boundary)
            )

    def package_settings(self) -> dict:
        """The settings a package archived now records (before how its samples are stored): cut and products."""
        cut = self.cut_settings
        return {
            "snippet_duration_s": str(cut.duration_s),
            "snippet_interval_s": cut.interval_s,
            "min_coverage": cut.min_coverage,
            "timing_tolerance_ticks": cut.timing_tolerance_ticks,
            **self.product_settings.as_json(),
        }
