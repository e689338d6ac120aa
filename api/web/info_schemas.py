"""The /info document of a package, typed member by member (documentation, and the form the response is dumped in:
a key missing here would be missing from the answer, which tests/test_openapi_document.py checks)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from .acoustic_schemas import GapSchema, SensorSchema


def _described(text: str, **kwargs) -> dict:
    return {"metadata": {"description": text}, **kwargs}


class DeviationHistogramSchema(ma.Schema):
    le = fields.List(fields.Raw(), **_described("upper bucket bounds in ns (Prometheus style, the last \"+Inf\")"))
    counts = fields.List(fields.Integer(), **_described("frames per bucket (not cumulative)"))


class TimestampDeviationSchema(ma.Schema):
    n_frames_continuing = fields.Integer(**_described("frames that continue the run within the timing tolerance"))
    n_frames_deviated = fields.Integer(**_described("of those, frames whose time stamp is not the exact continuation"))
    max_abs_ns = fields.Integer(**_described("largest absolute deviation of a frame's time stamp, ns"))
    rms_ns = fields.Float(**_described("root mean square of the deviations, ns"))
    sum_abs_ns = fields.Integer(**_described("sum of the absolute deviations, ns"))
    histogram_abs_ns = fields.Nested(DeviationHistogramSchema, **_described("absolute deviations by bucket"))


class TimingSchema(ma.Schema):
    time_reference = fields.String(**_described("where the times come from"))
    sample_rate_hz = fields.Float(**_described("sampling rate in Hz (195312.5)"))
    sample_rate_exact_hz = fields.String(**_described("the exact sampling rate as a fraction (390625/2)"))
    sample_period_ticks_16ns = fields.Integer(**_described("one sample period in 16 ns ticks of the ADF time stamps (320)"))
    wav_header_sample_rate_hz = fields.Integer(**_described("the rate written into the WAV header (WAV needs an integer)"))
    window_start = fields.String(**_described("the package's interval boundary, RFC 3339 UTC"))
    window_end = fields.String(**_described("window_start + snippet_duration_s, RFC 3339 UTC"))
    start = fields.String(**_described("time of the first sample, RFC 3339 UTC (microseconds)"))
    end = fields.String(**_described("end of the last sample's period, RFC 3339 UTC (microseconds)"))
    start_unix_ns = fields.Integer(**_described("start as Unix nanoseconds (exact)"))
    end_unix_ns = fields.Integer(**_described("end as Unix nanoseconds (exact)"))
    snippet_duration_s = fields.Raw(**_described("package length in seconds as configured (a number or a fraction string)"))
    snippet_interval_s = fields.Integer(**_described("whole seconds between package starts"))
    window_start_unix_ns = fields.Integer(**_described("window_start as Unix nanoseconds"))
    window_end_unix_ns = fields.Integer(**_described("window_end as Unix nanoseconds"))
    cutting = fields.String(**_described("which samples the package holds"))
    timing_tolerance_ns = fields.Integer(**_described("frames within this of the exact continuation continue the run, ns"),
                                         allow_none=True)
    timestamp_deviation = fields.Nested(TimestampDeviationSchema, allow_none=True,
                                        **_described("measured deviations of the frame time stamps; null for packages "
                                                     "archived before they were measured"))


class RunSchema(ma.Schema):
    start = fields.String(**_described("time of the run's first sample, RFC 3339 UTC (microseconds)"))
    start_unix_ns = fields.Integer(**_described("start as Unix nanoseconds"))
    first_sample = fields.Integer(**_described("index of the run's first sample in the package"))
    n_samples = fields.Integer(**_described("samples in the run"))


class StorageSchema(ma.Schema):
    form = fields.String(**_described("how the samples are stored: flac-24bit or float32"))
    reason = fields.String(**_described("why this form"))
    stored_bytes = fields.Integer(**_described("bytes of the stored samples"))
    float32_bytes = fields.Integer(**_described("bytes the samples take as float32"))
    compression_ratio = fields.Float(**_described("stored_bytes / float32_bytes"))
    exact_sample_rate_hz = fields.Float(**_described("sampling rate in Hz, as recorded with the samples"))
    served = fields.String(**_described("what /raw, /wav and /flac serve of them"))


class DataSchema(ma.Schema):
    sample_format = fields.String(**_described("format of the samples in /raw and /wav"))
    sample_unit = fields.String(**_described("unit of the samples"))
    n_samples = fields.Integer(**_described("samples in the package"))
    n_expected = fields.Integer(**_described("sample instants of the window on the data's sample grid"))
    coverage = fields.Float(**_described("n_samples / n_expected"))
    min_coverage = fields.Float(**_described("the coverage below which a window is skipped"))
    gaps = fields.List(fields.Nested(GapSchema), **_described("missing time inside the window"))
    gap_representation = fields.String(**_described("how each product represents the gaps"))
    runs = fields.List(fields.Nested(RunSchema), **_described("contiguous runs of samples, in time order"))
    adf_window_size = fields.Integer(**_described("the ADF analysis window of the frames (their header's window_size)"))
    adf_frame_length = fields.Integer(**_described("samples per ADF frame"))
    storage = fields.Nested(StorageSchema, **_described("how the samples are stored"))


class InfoCalibrationSchema(ma.Schema):
    calibrated = fields.Boolean(**_described("whether the sensor's calibration is known"))
    psd_calibrated = fields.Boolean(**_described("whether /psd is in dB re 1 uPa^2/Hz"))
    psd_unit = fields.String(**_described("unit of /psd"))
    sensitivity_db_re_1v_per_upa = fields.Float(allow_none=True, **_described("sensitivity S, dB re 1 V/uPa; null if unknown"))
    gain_db = fields.Float(allow_none=True, **_described("gain G of the amplifier chain, dB; null if unknown"))
    volts_per_unit = fields.Float(allow_none=True, **_described("volts per sample unit; null if unknown"))
    sign_convention = fields.String(allow_none=True, **_described("the polarity of the samples; null if unknown"))
    psd_offset_db = fields.Float(allow_none=True, **_described(
        "dB added to levels in sample units to get dB re 1 uPa^2/Hz with a flat sensitivity; null with a curve or none"))
    sensitivity_curve = fields.Dict(allow_none=True, **_described(
        "the sensitivity curve in force at the package's start (frequency_hz, sensitivity_db_re_1v_per_upa, valid_from, "
        "valid_until, source; interpolated in log frequency, end values held); null: flat or uncalibrated"))
    offset_db_at_1khz = fields.Float(**_described("the offset at 1 kHz (the flat offset without a curve); calibrated only"))
    calibration_tag = fields.String(**_described("short tag of the calibration the products were made with (uncal: none)"))


class DamageSchema(ma.Schema):
    blob_key = fields.String(**_described("the stored file found damaged"))
    detail = fields.String(**_described("what did not match"))
    detected = fields.String(**_described("when it was found, ISO 8601"))
    repaired = fields.String(allow_none=True, **_described("when it was made again or put back; null: damaged now"))


class IntegritySchema(ma.Schema):
    damaged = fields.Boolean(**_described("whether a stored file of the package is damaged now (its samples then answer 503)"))
    damage = fields.List(fields.Nested(DamageSchema), **_described("every damage found, and when repaired"))
    checks = fields.String(**_described("how served bytes are checked"))


class InfoSchema(ma.Schema):
    """Instrument and data-taking settings of a package."""

    package_id = fields.String(**_described("package id <sensor>_<unix window start>"))
    sensor = fields.Nested(SensorSchema, **_described("the sensor, with its metadata and calibration"))
    timing = fields.Nested(TimingSchema, **_described("exact timing of the samples"))
    data = fields.Nested(DataSchema, **_described("the samples: counts, gaps, runs, storage"))
    calibration = fields.Nested(InfoCalibrationSchema, **_described("the calibration the products use"))
    products = fields.Dict(keys=fields.String(), values=fields.Dict(), metadata={
        "description": "per kind: URL, size, SHA-256, how it was made, and which version is served: version (1 as made "
                       "at ingest, +1 per reprocessing that changed it), the settings and software_version that made "
                       "it, when (made), and the version it replaces (null for version 1)"})
    provenance = fields.List(fields.Dict(), **_described("steps (id, description, parameters): the cut, then each product"))
    sources = fields.List(fields.String(), **_described("the ADF files the samples were read from"))
    software_version = fields.String(**_described("version of the software that archived the package"))
    created = fields.String(**_described("when the package was archived, RFC 3339 UTC"))
    integrity = fields.Nested(IntegritySchema, **_described("damage found in the package's stored files"))
