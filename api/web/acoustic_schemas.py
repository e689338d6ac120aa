"""Marshmallow schemas of the acoustic endpoints (inputs validated, outputs documented and dumped)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from hydroserve.codecs import psdjson

from .cursor import Cursor, next_url_field
from .http import FileLinkSchema

SENSOR_PATTERN = r"^DOM_\d{1,12}_CH\d{1,3}$"
PACKAGE_PATTERN = r"^DOM_\d{1,12}_CH\d{1,3}_\d{1,12}$"


class PackageQuery(ma.Schema):
    sensor = fields.String(validate=validate.Regexp(SENSOR_PATTERN), metadata={"description": "only this sensor", "example": "DOM_808956920_CH1"})
    start = fields.AwareDateTime(metadata={"description": "packages whose window starts at or after this time (RFC 3339)", "example": "2020-12-23T19:28:00Z"})
    end = fields.AwareDateTime(metadata={"description": "packages whose window starts before this time (RFC 3339)", "example": "2020-12-24T00:00:00Z"})
    order = fields.String(load_default="newest", validate=validate.OneOf(["newest", "oldest"]), metadata={"description": "newest first (default) or oldest first"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000), metadata={"description": "page size"})
    cursor = Cursor(int, str, str)


class PsdQuery(ma.Schema):
    fmin = fields.Float(validate=validate.Range(min=0, max=1e6), metadata={"description": "lowest frequency in Hz"})
    fmax = fields.Float(validate=validate.Range(min=0, max=1e6), metadata={"description": "highest frequency in Hz"})
    nfft = fields.Integer(
        validate=validate.OneOf([2**k for k in range(8, 17)]),
        metadata={"description": "Welch segment length (power of two, 256..65536); default: the ingest PSD's"},
    )

    @ma.validates_schema
    def _band(self, data, **kwargs):
        if "fmin" in data and "fmax" in data and data["fmin"] > data["fmax"]:
            raise ma.ValidationError("fmin must not exceed fmax.", "fmin")


class PsdPictureQuery(ma.Schema):
    xscale = fields.String(load_default="linear", validate=validate.OneOf(["linear", "log"]),
                           metadata={"description": "frequency axis: linear in kHz (default) or log in Hz"})


class SpectrogramPictureQuery(ma.Schema):
    scale = fields.String(load_default="fixed", validate=validate.OneOf(["fixed", "auto"]), metadata={
        "description": "colour scale: fixed (the range configured in colour_scales for the sensor's type, so pictures "
                       "compare by eye; auto where none is configured) or auto (each picture scaled to its own levels)"})
    size = fields.String(load_default="full", validate=validate.OneOf(["full", "thumbnail"]), metadata={
        "description": "full (1000 × 450 px, with title and colour bar) or thumbnail (320 × 160 px, axes only)"})


BAND_LEVELS_DEFAULT_N = 48


def band_levels_count_field() -> fields.Integer:
    """The ``n`` parameter: how many of a sensor's latest packages the band levels follow."""
    return fields.Integer(load_default=BAND_LEVELS_DEFAULT_N, validate=validate.Range(min=1, max=500),
                          metadata={"description": "how many of the sensor's latest packages"})


class BandLevelsQuery(ma.Schema):
    n = band_levels_count_field()
    statistic = fields.String(load_default="median", validate=validate.OneOf(psdjson.STATISTICS),
                              metadata={"description": "PSD statistic averaged over each band"})


class PositionSchema(ma.Schema):
    x_m = fields.Float()
    y_m = fields.Float()
    z_m = fields.Float()
    frame = fields.String(metadata={"description": "what the coordinates are relative to"})


class CalibrationSchema(ma.Schema):
    sensitivity_db_re_1v_per_upa = fields.Float()
    gain_db = fields.Float()
    volts_per_unit = fields.Float()
    sign = fields.Integer(metadata={"description": "+1: positive sample = positive pressure; -1: inverted"})
    psd_offset_db = fields.Float(metadata={"description": "added to dB re 1 unit^2/Hz to get dB re 1 uPa^2/Hz"})


class SensorSchema(ma.Schema):
    sensor = fields.String(metadata={"description": "sensor id DOM_<dom id>_CH<channel>", "example": "DOM_808956920_CH1"})
    dom_id = fields.Integer()
    channel = fields.Integer()
    type = fields.String(allow_none=True, metadata={"description": "piezo or hydrophone; null if unknown"})
    detector = fields.String(allow_none=True)
    string = fields.Integer(allow_none=True, metadata={"description": "detection unit"})
    floor = fields.Integer(allow_none=True)
    position = fields.Nested(PositionSchema, allow_none=True)
    calibrated = fields.Boolean()
    calibration = fields.Nested(CalibrationSchema, allow_none=True)
    n_packages = fields.Integer()
    n_skipped_windows = fields.Integer()
    first_package_start = fields.String(allow_none=True, metadata={"description": "RFC 3339 UTC"})
    last_package_end = fields.String(allow_none=True, metadata={"description": "RFC 3339 UTC"})
    links = fields.Dict(keys=fields.String(), values=fields.String())


class SensorListSchema(ma.Schema):
    items = fields.List(fields.Nested(SensorSchema))


class GapSchema(ma.Schema):
    start = fields.String(metadata={"description": "first missing instant, RFC 3339 UTC (microseconds)"})
    end = fields.String(metadata={"description": "end of the missing time"})
    start_unix_ns = fields.Integer()
    end_unix_ns = fields.Integer()
    duration_s = fields.Float()
    at_sample = fields.Integer(metadata={"description": "index in the package's samples where data resumes"})


class ExpirySchema(ma.Schema):
    expired_at = fields.String(metadata={"description": "when retention deleted the product, RFC 3339 UTC"})
    reason = fields.String(metadata={"description": "the retention rule"})


class ProductLinkSchema(FileLinkSchema):
    expired = fields.Nested(ExpirySchema, metadata={"description": "only once retention deleted it: the URL answers 410"})


class PackageSchema(ma.Schema):
    package_id = fields.String(metadata={"description": "package id <sensor>_<unix window start>", "example": "DOM_808956920_CH1_1608751680"})
    sensor = fields.String()
    window_start = fields.String(metadata={"description": "the interval boundary, RFC 3339 UTC"})
    start = fields.String(metadata={"description": "time of the first sample, RFC 3339 UTC (microseconds)"})
    end = fields.String(metadata={"description": "end of the last sample's period"})
    duration_s = fields.Float(metadata={"description": "n_expected / 195312.5"})
    n_samples = fields.Integer()
    n_expected = fields.Integer()
    coverage = fields.Float()
    gaps = fields.List(fields.Nested(GapSchema))
    created = fields.String()
    products = fields.Dict(keys=fields.String(), values=fields.Nested(ProductLinkSchema))
    links = fields.Dict(keys=fields.String(), values=fields.String())


class PackagePageSchema(ma.Schema):
    items = fields.List(fields.Nested(PackageSchema))
    next = next_url_field()


class PsdSchema(ma.Schema):
    """The /psd document (see hydroserve.codecs.psdjson); arrays are per frequency."""

    package_id = fields.String()
    unit = fields.String(metadata={"example": "dB re 1 uPa^2/Hz"})
    calibrated = fields.Boolean()
    calibration_offset_db = fields.Float()
    window = fields.String()
    nfft = fields.Integer()
    overlap_samples = fields.Integer()
    detrend = fields.String()
    scaling = fields.String()
    sample_rate_hz = fields.Float()
    resolution_hz = fields.Float()
    n_segments = fields.Integer()
    effort_s = fields.Float()
    quantiles = fields.String()
    fmin_hz = fields.Float(allow_none=True)
    fmax_hz = fields.Float(allow_none=True)
    n_frequencies = fields.Integer()
    frequency_hz = fields.List(fields.Float())
    mean = fields.List(fields.Float(allow_none=True))
    median = fields.List(fields.Float(allow_none=True))
    p75 = fields.List(fields.Float(allow_none=True))
    p95 = fields.List(fields.Float(allow_none=True))


class InfoSchema(ma.Schema):
    """Instrument and data-taking settings of a package."""

    package_id = fields.String()
    sensor = fields.Nested(SensorSchema)
    timing = fields.Dict()
    data = fields.Dict()
    calibration = fields.Dict()
    products = fields.Dict(keys=fields.String(), values=fields.Dict(), metadata={
        "description": "per kind: URL, size, SHA-256, how it was made, and which version is served: version (1 as made "
                       "at ingest, +1 per reprocessing that changed it), the settings and software_version that made "
                       "it, when (made), and the version it replaces (null for version 1)"})
    provenance = fields.List(fields.Dict(), metadata={"description": "steps (id, description, parameters): the cut, then each product"})
    sources = fields.List(fields.String())
    software_version = fields.String()
    created = fields.String()
    integrity = fields.Dict(metadata={"description": "damaged: whether a stored file of the package is damaged now (its "
                                                     "samples then answer 503); damage: every damage found, and when repaired"})
