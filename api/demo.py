"""``hydroserve demo``: the whole service on the embedded default, fed by a synthetic live stream.

One command publishes the sample event table and alert, then starts, in this process, a synthetic DAQ writing ADF files into
the spool directory in real time (after back-filling the last minute), the
ingest following that directory and, when ``odc_url`` is set, the ODC push;
and, as a child process, the API under gunicorn. Ctrl-C or SIGTERM stops everything, in bounded time. Data lives in
``./demo-data`` unless ``HYDROSERVE_DATA_DIR`` says otherwise, and survives restarts.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from importlib.resources import files

from hydroserve.acoustics import sensors as sensor_metadata
from hydroserve.api.alerts import submission
from hydroserve.api.events import publishing
from hydroserve.odc_sync import sync
from hydroserve.samples import events as sample_events

from . import ingest_worker, single_writer, stop_signals, urls, wiring
from .config import Settings, settings_env

log = logging.getLogger(__name__)

DEMO_TOKEN = "hydroserve-demo-token"
SERVER_STOP_S = 60.0  # after Ctrl-C, the API server's time to stop before it is killed
THREAD_STOP_S = 10.0  # and each of the demo's threads' (synthetic DAQ, ingest, sync)
EXIT_MARGIN_S = 30.0  # then the interpreter's exit; a stop longer than all these: stacks dumped to the log, status 1
DEMO_DEFAULTS = {
    "data_dir": "./demo-data",
    "snippet_duration_s": "10",
    "snippet_interval_s": 10,
    "spool_settle_s": 5.0,
    "poll_interval_s": 0.5,
    # the demo detector: 456 sensors on 24 strings (samples/detector.py), three of them live
    "sensors_file": str(files("hydroserve.samples") / "detector.toml"),
    # the synthetic sea (sea state 2, moderate shipping) is about 99 dB re 1 uPa rms, most of it shipping noise below
    # 100 Hz: at this full scale the demo's MP3 background sits near -37 dBFS
    "mp3_full_scale_db_re_1upa": 136.0,
    # a bounded disk (issue 16): finished spool files go, the samples are kept 2 minutes, MP3s and PSDs 15 minutes
    # (see the README for the measured size after an hour)
    # spectrograms and LTSA on one colour scale per sensor type: the synthetic sea spans about 30..80 dB re 1 uPa^2/Hz
    # at the calibrated piezos and about -140..-90 dB re 1 (sample unit)^2/Hz at the uncalibrated hydrophone
    "colour_scales": {"spectrogram": {"piezo": [25, 85], "hydrophone": [-145, -85]}, "ltsa": {"piezo": [25, 85], "hydrophone": [-145, -85]}},
    "spool_done": "delete",
    "retention_days": {"samples": 2 / 1440, "mp3": 15 / 1440, "psd": 15 / 1440},
    "retention_interval_s": 30.0,
    # write endpoints need a bearer token; the demo's is fixed and public (the README's POST examples use it), so
    # the demo is for a loopback address only: a real service sets api_tokens of its own
    "api_tokens": DEMO_TOKEN,
}


def publish_samples(settings: Settings, engine) -> None:
    """Publish the sample event table and post the sample alert (both idempotent), so every service has data."""
    from hydroserve.api.alerts.input import AlertInputSchema

    from .db import writer

    samples = files("hydroserve.samples")
    publishing.publish(
        writer(engine), wiring.open_blobs(settings), wiring.event_settings(settings),
        (samples / "events" / "synthetic_arca_2023.csv").read_bytes(),
        (samples / "events" / "synthetic_arca_2023.meta.json").read_bytes(),
    )
    alert = AlertInputSchema().load(json.loads((samples / "alert_example.json").read_text()))
    submission.submit(writer(engine), wiring.alert_settings(settings), alert)


def _ingest(settings: Settings, engine, stop: threading.Event) -> None:
    """The demo's ingest worker; the demo stops if another ingest writer holds its SQLite catalog."""
    try:
        ingest_worker.run(settings, engine, stop=stop)
    except single_writer.WriterBusy as error:
        log.error("hydroserve demo: %s", error)
        stop.set()


def _calibrated_as(calibration: sensor_metadata.Calibration | None) -> dict:
    """The synthetic signal of a calibrated sensor is made with its calibration offset now (flat: a sensitivity curve
    would be applied at 1 kHz), so that its levels come out in uPa as the synthetic sea was made."""
    return {} if calibration is None else {"offset_db": calibration.at(time.time()).offset_db}


def _token_note(settings: Settings) -> str:
    if settings.api_tokens == (DEMO_TOKEN,):
        return f"{DEMO_TOKEN} (the demo's fixed, public token: Authorization: Bearer {DEMO_TOKEN})"
    return "one of api_tokens (set by you)" if settings.api_tokens else "none: set api_tokens to enable the POST endpoints"


def run_demo(settings: Settings, *, backfill_s: float = 60.0) -> int:
    with stop_signals.stop_event(signal.SIGINT, signal.SIGTERM) as stop:
        return _run(settings, stop, backfill_s)


def _run(settings: Settings, stop: threading.Event, backfill_s: float) -> int:
    from hydroserve.samples.detector import LIVE_SENSORS  # the samples are the demo's alone: imported when it runs
    from hydroserve.samples.live import LiveSpoolWriter
    from hydroserve.samples.synthetic import SyntheticSensor

    # the sensors file's sensors that the synthetic DAQ feeds (the others of the demo detector have no data); a sensors
    # file of one's own without the demo's live sensors has all of its sensors fed
    known = sensor_metadata.load(settings.sensors_file).sensors
    live = sorted(sensor for sensor in known if str(sensor) in LIVE_SENSORS) or sorted(known)
    sources = [SyntheticSensor(sensor, seed=index, **_calibrated_as(known[sensor].calibration))
               for index, sensor in enumerate(live)]
    writer = LiveSpoolWriter(settings.spool_dir, sources, backfill_s=backfill_s)
    engine = wiring.init_catalog(settings)
    publish_samples(settings, engine)
    threads = [
        threading.Thread(target=writer.run, args=(stop,), name="synthetic-daq", daemon=True),
        threading.Thread(target=_ingest, args=(settings, engine, stop), name="ingest", daemon=True),
    ]
    deliverers = wiring.deliverers(settings, engine)
    if deliverers:
        threads.append(threading.Thread(target=sync.run, args=(deliverers,), kwargs={"poll_interval_s": settings.poll_interval_s, "stop": stop},
                                        name="sync", daemon=True))
    for thread in threads:
        thread.start()
    server = subprocess.Popen([sys.executable, "-m", "hydroserve.api.cli", "serve"], env={**os.environ, **settings_env(settings)})
    url = settings.public_url
    print(
        f"\nhydroserve demo: {len(sources)} synthetic sensors, {settings.snippet_duration_s} s packages every "
        f"{settings.snippet_interval_s} s, data in {settings.data_dir}\n"
        f"  web page     {url}/\n"
        f"  packages     {urls.absolute(url, urls.PACKAGES)}\n"
        f"  sensors      {urls.absolute(url, urls.SENSORS)}\n"
        f"  event table  {urls.absolute(url, urls.TABLE, table_id=sample_events.TABLE_ID)}\n"
        f"  alerts       {urls.absolute(url, urls.ALERTS)}\n"
        f"  API docs     {urls.absolute(url, urls.DOCS)}\n"
        f"  write token  {_token_note(settings)}\n"
        f"The command line on this demo's archive: HYDROSERVE_DATA_DIR={settings.data_dir} "
        f"HYDROSERVE_PUBLIC_URL={url} hydroserve ...\n"
        "Ctrl-C stops.\n",
        flush=True,
    )
    while not stop.is_set() and server.poll() is None:
        stop.wait(0.5)
    # a stop that hangs is cut short, with every thread's stack in the log (a hang would otherwise be silent)
    faulthandler.dump_traceback_later(SERVER_STOP_S + len(threads) * THREAD_STOP_S + EXIT_MARGIN_S, exit=True)
    stop.set()
    server.send_signal(signal.SIGINT)  # gunicorn's quick shutdown: a graceful one waits for idle keep-alive connections
    try:
        server.wait(timeout=SERVER_STOP_S)
    except subprocess.TimeoutExpired:
        log.error("hydroserve demo: the API server did not stop within %g s: killed", SERVER_STOP_S)
        server.kill()
        server.wait()
    for thread in threads:
        thread.join(timeout=THREAD_STOP_S)
        if thread.is_alive():
            log.error("hydroserve demo: thread %s did not stop within %g s", thread.name, THREAD_STOP_S)
    return 0 if server.returncode in (0, -signal.SIGINT, -signal.SIGTERM) else 1
