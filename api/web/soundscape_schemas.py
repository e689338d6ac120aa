"""Marshmallow schemas of the soundscape endpoints (daily HMD netCDF, SPD, band levels, long-term pictures)."""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from .acoustic_schemas import SENSOR_PATTERN, picture_size_field

MAX_RANGE_DAYS = 400
MAX_NAMED_SENSORS = 250
DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


class TimeRange(ma.Schema):
    start = fields.AwareDateTime(required=True, metadata={
        "description": "start of the time range (RFC 3339, inclusive): minutes starting at or after it",
        "example": "2020-12-23T00:00:00Z"})
    end = fields.AwareDateTime(required=True, metadata={
        "description": "end of the time range (RFC 3339, exclusive)", "example": "2020-12-24T00:00:00Z"})

    @ma.validates_schema
    def _range(self, data, **kwargs):
        if "start" in data and "end" in data:
            span_s = (data["end"] - data["start"]).total_seconds()
            if span_s <= 0:
                raise ma.ValidationError("end must be after start.", "end")
            if span_s > MAX_RANGE_DAYS * 86400:
                raise ma.ValidationError(f"the time range must not exceed {MAX_RANGE_DAYS} days.", "end")


def _band_limits(data):
    if "fmin" in data and "fmax" in data and data["fmin"] > data["fmax"]:
        raise ma.ValidationError("fmin must not exceed fmax.", "fmin")


class SpdQuery(TimeRange):
    fmin = fields.Float(validate=validate.Range(min=0, max=1e6), metadata={"description": "lowest HMD band centre, Hz"})
    fmax = fields.Float(validate=validate.Range(min=0, max=1e6), metadata={"description": "highest HMD band centre, Hz"})
    bin_db = fields.Float(load_default=1.0, validate=validate.Range(min=0.1, max=20), metadata={
        "description": "level bin width of the density, dB: a multiple of 0.1 (the stored resolution)"})

    @ma.validates_schema
    def _band(self, data, **kwargs):
        _band_limits(data)


class SpdPictureQuery(TimeRange):
    size = picture_size_field()


MAX_LTSA_COLUMNS = 2000
MAX_LTSA_MINUTES_DAYS = 2


class LtsaPictureQuery(SpdPictureQuery):
    resolution_s = fields.Integer(validate=validate.Range(min=60, max=30 * 86400), metadata={
        "description": "time bin, s: a multiple of 60, bins starting at multiples of it since 1970-01-01T00:00:00Z; "
                       "by default chosen from the range: 60 up to 12 hours, 3600 up to 40 days, 86400 beyond. At most "
                       f"{MAX_LTSA_COLUMNS} bins; a bin that is not a whole number of hours is made from the minutes "
                       f"(ranges of at most {MAX_LTSA_MINUTES_DAYS} days), whole hours from the stored hourly spectra",
        "example": 600})

    @ma.validates_schema
    def _columns(self, data, **kwargs):
        check_bins(data, MAX_LTSA_COLUMNS)


def check_bins(data: dict, max_bins: int | None = None) -> None:
    """A query's ``resolution_s`` over its range: a multiple of 60, at most ``max_bins`` bins (None: as many as the
    range holds), and bins that are not whole hours (made from the stored minutes, day by day) only over ranges of at
    most MAX_LTSA_MINUTES_DAYS days."""
    if "resolution_s" not in data or "start" not in data or "end" not in data:
        return
    resolution_s, span_s = data["resolution_s"], (data["end"] - data["start"]).total_seconds()
    if resolution_s % 60:
        raise ma.ValidationError("resolution_s must be a multiple of 60.", "resolution_s")
    if max_bins is not None and span_s > max_bins * resolution_s:
        raise ma.ValidationError(f"the range holds more than {max_bins} bins of resolution_s.", "resolution_s")
    if resolution_s % 3600 and span_s > MAX_LTSA_MINUTES_DAYS * 86400:
        raise ma.ValidationError(f"a resolution_s that is not a whole number of hours needs a range of at most "
                                 f"{MAX_LTSA_MINUTES_DAYS} days.", "resolution_s")


class BandsField(fields.String):
    """``decidecade``, ``broadband`` or a comma-separated list of decidecade centre frequencies (Hz)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if text in ("decidecade", "broadband"):
            return text
        try:
            centres = [float(part) for part in re.split(r"\s*,\s*", text) if part]
        except ValueError:
            raise ma.ValidationError("give decidecade, broadband or centre frequencies in Hz separated by commas") from None
        if not centres or len(centres) > 64:
            raise ma.ValidationError("give 1 to 64 centre frequencies")
        return centres


RESOLUTION_FIELD = {"validate": validate.Range(min=60, max=30 * 86400), "metadata": {
    "description": f"time bin, s: a multiple of 60; bins start at multiples of it since 1970-01-01T00:00:00Z; a bin that "
                   f"is not a whole number of hours is made from the minutes and needs a range of at most "
                   f"{MAX_LTSA_MINUTES_DAYS} days"}}


class LevelsQuery(TimeRange):
    bands = BandsField(load_default="decidecade", metadata={
        "description": "decidecade (all 40 bands, 10 Hz to 79.4 kHz), broadband, or nominal centres in Hz, e.g. 63,125",
        "example": "63,125"})
    resolution_s = fields.Integer(load_default=3600, **RESOLUTION_FIELD)

    @ma.validates_schema
    def _bins(self, data, **kwargs):
        check_bins(data)


class ManyLevelsQuery(TimeRange):
    band = fields.String(required=True, metadata={
        "description": "broadband, or the nominal centre (Hz) of one decidecade band", "example": "63"})
    sensor = fields.List(fields.String(validate=validate.Regexp(SENSOR_PATTERN)), validate=validate.Length(max=MAX_NAMED_SENSORS),
                         metadata={"description": f"sensors (repeat the parameter, at most {MAX_NAMED_SENSORS}: a URL "
                                                  "holds no more); all sensors with data by default"})
    resolution_s = fields.Integer(load_default=3600, **RESOLUTION_FIELD)

    @ma.validates_schema
    def _bins(self, data, **kwargs):
        check_bins(data)

    @ma.validates("band")
    def _band(self, value, **kwargs):
        if value != "broadband":
            try:
                float(value)
            except ValueError:
                raise ma.ValidationError("give broadband or one centre frequency in Hz") from None


PICTURE_BANDS_HZ = [63.0, 125.0, 1000.0, 10000.0]


class LevelsPictureQuery(TimeRange):
    size = picture_size_field()
    bands = BandsField(metadata={"description": "as for /levels; by default 63,125,1000,10000", "example": "63,125"})


class BandSchema(ma.Schema):
    name = fields.String(metadata={"description": "broadband, or the decidecade band's nominal name in Hz"})
    centre_hz = fields.Float(allow_none=True, metadata={"description": "exact IEC 61260-1 base-10 centre; null for broadband"})


class LevelsSchema(ma.Schema):
    sensor = fields.String(metadata={"description": "sensor id DOM_<dom id>_CH<channel>"})
    unit = fields.String(metadata={"description": "dB re 1 µPa (calibrated) or dB re 1 sample unit"})
    resolution_s = fields.Integer(metadata={"description": "time bin, s"})
    bands = fields.List(fields.Nested(BandSchema), metadata={"description": "the bands, in the order of each row of levels_db"})
    times = fields.List(fields.String(), metadata={"description": "start of each bin with data (RFC 3339); bins "
                                                                  "without data are left out"})
    effort_s = fields.List(fields.Float(), metadata={"description": "seconds of data in each bin"})
    levels_db = fields.List(fields.List(fields.Float(allow_none=True)), metadata={
        "description": "per bin, per band: 10 log10 of the effort-weighted mean of the 1-minute mean-square pressures"})


class SensorLevelsSchema(ma.Schema):
    sensor = fields.String(metadata={"description": "sensor id DOM_<dom id>_CH<channel>"})
    unit = fields.String(metadata={"description": "dB re 1 µPa (calibrated) or dB re 1 sample unit"})
    times = fields.List(fields.String(), metadata={"description": "start of each bin with data (RFC 3339)"})
    effort_s = fields.List(fields.Float(), metadata={"description": "seconds of data in each bin"})
    level_db = fields.List(fields.Float(allow_none=True), metadata={"description": "the band level in each bin (null: no power)"})


class ManyLevelsSchema(ma.Schema):
    band = fields.Nested(BandSchema, metadata={"description": "the band asked for"})
    resolution_s = fields.Integer(metadata={"description": "time bin, s"})
    sensors = fields.List(fields.Nested(SensorLevelsSchema), metadata={"description": "sensors with data in the range"})


class SpdSchema(ma.Schema):
    sensor = fields.String(metadata={"description": "sensor id DOM_<dom id>_CH<channel>"})
    start = fields.String(metadata={"description": "start of the range (RFC 3339)"})
    end = fields.String(metadata={"description": "end of the range (RFC 3339)"})
    unit = fields.String(metadata={"description": "dB re 1 µPa²/Hz (calibrated) or dB re 1 (sample unit)²/Hz"})
    frequency_hz = fields.List(fields.Float(), metadata={"description": "HMD band centres"})
    n_minutes = fields.List(fields.Integer(), metadata={"description": "1-minute spectra counted per band (minutes "
                                                                        "with data, bands not flagged bad)"})
    bin_db = fields.Float(metadata={"description": "level bin width, dB"})
    level_edges_db = fields.List(fields.Float(), metadata={"description": "level bin edges (one more than bins)"})
    density = fields.List(fields.List(fields.Float(allow_none=True)), metadata={
        "description": "per band, per level bin: fraction of the band's minutes per dB (each row integrates to 1)"})
    percentiles = fields.Dict(keys=fields.String(), values=fields.List(fields.Float(allow_none=True)), metadata={
        "description": "p1, p5, p10, p25, p50, p75, p90, p95, p99 per band, dB: the centre of the 0.1 dB bin of the "
                       "ceil(p/100·n)-th smallest level, within 0.05 dB of it"})
    mean_db = fields.List(fields.Float(allow_none=True), metadata={"description": "10 log10 of the linear mean density per band"})
    percentile_resolution_db = fields.Float(metadata={"description": "the percentiles are within half of this"})
