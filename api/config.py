"""Configuration: defaults, then a TOML file, then ``HYDROSERVE_*`` environment variables.

Every key can be set in the TOML file (``--config FILE``, top-level keys as
named below) and overridden by the environment variable ``HYDROSERVE_<KEY>``
(upper case). Lists are TOML arrays or comma-separated in the environment.
Invalid values stop the program at start with a message naming the key and
where it came from.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, validate
from marshmallow import fields as mf

from hydroserve.acoustics import sensors
from hydroserve.acoustics.cutter import CutSettings
from hydroserve.acoustics.loudness import LoudnessPolicy
from hydroserve.acoustics.product_settings import ProductSettings
from hydroserve.acoustics.retention import RETENTION_CLASSES, RetentionPolicy
from hydroserve.acoustics.sample_storage import SAMPLES_STORAGE_CHOICES
from hydroserve.acoustics.stream import DEFAULT_TOLERANCE_TICKS
from hydroserve.codecs import mp3, raw, voevent
from hydroserve.odc_sync.vtp import Broker

from .config_fields import BlobUrl, Brokers, ColourScales, Duration, Observatories, RetentionDays, StringList
from .validation import described, matching

ENV_PREFIX = "HYDROSERVE_"
SPOOL_DONE_ERROR = "Must be keep, delete or move:<dir>."


class ConfigError(ValueError):
    """Invalid configuration; the message names the key and its source."""


_RETENTION_CLASSES_TEXT = ", ".join(f"{name} ({'/'.join(kinds)})" for name, kinds in RETENTION_CLASSES.items())


class SettingsSchema(Schema):
    """The configuration keys; the description of each is printed by ``hydroserve config``."""

    data_dir = mf.String(load_default="./data", **described("where the catalog (SQLite), blobs and spool live"))
    database_url = mf.String(load_default=None, allow_none=True, **described("SQLAlchemy URL; default sqlite:///<data_dir>/catalog.sqlite"))
    blob_url = BlobUrl(load_default=None, allow_none=True, **described(
        "where the blobs live: s3://<bucket>/<prefix> in an S3-compatible object store (credentials and region from the "
        "AWS_* variables and ~/.aws files); unset: the local folder <data_dir>/blobs"))
    s3_endpoint_url = mf.String(load_default=None, allow_none=True, validate=validate.URL(require_tld=False), **described(
        "S3 endpoint of blob_url; unset: AWS_ENDPOINT_URL, the AWS configuration, else AWS itself"))
    s3_serve = mf.String(load_default="stream", validate=validate.OneOf(["stream", "redirect"]), **described(
        "with blob_url: stream products through the app (every chunk checked as it is sent), or check a stored file "
        "whole and answer 307 to a presigned URL of its object (raw and WAV, made from the samples, always stream)"))
    s3_presign_expiry_s = mf.Integer(load_default=300, validate=validate.Range(min=1, max=7 * 86400), **described(
        "s3_serve = redirect: how long a presigned URL is valid"))
    database_busy_timeout_s = mf.Float(load_default=10.0, validate=validate.Range(min=0, max=600), **described(
        "how long a writer waits for the write lock (SQLite busy timeout, PostgreSQL lock_timeout)"))
    spool_dir = mf.String(load_default=None, allow_none=True, **described("where the DAQ drops ADF files; default <data_dir>/spool"))
    snippet_duration_s = Duration(load_default=Fraction(300), **described(
        "length of a data package in seconds: package k holds exactly the samples whose times lie in [B_k, B_k + duration)"))
    snippet_interval_s = mf.Integer(load_default=300, validate=validate.Range(min=1), **described("whole seconds between package starts B_k = k * interval (equal to the duration: every sample in exactly one package)"))
    min_coverage = mf.Float(load_default=0.9, validate=validate.Range(min=0, max=1, min_inclusive=False), **described("minimum fraction of samples for a package to be kept"))
    timing_tolerance_ticks = mf.Integer(load_default=DEFAULT_TOLERANCE_TICKS, validate=validate.Range(min=0, max=159), **described(
        "a frame starting within this many 16 ns ticks of its predecessor's end continues the run on its sample grid "
        "(deviation measured and reported); beyond it: a gap or an overlap. 0..159 (below half a sample)"))
    adf_frame_length = mf.Integer(load_default=raw.DEFAULT_FRAME_LENGTH, validate=validate.Range(min=1, max=2**26), **described("samples per ADF frame"))
    collection = mf.String(load_default="acoustic20_01", validate=matching(r"^[A-Za-z0-9_]{1,64}$"), **described("KM3ResourceCollection kid"))
    sensors_file = mf.String(load_default=None, allow_none=True, **described("TOML file of sensor metadata and calibration"))
    max_future_s = mf.Float(load_default=3600.0, validate=validate.Range(min=0), **described("frames starting further in the future are rejected"))
    spool_settle_s = mf.Float(load_default=30.0, validate=validate.Range(min=0), **described("a spool file unchanged this long is finished"))
    spool_done = mf.String(load_default="keep", validate=matching(r"^(keep|delete|move:.+)$", error=SPOOL_DONE_ERROR), **described(
        "what happens to a spool file once every frame of it is final (archived or skipped, the sensor's cursor past "
        "its end): keep, delete, or move:<dir>. Never before; the newest file of a sensor and refused files are kept"))
    retention_days = RetentionDays(load_default=None, allow_none=True, **described(
        "days each retention class is kept after its package was archived, or \"forever\" (the default for every class): "
        + _RETENTION_CLASSES_TEXT + "; expired products answer 410"))
    retention_interval_s = mf.Float(load_default=3600.0, validate=validate.Range(min=1), **described(
        "how often the ingest worker applies retention_days"))
    poll_interval_s = mf.Float(load_default=2.0, validate=validate.Range(min=0.01), **described("spool polling period"))
    ingest_lease_s = mf.Float(load_default=15.0, validate=validate.Range(min=1, max=3600), **described(
        "PostgreSQL catalog: an ingest worker's sensor leases last this long without a heartbeat (renewed every third "
        "of it); the sensors of a worker that died go to the others within this time plus one poll_interval_s"))
    reprocess_attempts = mf.Integer(load_default=5, validate=validate.Range(min=1), **described(
        "executions of a reprocessing job that a catalog or storage error may end before the job fails"))
    reprocess_retry_s = mf.Float(load_default=30.0, validate=validate.Range(min=0.01), **described(
        "wait before a reprocessing job ended by a catalog or storage error is tried again; doubles per attempt, at most 1 h"))
    mp3_bit_rate_kbps = mf.Integer(load_default=128, validate=validate.OneOf(mp3.BIT_RATES_KBPS), **described("MP3 constant bit rate"))
    mp3_quality = mf.Integer(load_default=7, validate=validate.Range(min=0, max=9), **described("LAME quality, 0 best .. 9 fastest"))
    mp3_full_scale_db_re_1upa = mf.Float(load_default=LoudnessPolicy.full_scale_db_re_1upa, validate=validate.Range(min=0, max=300), **described(
        "MP3 loudness of calibrated sensors: this peak sound pressure (dB re 1 uPa) is int16 full scale; a fixed gain per sensor"))
    mp3_full_scale_sample_units = mf.Float(load_default=LoudnessPolicy.full_scale_sample_units, validate=validate.Range(min=0, min_inclusive=False), **described(
        "MP3 loudness of uncalibrated sensors: this sample value is int16 full scale; a fixed gain per sensor"))
    mp3_limiter_knee_dbfs = mf.Float(load_default=LoudnessPolicy.knee_dbfs, validate=validate.Range(min=-60, max=-3, max_inclusive=False), **described(
        "MP3 soft-limiter knee (dB re full scale): louder samples are compressed by tanh towards -3 dBFS, never clipped"))
    psd_nfft = mf.Integer(load_default=8192, validate=validate.Range(min=16, max=2**20), **described("Welch segment length for the ingest PSD"))
    samples_storage = mf.String(load_default="auto", validate=validate.OneOf(SAMPLES_STORAGE_CHOICES), **described(
        "auto: store a package's samples as 24-bit FLAC (verified bit for bit) when every sample is an exact 24-bit ADC "
        "count, else float32; float32: always float32"))
    colour_scales = ColourScales(load_default=None, allow_none=True, **described(
        "fixed colour ranges [low, high] in dB of the pictures per sensor type, e.g. {spectrogram = {piezo = [-10, 40], "
        "hydrophone = [20, 80], unknown = [-120, -60]}, ltsa = {...}} (env: the same as JSON), in the picture's unit "
        "(dB re 1 uPa^2/Hz when calibrated); a picture or type not named is auto-scaled"))
    view_cache_dir = mf.String(load_default=None, allow_none=True, **described(
        "a folder on this node's local disk where whole /raw and /wav views are kept as files, sent by the kernel "
        "(sendfile) instead of being made from the stored samples per request; default <data_dir>/view-cache"))
    view_cache_bytes = mf.Integer(load_default=4_000_000_000, validate=validate.Range(min=0), **described(
        "room for the view cache (the oldest views made go first); 0: no view cache"))
    bind = mf.String(load_default="127.0.0.1:8000", **described("gunicorn bind address"))
    workers = mf.Integer(load_default=2, validate=validate.Range(min=1, max=64), **described("gunicorn worker processes"))
    worker_class = mf.String(load_default="gevent", validate=validate.OneOf(["gevent", "gthread"]), **described(
        "gunicorn worker class: gevent (one greenlet per connection, so slow or idle clients cost no thread) or gthread "
        "(a thread per connection being read: a few slow clients can hold every thread)"))
    worker_connections = mf.Integer(load_default=1000, validate=validate.Range(min=1, max=100_000), **described(
        "gevent: most connections one worker holds at once"))
    threads = mf.Integer(load_default=4, validate=validate.Range(min=1, max=256), **described("gthread: threads per gunicorn worker"))
    keepalive_s = mf.Integer(load_default=5, validate=validate.Range(min=1, max=300), **described(
        "an idle keep-alive connection is closed after this many seconds; gevent: also the time a client has to send a "
        "request's headers, and to finish a body the application did not read, before it is dropped"))
    timeout_s = mf.Integer(load_default=60, validate=validate.Range(min=1), **described(
        "gunicorn worker timeout: a worker silent this long is restarted (gevent: a request computing this long blocks it)"))
    public_url = mf.String(load_default=None, allow_none=True, **described("base URL of this service in resource links; default http://<bind>"))
    api_tokens = StringList(load_default=(), **described("bearer tokens accepted by write endpoints"))
    odc_url = mf.String(load_default=None, allow_none=True, validate=validate.URL(require_tld=False), **described("Open Data Center base URL; unset: no push"))
    odc_token = mf.String(load_default=None, allow_none=True, **described("bearer token for the ODC"))
    odc_path_template = mf.String(load_default="/resources/{kid}", validate=matching(r"^/.*\{kid\}"), **described("path of a resource under odc_url"))
    odc_timeout_s = mf.Float(load_default=10.0, validate=validate.Range(min=0.1), **described("timeout of one ODC request"))
    oai_repository_id = mf.String(load_default="hydroserve.km3net.org", validate=matching(r"^[A-Za-z0-9.-]+$"), **described("OAI-PMH repository identifier (oai:<id>:<kid>)"))
    oai_page_size = mf.Integer(load_default=100, validate=validate.Range(min=1, max=1000), **described("records per OAI-PMH list response"))
    admin_email = mf.String(load_default="opendata@km3net.de", **described("contact in OAI-PMH Identify"))
    log_format = mf.String(load_default="text", validate=validate.OneOf(["text", "json"]), **described("log lines as text or one JSON object per line"))
    log_level = mf.String(load_default="INFO", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]), **described("log level"))
    alert_collection = mf.String(load_default="alerts_01", validate=matching(r"^[A-Za-z0-9_]{1,64}$"), **described("KM3ResourceCollection kid of the neutrino alerts"))
    alert_ivorn_authority = mf.String(load_default="km3net.org", validate=matching(r"^[A-Za-z0-9][A-Za-z0-9.~_-]{2,63}$"), **described("IVOA authority of alert IVORNs: ivo://<authority>/<stream>#<alert id>"))
    alert_ivorn_stream = mf.String(load_default="alerts", validate=matching(r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$"), **described("resource key of alert IVORNs (may contain /)"))
    alert_publisher = mf.String(load_default="KM3NeT Collaboration", validate=validate.Length(min=1, max=200), **described("Who/Author/title of alert packets"))
    alert_contact_name = mf.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200), **described("Who/Author/contactName of alert packets"))
    alert_contact_email = mf.String(load_default=None, allow_none=True, validate=validate.Email(), **described("Who/Author/contactEmail of alert packets"))
    alert_observatories = Observatories(
        load_default=(voevent.Observatory("ARCA", 16.1, 36.2667, -3500.0), voevent.Observatory("ORCA", 6.0333, 42.8, -2450.0)),
        **described("detector sites NAME:lon_deg:lat_deg:height_m; an alert's instrument starts with its site's NAME"))
    vtp_brokers = Brokers(load_default=(), **described("VTP brokers host:port that alerts are published to"))
    vtp_timeout_s = mf.Float(load_default=10.0, validate=validate.Range(min=0.1, max=600), **described("limit for one VTP exchange (connect, send, ack)"))
    vtp_retry_base_s = mf.Float(load_default=5.0, validate=validate.Range(min=0.01), **described("first VTP retry delay; doubles per failed attempt"))
    vtp_retry_max_s = mf.Float(load_default=900.0, validate=validate.Range(min=0.01), **described("longest VTP retry delay"))
    events_collection = mf.String(load_default="events20_01", validate=matching(r"^[A-Za-z0-9_]{1,64}$"), **described("KM3ResourceCollection kid of the event tables"))
    events_max_rows = mf.Integer(load_default=1_000_000, validate=validate.Range(min=1), **described("most events a published table may have"))
    events_scs_max_sr_deg = mf.Float(load_default=180.0, validate=validate.Range(min=0, max=180, min_inclusive=False), **described("largest cone-search radius SR in degrees (180: no limit)"))
    events_scs_max_records = mf.Integer(load_default=10_000, validate=validate.Range(min=1, max=1_000_000), **described("most rows one cone-search response returns (MAXREC is capped here)"))


@dataclass(frozen=True)
class Settings:
    """Validated configuration (see :class:`SettingsSchema` for the meaning of each field)."""

    data_dir: Path
    database_url: str
    blob_url: str | None
    s3_endpoint_url: str | None
    s3_serve: str
    s3_presign_expiry_s: int
    database_busy_timeout_s: float
    spool_dir: Path
    snippet_duration_s: Fraction
    snippet_interval_s: int
    min_coverage: float
    timing_tolerance_ticks: int
    adf_frame_length: int
    collection: str
    sensors_file: Path | None
    max_future_s: float
    spool_settle_s: float
    spool_done: str
    retention_days: dict
    retention_interval_s: float
    poll_interval_s: float
    ingest_lease_s: float
    reprocess_attempts: int
    reprocess_retry_s: float
    mp3_bit_rate_kbps: int
    mp3_quality: int
    mp3_full_scale_db_re_1upa: float
    mp3_full_scale_sample_units: float
    mp3_limiter_knee_dbfs: float
    psd_nfft: int
    samples_storage: str
    colour_scales: dict
    view_cache_dir: Path
    view_cache_bytes: int
    bind: str
    workers: int
    worker_class: str
    worker_connections: int
    threads: int
    keepalive_s: int
    timeout_s: int
    public_url: str
    api_tokens: tuple[str, ...]
    odc_url: str | None
    odc_token: str | None
    odc_path_template: str
    odc_timeout_s: float
    oai_repository_id: str
    oai_page_size: int
    admin_email: str
    log_format: str
    log_level: str
    alert_collection: str
    alert_ivorn_authority: str
    alert_ivorn_stream: str
    alert_publisher: str
    alert_contact_name: str | None
    alert_contact_email: str | None
    alert_observatories: tuple[voevent.Observatory, ...]
    vtp_brokers: tuple[Broker, ...]
    vtp_timeout_s: float
    vtp_retry_base_s: float
    vtp_retry_max_s: float
    events_collection: str
    events_max_rows: int
    events_scs_max_sr_deg: float
    events_scs_max_records: int

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def cut(self) -> CutSettings:
        return CutSettings(self.snippet_duration_s, self.snippet_interval_s, self.min_coverage, self.timing_tolerance_ticks)

    @property
    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(self.retention_days)

    @property
    def products(self) -> ProductSettings:
        loudness = LoudnessPolicy(self.mp3_full_scale_db_re_1upa, self.mp3_full_scale_sample_units, self.mp3_limiter_knee_dbfs)
        return ProductSettings(self.adf_frame_length, self.mp3_bit_rate_kbps, self.mp3_quality, self.psd_nfft, loudness,
                               self.samples_storage)


def settings_env(settings: Settings) -> dict[str, str]:
    """``HYDROSERVE_*`` variables that reproduce ``settings`` in another process."""
    return {ENV_PREFIX + key.upper(): str(text) for key, text in settings_text(settings).items() if text is not None}


def settings_text(settings: Settings) -> dict:
    """Every key's value in its configuration-file form (what ``load_settings`` reads back)."""
    schema = SettingsSchema()
    return schema.dump({key: getattr(settings, key) for key in schema.fields})


def load_settings(
    config_file: str | Path | None = None, env: dict[str, str] | None = None, *, defaults: dict | None = None, **overrides
) -> Settings:
    """Build the settings: built-in defaults < ``defaults`` < TOML file < environment < keyword overrides.

    Raises
    ------
    ConfigError
        Naming every invalid key and where its value came from.
    """
    env = os.environ if env is None else env
    values: dict = dict(defaults or {})
    origin: dict[str, str] = {key: "default of this command" for key in values}
    if config_file is not None:
        path = Path(config_file)
        try:
            document = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"configuration file {path}: {error}") from error
        values.update(document)
        origin.update({key: f"in {path}" for key in document})
    for key in SettingsSchema().fields:
        name = ENV_PREFIX + key.upper()
        if name in env:
            values[key] = env[name]
            origin[key] = f"from environment variable {name}"
    values.update(overrides)
    origin.update({key: "given by the program" for key in overrides})
    try:
        loaded = SettingsSchema().load(values, unknown=RAISE)
    except ValidationError as error:
        problems = "; ".join(
            f"{key} ({origin.get(key, 'default')}): {' '.join(map(str, messages if isinstance(messages, list) else [messages]))}"
            for key, messages in sorted(error.messages.items())
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    return _settings(loaded, origin)


def _settings(loaded: dict, origin: dict[str, str]) -> Settings:
    data_dir = Path(loaded["data_dir"]).expanduser().resolve()
    loaded["data_dir"] = data_dir
    loaded["database_url"] = loaded["database_url"] or f"sqlite:///{data_dir / 'catalog.sqlite'}"
    loaded["spool_dir"] = Path(loaded["spool_dir"]).expanduser().resolve() if loaded["spool_dir"] else data_dir / "spool"
    loaded["sensors_file"] = Path(loaded["sensors_file"]).expanduser().resolve() if loaded["sensors_file"] else None
    loaded["view_cache_dir"] = (Path(loaded["view_cache_dir"]).expanduser().resolve() if loaded["view_cache_dir"]
                                else data_dir / "view-cache")
    host = loaded["bind"].rsplit(":", 1)[0].strip("[]")
    if not loaded["public_url"] and host in ("0.0.0.0", "::", ""):
        # the default, http://<bind>, would write an address no client can use into every permanent resource record
        raise ConfigError(f"invalid configuration: public_url ({origin.get('public_url', 'default')}) must be set when bind "
                          f"({origin.get('bind', 'default')}) listens on every address ({loaded['bind']})")
    loaded["public_url"] = (loaded["public_url"] or f"http://{loaded['bind']}").rstrip("/")
    loaded["retention_days"] = loaded["retention_days"] or {}  # none given: every class is kept forever
    loaded["colour_scales"] = loaded["colour_scales"] or {}  # none given: every picture is auto-scaled
    settings = Settings(**{f.name: loaded[f.name] for f in fields(Settings)})
    if settings.vtp_retry_max_s < settings.vtp_retry_base_s:
        raise ConfigError(f"invalid configuration: vtp_retry_max_s ({origin.get('vtp_retry_max_s', 'default')}) "
                          f"must not be below vtp_retry_base_s ({settings.vtp_retry_base_s:g})")
    try:
        settings.cut
    except ValueError as error:
        raise ConfigError(
            f"invalid configuration: snippet_duration_s/snippet_interval_s ({origin.get('snippet_duration_s', 'default')}): {error}"
        ) from None
    try:
        sensors.load(settings.sensors_file)  # read at start, so a missing or invalid file stops every command at once
    except sensors.SensorsFileError as error:
        raise ConfigError(f"invalid configuration: sensors_file ({origin.get('sensors_file', 'default')}): {error}") from None
    return settings
