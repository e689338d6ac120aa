"""The marshmallow fields of the configuration's own value types (durations in exact seconds, lists, blob URLs,
VTP brokers, detector sites, retention days, colour scales): each parses the TOML value or its environment-variable text and
serialises back to that text (:func:`.config.settings_env`)."""

from __future__ import annotations

import json
import re
from fractions import Fraction

from marshmallow import ValidationError
from marshmallow import fields as mf

from hydroserve.acoustics import s3store
from hydroserve.acoustics.colour_scales import check_colour_scales
from hydroserve.acoustics.retention import RetentionPolicy
from hydroserve.codecs import raw, voevent
from hydroserve.odc_sync.vtp import Broker


class Duration(mf.Field):
    """Seconds as an exact Fraction (from a number or a decimal string)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            seconds = Fraction(str(value))
        except (ValueError, ZeroDivisionError):
            raise ValidationError("Not a number of seconds.") from None
        if seconds <= 0:
            raise ValidationError("Must be positive.")
        if (seconds * raw.TICKS_PER_SECOND).denominator != 1:
            raise ValidationError("Must be a whole number of 16 ns ticks.")
        return seconds

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class StringList(mf.Field):
    """A list of strings: a TOML array or a comma-separated string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValidationError("Not a list of strings.")
        return tuple(value)

    def _serialize(self, value, attr, obj, **kwargs):
        return ",".join(self._item_text(item) for item in value)

    @staticmethod
    def _item_text(item) -> str:
        return str(item)


class BlobUrl(mf.String):
    """Where the blobs live: ``s3://<bucket>/<prefix>`` (None: the local folder ``<data_dir>/blobs``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            s3store.parse_url(text)
        except ValueError as error:
            raise ValidationError(str(error)) from None
        return text


class Brokers(StringList):
    """VTP brokers: ``host:port`` items (a TOML array or comma-separated)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return tuple(Broker.parse(item) for item in super()._deserialize(value, attr, data, **kwargs))
        except ValueError as error:
            raise ValidationError(str(error)) from None


class Observatories(StringList):
    """Detector sites: ``NAME:longitude_deg:latitude_deg:height_m`` items."""

    @staticmethod
    def _item_text(site) -> str:
        return f"{site.name}:{site.longitude_deg}:{site.latitude_deg}:{site.height_m}"

    def _deserialize(self, value, attr, data, **kwargs):
        sites = []
        for item in super()._deserialize(value, attr, data, **kwargs):
            name, *numbers = item.split(":")
            try:
                longitude_deg, latitude_deg, height_m = (float(n) for n in numbers)
            except ValueError:
                raise ValidationError(f"{item!r} must be NAME:longitude_deg:latitude_deg:height_m") from None
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,31}", name):
                raise ValidationError(f"{item!r}: the site name must be letters, digits, _ or -")
            if not (-180 <= longitude_deg <= 180 and -90 <= latitude_deg <= 90 and abs(height_m) < 1e5):
                raise ValidationError(f"{item!r}: longitude must be in [-180, 180] deg, latitude in [-90, 90] deg")
            sites.append(voevent.Observatory(name, longitude_deg, latitude_deg, height_m))
        return tuple(sites)


class RetentionDays(mf.Field):
    """Days each retention class is kept: a TOML table ``{samples = 30, mp3 = 365, psd = "forever"}`` or, in the
    environment, ``samples=30,mp3=365,psd=forever``; a class not named is kept forever."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValidationError("Must be CLASS=DAYS items separated by commas, e.g. samples=30,mp3=365,psd=forever.")
            value = {name.strip(): days.strip() for name, days in pairs}
        if not isinstance(value, dict):
            raise ValidationError("Must be a table of retention class = days or \"forever\".")
        days = {}
        for name, given in value.items():
            if given == "forever":
                days[name] = None
                continue
            try:
                days[name] = float(given)
            except (TypeError, ValueError):
                raise ValidationError(f"{name}: {given!r} is not a number of days or \"forever\".") from None
        try:
            RetentionPolicy(days)
        except ValueError as error:
            raise ValidationError(str(error)) from None
        return days

    def _serialize(self, value, attr, obj, **kwargs):
        return ",".join(f"{name}={'forever' if days is None else repr(days)}" for name, days in value.items())


class ColourScales(mf.Field):
    """Fixed colour ranges of pictures per sensor type (see :mod:`hydroserve.acoustics.colour_scales`): a TOML table
    ``{spectrogram = {piezo = [-10, 40]}}`` or, in the environment, the same as JSON."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError('Must be JSON in the environment, e.g. {"spectrogram": {"piezo": [-10, 40]}}.') from None
        try:
            return check_colour_scales(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None

    def _serialize(self, value, attr, obj, **kwargs):
        return json.dumps({picture: {kind: list(scale) for kind, scale in by_type.items()} for picture, by_type in value.items()})
