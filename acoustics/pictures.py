"""Pictures of the acoustic data (PNG): a package's PSD and spectrogram, a sensor's noise in bands over time.

Rendering is :mod:`.plots`; this module decides what goes into each picture
(statistics, units, titles). ``PICTURE_VERSION`` is part of every stored
picture's key and is raised whenever the rendering changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

import numpy as np

from hydroserve.codecs import raw
from hydroserve.codecs.times import readable_utc, tick_to_datetime

from . import bands, plots, psd_product, spectrogram
from .catalog import PackageRecord
from .psd import Psd
from .sensors import Calibration, offset_db_at

PICTURE_VERSION = 1
THUMBNAIL_COLUMNS = 256
MEDIA_TYPE = "image/png"


def psd_picture(record: PackageRecord, result: Psd, calibration: Calibration | None, *, log_frequency: bool,
                small: bool = False) -> bytes:
    """The package's PSD statistics against frequency, in the unit of /psd."""
    title = (f"{record.package_id}, from {readable_utc(tick_to_datetime(record.start_tick))}\n"
             f"Welch PSD: nfft {result.nfft} (Δf {result.frequency_hz[1]:.1f} Hz), {result.n_segments} segments "
             f"over {result.effort_s:.1f} s, Hann, 50 % overlap")
    return plots.psd_png(result, offset_db=offset_db_at(calibration, result.frequency_hz), unit=psd_product.display_unit(calibration),
                         title=title, log_frequency=log_frequency, small=small)


def spectrogram_picture(record: PackageRecord, samples: BinaryIO, calibration: Calibration | None,
                        fixed_range_db: tuple[float, float] | None = None, *, thumbnail: bool = False) -> bytes:
    """The package's spectrogram (see :func:`.spectrogram.stored_spectrogram`) from its stored samples, its colours
    spanning ``fixed_range_db`` (None: auto-scaled); small, without title and colour bar, when ``thumbnail``."""
    result = spectrogram.stored_spectrogram(
        samples, record.runs, window_start_tick=record.boundary_tick, n_expected=record.n_expected,
        sample_rate_hz=raw.SAMPLE_RATE_HZ, max_columns=THUMBNAIL_COLUMNS if thumbnail else spectrogram.DEFAULT_MAX_COLUMNS,
    )
    if thumbnail:
        return plots.spectrogram_thumbnail_png(result, offset_db=offset_db_at(calibration, result.frequency_hz), fixed_range_db=fixed_range_db)
    return plots.spectrogram_png(result, offset_db=offset_db_at(calibration, result.frequency_hz), unit=psd_product.display_unit(calibration),
                                 title=f"{record.package_id}, window from {readable_utc(tick_to_datetime(record.boundary_tick))}",
                                 fixed_range_db=fixed_range_db)


@dataclass(frozen=True)
class BandLevels:
    """Band-averaged PSD levels of a sensor's packages, oldest first; ``levels_db`` has shape (n_packages, n_bands)."""

    records: list[PackageRecord]
    levels_db: np.ndarray
    bands: tuple[bands.Band, ...]
    statistic: str
    unit: str

    @property
    def starts(self) -> list[datetime]:
        return [tick_to_datetime(r.boundary_tick) for r in self.records]

    @property
    def newest_first(self) -> list[tuple[PackageRecord, datetime, np.ndarray]]:
        """(package, window start, levels) rows, newest first."""
        return list(zip(self.records, self.starts, self.levels_db))[::-1]


def band_levels(records: list[PackageRecord], statistics: list[Psd], calibrations: list[Calibration | None],
                statistic: str) -> BandLevels:
    """Band levels (:func:`.bands.band_levels_db` in :data:`.bands.DEFAULT_BANDS`) of one sensor's packages,
    calibrated if the sensor is: each package with its calibration (the one in force at its start), frequency by
    frequency before the band average."""
    levels = np.array([bands.band_levels_db(psd_product.calibrated(result, calibration), bands.DEFAULT_BANDS, statistic)
                       for result, calibration in zip(statistics, calibrations, strict=True)])
    return BandLevels(records, levels, bands.DEFAULT_BANDS, statistic, psd_product.display_unit(calibrations[-1]))


def band_levels_picture(levels: BandLevels, *, small: bool = False) -> bytes:
    """The band levels against package start time."""
    sensor = levels.records[0].sensor
    title = f"{sensor}: band-averaged {levels.statistic} PSD, {len(levels.records)} latest packages"
    return plots.band_levels_png(levels.starts, levels.levels_db, levels.bands, unit=levels.unit, title=title, small=small)
