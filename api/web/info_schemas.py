"""The /info document of a package, typed member by member (documentation, and the form the response is dumped in:
a key missing here would be missing from the answer, which tests/test_openapi_document.py checks)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from hydroserve.api.validation import described

from .acoustic_schemas import GapSchema, SensorSchema


class DeviationHistogramSchema(ma.Schema):
    le = fields.List(fields.Raw(), **described("upper bucket bounds in ns (Prometheus style, the last \"+Inf\")"))
    counts = fields.List(fields.Integer(), **described("frames per bucket (not cumulative)"))


class TimestampDeviationSchema(ma.Schema):
    n_frames_continuing = fields.Integer(**described("frames that continue the run within the timing tolerance"))
    n_frames_deviated = fields.Integer(**described("of those, frames whose time stamp is not the exact continuation"))
    max_abs_ns = fields.Integer(**described("largest absolute deviation of a frame's time stamp, ns"))
    rms_ns = fields.Float(**described("root mean square of the deviations, ns"))
    sum_abs_ns = fields.Integer(**described("sum of the absolute deviations, ns"))
    histogram_abs_ns = fields.Nested(DeviationHistogramSchema, **described("absolute deviations by bucket"))


class TimingSchema(ma.Schema):
    time_reference = fields.String(**described("where the times come from"))
    sample_rate_hz = fields.Float(**described("sampling rate in Hz (195312.5)"))
    sample_rate_exact_hz = fields.String(**described("the exact sampling rate as a fraction (390625/2)"))
    sample_period_ticks_16ns = fields.Integer(**described("one sample period in 16 ns ticks of the ADF time stamps (320)"))
    wav_header_sample_rate_hz = fields.Integer(**described("the rate written into the WAV header (WAV needs an integer)"))
    window_start = fields.String(**described("the package's interval boundary, RFC 3339 UTC"))
    window_end = fields.String(**described("window_start + snippet_duration_s, RFC 3339 UTC"))
    start = fields.String(**described("time of the first sample, RFC 3339 UTC (microseconds)"))
    end = fields.String(**described("end of the last sample's period, RFC 3339 UTC (microseconds)"))
    start_unix_ns = fields.Integer(**described("start as Unix nanoseconds (exact)"))
    end_unix_ns = fields.Integer(**described("end as Unix nanoseconds (exact)"))
    snippet_duration_s = fields.Raw(**described("package length in seconds as configured (a number or a fraction string)"))
    snippet_interval_s = fields.Integer(**described("whole seconds between package starts"))
    window_start_unix_ns = fields.Integer(**described("window_start as Unix nanoseconds"))
    window_end_unix_ns = fields.Integer(**described("window_end as Unix nanoseconds"))
    cutting = fields.String(**described("which samples the package holds"))
    timing_tolerance_ns = fields.Integer(**described("frames within this of the exact continuation continue the run, ns"),
                                         allow_none=True)
    timestamp_deviation = fields.Nested(TimestampDeviationSchema, allow_none=True,
                                        **described("measured deviations of the frame time stamps; null for packages "
                                                     "archived before they were measured"))


class RunSchema(ma.Schema):
    start = fields.String(**described("time of the run's first sample, RFC 3339 UTC (microseconds)"))
    start_unix_ns = fields.Integer(**described("start as Unix nanoseconds"))
    first_sample = fields.Integer(**described("index of the run's first sample in the package"))
    n_samples = fields.Integer(**described("samples in the run"))


class StorageSchema(ma.Schema):
    form = fields.String(**described("how the samples are stored: flac-24bit or float32"))
    reason = fields.String(**described("why this form"))
    stored_bytes = fields.Integer(**described("bytes of the stored samples"))
    float32_bytes = fields.Integer(**described("bytes the samples take as float32"))
    compression_ratio = fields.Float(**described("stored_bytes / float32_bytes"))
    exact_sample_rate_hz = fields.Float(**described("sampling rate in Hz, as recorded with the samples"))
    served = fields.String(**described("what /raw, /wav and /flac serve of them"))


class DataSchema(ma.Schema):
    sample_format = fields.String(**described("format of the samples in /raw and /wav"))
    sample_unit = fields.String(**described("unit of the samples"))
    n_samples = fields.Integer(**described("samples in the package"))
    n_expected = fields.Integer(**described("sample instants of the window on the data's sample grid"))
    coverage = fields.Float(**described("n_samples / n_expected"))
    min_coverage = fields.Float(**described("the coverage below which a window is skipped"))
    gaps = fields.List(fields.Nested(GapSchema), **described("missing time inside the window"))
    gap_representation = fields.String(**described("how each product represents the gaps"))
    runs = fields.List(fields.Nested(RunSchema), **described("contiguous runs of samples, in time order"))
    adf_window_size = fields.Integer(**described("the ADF analysis window of the frames (their header's window_size)"))
    adf_frame_length = fields.Integer(**described("samples per ADF frame"))
    storage = fields.Nested(StorageSchema, **described("how the samples are stored"))


class InfoCalibrationSchema(ma.Schema):
    calibrated = fields.Boolean(**described("whether the sensor's calibration is known"))
    psd_calibrated = fields.Boolean(**described("whether /psd is in dB re 1 uPa^2/Hz"))
    psd_unit = fields.String(**described("unit of /psd"))
    sensitivity_db_re_1v_per_upa = fields.Float(allow_none=True, **described("sensitivity S, dB re 1 V/uPa; null if unknown"))
    gain_db = fields.Float(allow_none=True, **described("gain G of the amplifier chain, dB; null if unknown"))
    volts_per_unit = fields.Float(allow_none=True, **described("volts per sample unit; null if unknown"))
    sign_convention = fields.String(allow_none=True, **described("the polarity of the samples; null if unknown"))
    psd_offset_db = fields.Float(allow_none=True, **described(
        "dB added to levels in sample units to get dB re 1 uPa^2/Hz with a flat sensitivity; null with a curve or none"))
    sensitivity_curve = fields.Dict(allow_none=True, **described(
        "the sensitivity curve in force at the package's start (frequency_hz, sensitivity_db_re_1v_per_upa, valid_from, "
        "valid_until, source; interpolated in log frequency, end values held); null: flat or uncalibrated"))
    offset_db_at_1khz = fields.Float(**described("the offset at 1 kHz (the flat offset without a curve); calibrated only"))
    calibration_tag = fields.String(**described("short tag of the calibration the products were made with (uncal: none)"))


class DamageSchema(ma.Schema):
    blob_key = fields.String(**described("the stored file found damaged"))
    detail = fields.String(**described("what did not match"))
    detected = fields.String(**described("when it was found, ISO 8601"))
    repaired = fields.String(allow_none=True, **described("when it was made again or put back; null: damaged now"))


class IntegritySchema(ma.Schema):
    damaged = fields.Boolean(**described("whether a stored file of the package is damaged now (its samples then answer 503)"))
    damage = fields.List(fields.Nested(DamageSchema), **described("every damage found, and when repaired"))
    checks = fields.String(**described("how served bytes are checked"))


class InfoSchema(ma.Schema):
    """Instrument and data-taking settings of a package."""

    package_id = fields.String(**described("package id <sensor>_<unix window start>"))
    sensor = fields.Nested(SensorSchema, **described("the sensor, with its metadata and calibration"))
    timing = fields.Nested(TimingSchema, **described("exact timing of the samples"))
    data = fields.Nested(DataSchema, **described("the samples: counts, gaps, runs, storage"))
    calibration = fields.Nested(InfoCalibrationSchema, **described("the calibration the products use"))
    products = fields.Dict(keys=fields.String(), values=fields.Dict(), metadata={
        "description": "per kind: URL, size, SHA-256, how it was made, and which version is served: version (1 as made "
                       "at ingest, +1 per reprocessing that changed it), the settings and software_version that made "
                       "it, when (made), and the version it replaces (null for version 1)"})
    provenance = fields.List(fields.Dict(), **described("steps (id, description, parameters): the cut, then each product"))
    sources = fields.List(fields.String(), **described("the ADF files the samples were read from"))
    software_version = fields.String(**described("version of the software that archived the package"))
    created = fields.String(**described("when the package was archived, RFC 3339 UTC"))
    integrity = fields.Nested(IntegritySchema, **described("damage found in the package's stored files"))
