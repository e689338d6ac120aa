"""Marshmallow schemas of the acoustic endpoints (inputs validated, outputs documented and dumped)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from hydroserve.api.validation import TIME_FORMS, FilterTime, matching
from hydroserve.codecs import psdjson

from .cursor import Cursor, next_url_field
from .http import FileLinkSchema

SENSOR_PATTERN = r"^DOM_\d{1,12}_CH\d{1,3}$"
PACKAGE_PATTERN = r"^DOM_\d{1,12}_CH\d{1,3}_\d{1,12}$"


class PackageQuery(ma.Schema):
    sensor = fields.String(validate=matching(SENSOR_PATTERN), metadata={"description": "only this sensor", "example": "DOM_808956920_CH1"})
    start = FilterTime(metadata={"description": f"packages whose window starts at or after this time: {TIME_FORMS}", "example": "2020-12-23T19:28:00Z"})
    end = FilterTime(metadata={"description": f"packages whose window starts before this time: {TIME_FORMS}", "example": "2020-12-24T00:00:00Z"})
    order = fields.String(load_default="newest", validate=validate.OneOf(["newest", "oldest"]), metadata={"description": "newest first (default) or oldest first"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000), metadata={"description": "page size"})
    cursor = Cursor(int, str, str)

    @ma.validates_schema
    def _range(self, data, **kwargs):
        if "start" in data and "end" in data and data["start"] > data["end"]:
            raise ma.ValidationError(f"end ({data['end'].isoformat()}) must not be before start ({data['start'].isoformat()}).", "end")


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


def picture_size_field() -> fields.String:
    """``size`` of a line picture: full, or small for phone width."""
    return fields.String(load_default="full", validate=validate.OneOf(["full", "small"]), metadata={
        "description": "full (1000 px wide, with title) or small (480 × 340 px, same text size, no title: for phone width)"})


class PsdPictureQuery(ma.Schema):
    xscale = fields.String(load_default="linear", validate=validate.OneOf(["linear", "log"]),
                           metadata={"description": "frequency axis: linear in kHz (default) or log in Hz"})
    size = picture_size_field()


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
    size = picture_size_field()


class PositionSchema(ma.Schema):
    x_m = fields.Float(metadata={"description": "x coordinate in metres (see frame)"})
    y_m = fields.Float(metadata={"description": "y coordinate in metres (see frame)"})
    z_m = fields.Float(metadata={"description": "z coordinate in metres (see frame)"})
    frame = fields.String(metadata={"description": "what the coordinates are relative to"})


class CalibrationSchema(ma.Schema):
    sensitivity_db_re_1v_per_upa = fields.Float(metadata={"description": "sensitivity S of the sensor in dB re 1 V/uPa"})
    gain_db = fields.Float(metadata={"description": "gain G of the amplifier chain in dB"})
    volts_per_unit = fields.Float(metadata={"description": "volts per sample unit of the ADC"})
    sign = fields.Integer(metadata={"description": "+1: positive sample = positive pressure; -1: inverted"})
    psd_offset_db = fields.Float(allow_none=True, metadata={
        "description": "added to dB re 1 unit^2/Hz to get dB re 1 uPa^2/Hz with the flat sensitivity (null without one)"})
    sensitivity_curves = fields.List(fields.Dict(), metadata={
        "description": "sensitivity over frequency (frequency_hz, sensitivity_db_re_1v_per_upa), each valid from valid_from "
                       "until valid_until (null: open), with its source; a package uses the one valid at its start"})


class SensorSchema(ma.Schema):
    sensor = fields.String(metadata={"description": "sensor id DOM_<dom id>_CH<channel>", "example": "DOM_808956920_CH1"})
    dom_id = fields.Integer(metadata={"description": "DOM (optical module) id"})
    channel = fields.Integer(metadata={"description": "acoustic channel of the DOM"})
    type = fields.String(allow_none=True, metadata={"description": "piezo or hydrophone; null if unknown"})
    detector = fields.String(allow_none=True, metadata={"description": "detector the sensor belongs to (e.g. ARCA); null if unknown"})
    string = fields.Integer(allow_none=True, metadata={"description": "detection unit"})
    floor = fields.Integer(allow_none=True, metadata={"description": "floor of the detection unit (0: its base); null if unknown"})
    position = fields.Nested(PositionSchema, allow_none=True, metadata={"description": "position in the detector; null if unknown"})
    calibrated = fields.Boolean(metadata={"description": "whether the sensor's calibration is known (then PSDs are in dB re 1 uPa^2/Hz)"})
    calibration = fields.Nested(CalibrationSchema, allow_none=True, metadata={"description": "the calibration; null if uncalibrated"})
    n_packages = fields.Integer(metadata={"description": "packages archived for this sensor"})
    n_skipped_windows = fields.Integer(metadata={"description": "windows not archived for too little data (see min_coverage)"})
    first_package_start = fields.String(allow_none=True, metadata={"description": "RFC 3339 UTC"})
    last_package_end = fields.String(allow_none=True, metadata={"description": "RFC 3339 UTC"})
    links = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "URLs of this sensor (self) and of its packages"})


class SensorListSchema(ma.Schema):
    items = fields.List(fields.Nested(SensorSchema), metadata={"description": "every sensor with data or metadata"})


class GapSchema(ma.Schema):
    start = fields.String(metadata={"description": "first missing instant, RFC 3339 UTC (microseconds)"})
    end = fields.String(metadata={"description": "end of the missing time"})
    start_unix_ns = fields.Integer(metadata={"description": "start as Unix nanoseconds"})
    end_unix_ns = fields.Integer(metadata={"description": "end as Unix nanoseconds"})
    duration_s = fields.Float(metadata={"description": "length of the gap in seconds"})
    at_sample = fields.Integer(metadata={"description": "index in the package's samples where data resumes"})


class ExpirySchema(ma.Schema):
    expired_at = fields.String(metadata={"description": "when retention deleted the product, RFC 3339 UTC"})
    reason = fields.String(metadata={"description": "the retention rule"})


class ProductLinkSchema(FileLinkSchema):
    expired = fields.Nested(ExpirySchema, metadata={"description": "only once retention deleted it: the URL answers 410"})


class PackageSchema(ma.Schema):
    package_id = fields.String(metadata={"description": "package id <sensor>_<unix window start>", "example": "DOM_808956920_CH1_1608751680"})
    sensor = fields.String(metadata={"description": "sensor id DOM_<dom id>_CH<channel>"})
    window_start = fields.String(metadata={"description": "the interval boundary, RFC 3339 UTC"})
    start = fields.String(metadata={"description": "time of the first sample, RFC 3339 UTC (microseconds)"})
    end = fields.String(metadata={"description": "end of the last sample's period"})
    duration_s = fields.Float(metadata={"description": "n_expected / 195312.5"})
    n_samples = fields.Integer(metadata={"description": "samples in the package"})
    n_expected = fields.Integer(metadata={"description": "sample instants of the window on the data's sample grid"})
    coverage = fields.Float(metadata={"description": "n_samples / n_expected (0 to 1)"})
    gaps = fields.List(fields.Nested(GapSchema), metadata={"description": "missing time inside the window (never filled)"})
    created = fields.String(metadata={"description": "when it was archived, RFC 3339 UTC"})
    products = fields.Dict(keys=fields.String(), values=fields.Nested(ProductLinkSchema), metadata={"description": "per product kind (raw, wav, flac, mp3, psd): URL, media type, size, SHA-256"})
    links = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "URLs of the package (self), its /info and each product"})


class PackagePageSchema(ma.Schema):
    items = fields.List(fields.Nested(PackageSchema), metadata={"description": "packages of this page"})
    next = next_url_field()


class PsdSchema(ma.Schema):
    """The /psd document (see hydroserve.codecs.psdjson); arrays are per frequency."""

    package_id = fields.String(metadata={"description": "package id <sensor>_<unix window start>"})
    unit = fields.String(metadata={"description": "unit of the levels", "example": "dB re 1 uPa^2/Hz"})
    calibrated = fields.Boolean(metadata={"description": "whether the levels are calibrated (dB re 1 uPa^2/Hz) or in sample units"})
    calibration_offset_db = fields.Float(allow_none=True, metadata={
        "description": "dB added to the levels in sample units (0 when uncalibrated); null when a sensitivity curve is "
                       "used"})
    calibration_tag = fields.String(metadata={"description": "present when a sensitivity curve is used: its tag"})
    calibration_curve = fields.Dict(metadata={"description": "present when a sensitivity curve is used: the curve "
                                                               "(points, validity, source), see /info"})
    window = fields.String(metadata={"description": "Welch segment window (hann)"})
    nfft = fields.Integer(metadata={"description": "Welch segment length in samples"})
    overlap_samples = fields.Integer(metadata={"description": "overlap of consecutive segments in samples"})
    detrend = fields.String(metadata={"description": "what is removed from each segment before its transform"})
    scaling = fields.String(metadata={"description": "one-sided power spectral density"})
    sample_rate_hz = fields.Float(metadata={"description": "sampling rate of the data in Hz (195312.5)"})
    resolution_hz = fields.Float(metadata={"description": "frequency spacing sample_rate_hz / nfft"})
    n_segments = fields.Integer(metadata={"description": "Welch segments averaged (never across a gap)"})
    effort_s = fields.Float(metadata={"description": "seconds of data the segments cover"})
    quantiles = fields.String(metadata={"description": "how median, p75 and p95 are computed: per frequency across segments, exact"})
    fmin_hz = fields.Float(allow_none=True, metadata={"description": "lowest frequency asked for (null: 0)"})
    fmax_hz = fields.Float(allow_none=True, metadata={"description": "highest frequency asked for (null: Nyquist)"})
    n_frequencies = fields.Integer(metadata={"description": "length of each array"})
    frequency_hz = fields.List(fields.Float(), metadata={"description": "frequencies in Hz"})
    mean = fields.List(fields.Float(allow_none=True), metadata={"description": "Welch average per frequency, dB (null: no power)"})
    median = fields.List(fields.Float(allow_none=True), metadata={"description": "median across segments per frequency, dB"})
    p75 = fields.List(fields.Float(allow_none=True), metadata={"description": "75 % quantile across segments per frequency, dB"})
    p95 = fields.List(fields.Float(allow_none=True), metadata={"description": "95 % quantile across segments per frequency, dB"})
