"""Prometheus metrics at ``/metrics``.

Two sources:

* HTTP request counts and latency histograms per endpoint, counted by the
  app. Under gunicorn every worker writes them to
  ``$PROMETHEUS_MULTIPROC_DIR`` (set by ``hydroserve serve``) and a scrape
  of any worker sums them all.
* Ingest and delivery state, read from the catalog at scrape time (so it is
  right whichever process did the work): packages and skipped windows per
  sensor, ingest lag behind real time, pending and failed outbox rows per destination
  and the age of the oldest pending row, a gauge histogram of the frame
  time-stamp deviations in each sensor's newest package, and the stored
  files found damaged (not matching their checksums) and repaired.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from itertools import accumulate

from flask import Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from hydroserve.acoustics import catalog_by_sensor, integrity
from hydroserve.codecs.raw import TICKS_PER_SECOND
from hydroserve.odc_sync import outbox

from .blueprint import Blueprint
from .services import services

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__, description="Prometheus metrics")
disable_created_metrics()

REQUESTS = Counter("hydroserve_http_requests", "HTTP requests answered", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "hydroserve_http_request_duration_seconds", "Time to answer an HTTP request (until the body starts streaming)",
    ["endpoint"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def start_timer() -> None:
    g.request_started = time.perf_counter()


def record(response: Response) -> Response:
    endpoint = request.endpoint or "unmatched"
    started = g.pop("request_started", None)
    if started is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    return response


class CatalogCollector:
    """Gauges computed from the catalog when scraped."""

    def __init__(self, engine):
        self.engine = engine

    def collect(self):
        now = datetime.now(UTC)
        packages = GaugeMetricFamily("hydroserve_packages", "Data packages in the archive", labels=["sensor"])
        skipped = GaugeMetricFamily("hydroserve_skipped_windows", "Windows with data not kept (too little coverage)", labels=["sensor"])
        lag = GaugeMetricFamily("hydroserve_ingest_lag_seconds", "Now minus the end of the newest package", labels=["sensor"])
        outbox_rows = GaugeMetricFamily("hydroserve_outbox_rows", "Outbox rows still to deliver (pending) or refused (failed)",
                                        labels=["destination", "state"])
        oldest = GaugeMetricFamily("hydroserve_outbox_oldest_pending_seconds", "Age of the oldest pending outbox row",
                                   labels=["destination"])
        deviation_max = GaugeMetricFamily(
            "hydroserve_frame_timestamp_deviation_max_ns", "Largest absolute deviation of a frame time stamp from the "
            "exact continuation of its run (within the timing tolerance) in the sensor's newest package", labels=["sensor"])
        deviations = DeviationHistogram()
        with self.engine.connect() as conn:
            for summary in catalog_by_sensor.sensor_summaries(conn):
                sensor = str(summary.sensor)
                packages.add_metric([sensor], summary.n_packages)
                skipped.add_metric([sensor], summary.n_skipped)
                if summary.last_tick is not None:
                    lag.add_metric([sensor], now.timestamp() - summary.last_tick / TICKS_PER_SECOND)
            for sensor, stats in catalog_by_sensor.newest_timestamp_deviations(conn).items():
                deviation_max.add_metric([sensor], stats["max_abs_ns"])
                deviations.add(sensor, stats)
            counts = outbox.counts(conn, (outbox.PENDING, outbox.FAILED))
            for (destination, state), rows in counts.items():
                outbox_rows.add_metric([destination, state], rows)
            pending = [destination for destination, state in counts if state == outbox.PENDING]
            for destination, created in outbox.oldest_pending(conn, pending).items():
                oldest.add_metric([destination], (now - created).total_seconds())
            damage = integrity.damage_counts(conn)
        damaged_blobs = GaugeMetricFamily("hydroserve_damaged_blobs", "Stored files that did not match their checksums: "
                                          "damaged now (served as 503 or made again), or repaired", labels=["state"])
        damaged_blobs.add_metric(["damaged"], damage["damaged_blobs"])
        damaged_blobs.add_metric(["repaired"], damage["repaired_blobs"])
        damaged_packages = GaugeMetricFamily("hydroserve_damaged_packages", "Packages with a stored file damaged now",
                                             value=damage["damaged_packages"])
        yield from (packages, skipped, lag, outbox_rows, oldest, deviation_max, deviations.family(), damaged_blobs,
                    damaged_packages)


class DeviationHistogram:
    """The frame time-stamp deviations of every sensor's newest package in one gauge histogram (their buckets added):
    one series for the whole detector, where a histogram per sensor would be 13 series each."""

    def __init__(self):
        self.edges: list | None = None
        self.counts: list[int] = []
        self.sum_abs_ns = 0

    def add(self, sensor: str, stats: dict) -> None:
        """Add the ``input_timestamp_deviation`` of ``sensor``'s newest package (its raw product's details)."""
        histogram = stats["histogram_abs_ns"]
        if self.edges is None:
            self.edges, self.counts = histogram["le"], [0] * len(histogram["le"])
        if histogram["le"] != self.edges:  # the cutter's constants: buckets of other edges cannot be added
            log.warning("metrics: the frame deviation histogram of %s's newest package has the bucket edges %s, not %s: "
                        "left out of hydroserve_frame_timestamp_deviation_ns", sensor, histogram["le"], self.edges)
            return
        self.counts = [n + m for n, m in zip(self.counts, histogram["counts"])]
        self.sum_abs_ns += stats["sum_abs_ns"]

    def family(self) -> GaugeHistogramMetricFamily:
        family = GaugeHistogramMetricFamily(
            "hydroserve_frame_timestamp_deviation_ns",
            "Absolute deviation of frame time stamps from the exact continuation of their run (within the timing "
            "tolerance), over the frames of every sensor's newest package", labels=[])
        if self.edges is not None:
            family.add_metric([], [(str(le), n) for le, n in zip(self.edges, accumulate(self.counts))], self.sum_abs_ns)
        return family


@bp.route("/metrics")
@bp.doc(responses={"200": {"description": "Prometheus text exposition format 1.0.0 (one charset in the Content-Type)",
                           "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics():
    """Prometheus text exposition."""
    scrape = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(scrape)
    else:
        for collector in (REQUESTS, LATENCY):
            scrape.register(collector)
    scrape.register(CatalogCollector(services().engine))
    return Response(generate_latest(scrape), content_type=CONTENT_TYPE_LATEST)  # it names its charset already

