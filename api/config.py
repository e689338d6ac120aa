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

from hydroserve.acoustics.cutter import CutSettings
from hydroserve.acoustics.products import ProductSettings
from hydroserve.codecs import mp3, raw

ENV_PREFIX = "HYDROSERVE_"


class ConfigError(ValueError):
    """Invalid configuration; the message names the key and its source."""


class _Duration(mf.Field):
    """Seconds as an exact Fraction (from a number or a decimal string)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            seconds = Fraction(str(value))
        except (ValueError, ZeroDivisionError):
            raise ValidationError("Not a number of seconds.") from None
        if seconds <= 0:
            raise ValidationError("Must be positive.")
        return seconds


class _StringList(mf.Field):
    """A list of strings: a TOML array or a comma-separated string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValidationError("Not a list of strings.")
        return tuple(value)


def _help(text: str) -> dict:
    return {"metadata": {"description": text}}


class SettingsSchema(Schema):
    """The configuration keys; the description of each is printed by ``hydroserve config``."""

    data_dir = mf.String(load_default="./data", **_help("where the catalog (SQLite), blobs and spool live"))
    database_url = mf.String(load_default=None, allow_none=True, **_help("SQLAlchemy URL; default sqlite:///<data_dir>/catalog.sqlite"))
    spool_dir = mf.String(load_default=None, allow_none=True, **_help("where the DAQ drops ADF files; default <data_dir>/spool"))
    snippet_duration_s = _Duration(load_default=Fraction(300), **_help("length of a data package in seconds"))
    snippet_interval_s = mf.Integer(load_default=300, validate=validate.Range(min=1), **_help("whole seconds between package starts"))
    min_coverage = mf.Float(load_default=0.9, validate=validate.Range(min=0, max=1, min_inclusive=False), **_help("minimum fraction of samples for a package to be kept"))
    adf_frame_length = mf.Integer(load_default=raw.DEFAULT_FRAME_LENGTH, validate=validate.Range(min=1, max=2**26), **_help("samples per ADF frame"))
    collection = mf.String(load_default="acoustic20_01", validate=validate.Regexp(r"^[A-Za-z0-9_]{1,64}$"), **_help("KM3ResourceCollection kid"))
    sensors_file = mf.String(load_default=None, allow_none=True, **_help("TOML file of sensor metadata and calibration"))
    max_future_s = mf.Float(load_default=3600.0, validate=validate.Range(min=0), **_help("frames starting further in the future are rejected"))
    spool_settle_s = mf.Float(load_default=30.0, validate=validate.Range(min=0), **_help("a spool file unchanged this long is finished"))
    poll_interval_s = mf.Float(load_default=2.0, validate=validate.Range(min=0.01), **_help("spool polling period"))
    mp3_bit_rate_kbps = mf.Integer(load_default=128, validate=validate.OneOf(mp3.BIT_RATES_KBPS), **_help("MP3 constant bit rate"))
    mp3_quality = mf.Integer(load_default=7, validate=validate.Range(min=0, max=9), **_help("LAME quality, 0 best .. 9 fastest"))
    psd_nfft = mf.Integer(load_default=8192, validate=validate.Range(min=16, max=2**20), **_help("Welch segment length for the ingest PSD"))
    bind = mf.String(load_default="127.0.0.1:8000", **_help("gunicorn bind address"))
    workers = mf.Integer(load_default=2, validate=validate.Range(min=1, max=64), **_help("gunicorn worker processes"))
    threads = mf.Integer(load_default=4, validate=validate.Range(min=1, max=256), **_help("threads per gunicorn worker"))
    timeout_s = mf.Integer(load_default=60, validate=validate.Range(min=1), **_help("gunicorn worker timeout"))
    public_url = mf.String(load_default=None, allow_none=True, **_help("base URL of this service in resource links; default http://<bind>"))
    api_tokens = _StringList(load_default=(), **_help("bearer tokens accepted by write endpoints"))
    log_format = mf.String(load_default="text", validate=validate.OneOf(["text", "json"]), **_help("log lines as text or one JSON object per line"))
    log_level = mf.String(load_default="INFO", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]), **_help("log level"))


@dataclass(frozen=True)
class Settings:
    """Validated configuration (see :class:`SettingsSchema` for the meaning of each field)."""

    data_dir: Path
    database_url: str
    spool_dir: Path
    snippet_duration_s: Fraction
    snippet_interval_s: int
    min_coverage: float
    adf_frame_length: int
    collection: str
    sensors_file: Path | None
    max_future_s: float
    spool_settle_s: float
    poll_interval_s: float
    mp3_bit_rate_kbps: int
    mp3_quality: int
    psd_nfft: int
    bind: str
    workers: int
    threads: int
    timeout_s: int
    public_url: str
    api_tokens: tuple[str, ...]
    log_format: str
    log_level: str

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def cut(self) -> CutSettings:
        return CutSettings(self.snippet_duration_s, self.snippet_interval_s, self.min_coverage)

    @property
    def products(self) -> ProductSettings:
        return ProductSettings(self.adf_frame_length, self.mp3_bit_rate_kbps, self.mp3_quality, self.psd_nfft)


def load_settings(config_file: str | Path | None = None, env: dict[str, str] | None = None, **overrides) -> Settings:
    """Build the settings: defaults < TOML file < environment < keyword overrides.

    Raises
    ------
    ConfigError
        Naming every invalid key and where its value came from.
    """
    env = os.environ if env is None else env
    values: dict = {}
    origin: dict[str, str] = {}
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
    loaded["public_url"] = (loaded["public_url"] or f"http://{loaded['bind']}").rstrip("/")
    settings = Settings(**{f.name: loaded[f.name] for f in fields(Settings)})
    try:
        settings.cut
        raw.frame_dtype(settings.adf_frame_length)
    except ValueError as error:
        raise ConfigError(
            f"invalid configuration: snippet_duration_s/snippet_interval_s ({origin.get('snippet_duration_s', 'default')}): {error}"
        ) from None
    return settings
