"""Long-term soundscape queries: daily HMD files, SPD and percentiles, band levels of one or many sensors.

Answers come from the sensor-day aggregates (:mod:`.hmd_day`), found
through the ``hmd_days`` table (:mod:`.hmd_days`: one small row per
sensor-day, never the packages), read from the blob store (checked against
their chunk checksums) and made from the per-package HMD products when
missing or damaged (the first request after a package of that day arrived
makes them; each blob is replaced atomically, and concurrent makers of one
revision store the same content: only the netCDF's ``date_created`` differs,
so a day file's ETag may change once after such a race); once
stored, the aggregates of the day's earlier revisions are deleted. Whole days
of a time range use the stored aggregates, and so does a day cut by the range
that has no data outside it (today, up to now). The SPD of the minutes of a day
that the range cuts is made from those packages' HMD once per revision of the
day and stored under it, named by the first and last minute it counts (levels
and LTSA cut the stored minute and hourly aggregates).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
from sqlalchemy.engine import Engine

from hydroserve.codecs.raw import TICKS_PER_SECOND, SensorId

from . import catalog, hmd_day, hmd_days, hmd_product, level_series, product_keys, soundscape_pictures, spd
from .blobstore import BlobDamaged, BlobNotFound, BlobStore, ChecksumsMissing
from .hmd_bands import hmd_bands
from .integrity import VerifiedBlob
from .level_series import NS_PER_S, LevelSeries
from .package_products import PackageProducts
from .sensors import SensorCatalog, offset_db_at

PACKAGE_LOOKBACK_S = 3600
"""Packages are found by window start: one that starts up to this long before a range can still reach into it."""
READ_THREADS = 8


@dataclass(frozen=True)
class DayFile:
    """A sensor-day's netCDF: ``data``, its SHA-256 ``etag``, the SoundCoop ``file_name``, the day's ``revision``."""

    data: bytes
    etag: str
    file_name: str
    revision: int


class NoData(LookupError):
    """Nothing of the sensor (or sensors) in the time range asked."""


class Soundscape:
    """The soundscape queries of an archive.

    Parameters
    ----------
    engine : Engine
        The catalog (read only: the ``hmd_days`` rows are written in the packages' transactions).
    blobs : BlobStore
        Where the day aggregates are stored beside the packages.
    products : PackageProducts
        Reads the per-package HMD products.
    sensors : SensorCatalog
        Detector, type and calibration named in the day files.
    describe_day : callable
        ``describe_day(sensor, day) -> (resource kid, landing URL)`` of the day's open-data resource.
    """

    def __init__(self, engine: Engine, blobs: BlobStore, products: PackageProducts, sensors: SensorCatalog,
                 describe_day: Callable[[str, date], tuple[str, str]]):
        self.engine = engine
        self.blobs = blobs
        self.products = products
        self.sensors = sensors
        self.describe_day = describe_day
        self.centre_hz = hmd_bands().centre_hz

    # -- the day aggregates ------------------------------------------------------------------------------------------

    def revisions(self, first_day: date, last_day: date, sensors: list[str] | None = None) -> dict[tuple[str, date], int]:
        with self.engine.connect() as conn:
            return hmd_days.revisions(conn, first_day=first_day, last_day=last_day, sensors=sensors)

    def day_file(self, sensor: str, day: date) -> DayFile:
        """The day's netCDF (made first if it is not stored at the day's current revision).

        Raises
        ------
        NoData
            The sensor has no data on that day.
        """
        revision = self.revisions(day, day, [sensor]).get((sensor, day))
        if revision is None:
            raise NoData(f"{sensor} has no HMD on {day:%Y-%m-%d}")
        data = self._part(sensor, day, revision, "nc")
        detector = self.sensors.info(SensorId.parse(sensor)).detector
        return DayFile(data, self.blobs.checksums(self._key(sensor, day, revision, "nc")).sha256,
                       hmd_day.file_name(SensorId.parse(sensor), day, detector), revision)

    def _key(self, sensor: str, day: date, revision: int, part: str) -> str:
        return f"{product_keys.hmd_day_prefix(sensor, day, revision)}.{part}"

    def _part(self, sensor: str, day: date, revision: int, part: str) -> bytes:
        stored = self._read(self._key(sensor, day, revision, part))
        if stored is not None:
            return stored
        return self._make(sensor, day, revision)[part]

    def _read(self, key: str) -> bytes | None:
        """The blob, every chunk checked against its checksum; None if missing or damaged (it is made again)."""
        try:
            with VerifiedBlob(self.blobs.open(key), self.blobs.checksums(key), key) as blob:
                return blob.readall()
        except (BlobNotFound, ChecksumsMissing, BlobDamaged, FileNotFoundError):
            return None

    def _make(self, sensor: str, day: date, revision: int) -> dict[str, bytes]:
        start_s = hmd_days.day_start_unix_s(day)
        minutes = self._minutes(sensor, start_s, start_s + hmd_days.DAY_S)
        if minutes is None:
            raise NoData(f"{sensor} has no HMD products on {day:%Y-%m-%d} (deleted by the retention rules?)")
        info = self.sensors.info(SensorId.parse(sensor))
        kid, landing = self.describe_day(sensor, day)
        attributes = hmd_day.global_attributes(
            sensor=info.sensor, day=day, detector=info.detector, sensor_type=info.type, calibrated=bool(minutes.calibrated),
            calibration=minutes.calibration, n_minutes=int(np.count_nonzero(minutes.effort_s)), revision=revision,
            resource_kid=kid, landing_url=landing)
        offset = offset_db_at(info.calibration if minutes.calibrated else None, self.centre_hz, float(start_s))
        made = hmd_day.aggregate(minutes, centre_hz=self.centre_hz, calibration_offset_db=offset, attributes=attributes)
        parts = {"nc": made.netcdf, "minutes.bin": made.minutes.to_bytes(), "hours.bin": made.hours.to_bytes(),
                 "spd.npz": made.histogram.to_npz_bytes(), "ltsa.bin": made.ltsa.to_bytes()}
        self._store(sensor, day, revision, parts)
        return parts

    def _store(self, sensor: str, day: date, revision: int, parts: dict[str, bytes]) -> None:
        """Store ``parts`` of the day's aggregates made at ``revision``, then delete those of the revisions before the
        day's current one (this one too, if a later package was committed meanwhile: it is superseded already)."""
        for part, data in parts.items():
            self.blobs.put(self._key(sensor, day, revision, part), [data])
        current = self.revisions(day, day, [sensor]).get((sensor, day), revision)
        for key in hmd_days.superseded_keys(self.blobs, sensor, day, current):
            self.blobs.delete(key)

    def _minutes(self, sensor: str, start_s: int, end_s: int):
        """The sensor's 1-minute HMD starting in ``[start_s, end_s)``, combined over packages; None without any."""
        start_tick, end_tick = start_s * TICKS_PER_SECOND, end_s * TICKS_PER_SECOND
        with self.engine.connect() as conn:
            records = catalog.list_packages(conn, sensor=sensor, start_tick=start_tick - PACKAGE_LOOKBACK_S * TICKS_PER_SECOND,
                                            end_tick=end_tick, newest_first=False, limit=1_000_000)
        records = [r for r in records if r.end_tick > start_tick and "hmd" in r.products and "hmd" not in r.expired]
        if not records:
            return None
        combined = hmd_product.combine_minutes([self.products.hmd(r) for r in records])
        starts = combined.minute_start_unix_ns
        keep = (starts >= start_s * NS_PER_S) & (starts < end_s * NS_PER_S)
        if not keep.any():
            return None
        return _select_minutes(combined, keep)

    # -- queries -----------------------------------------------------------------------------------------------------

    def _plan(self, sensors: list[str] | None, start_s: int, end_s: int):
        """The sensor-days of the range with data: ``(sensor, day, revision, whole)``, ``whole`` when the day lies
        entirely inside ``[start_s, end_s)``."""
        days = hmd_days.days_between(start_s, end_s)
        if not days:
            raise ValueError(f"end ({end_s}) must be after start ({start_s})")
        found = self.revisions(days[0], days[-1], sensors)
        plan = []
        for (sensor, day), revision in sorted(found.items()):
            day_start = hmd_days.day_start_unix_s(day)
            plan.append((sensor, day, revision, start_s <= day_start and day_start + hmd_days.DAY_S <= end_s))
        return plan

    def _map(self, function, items: list) -> list:
        if len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(READ_THREADS) as pool:  # blob reads and checksums release the GIL
            return list(pool.map(function, items))

    def spd(self, sensor: str, start_s: int, end_s: int) -> spd.LevelHistogram:
        """The level histogram of every HMD band over the minutes of ``[start_s, end_s)``.

        Raises
        ------
        NoData
        ValueError
            An empty range, or one mixing calibrated and uncalibrated days.
        """
        plan = self._plan([sensor], start_s, end_s)

        def histogram(item) -> spd.LevelHistogram | None:
            _, day, revision, whole = item
            if whole:
                return spd.LevelHistogram.from_npz_bytes(self._part(sensor, day, revision, "spd.npz"))
            return self._cut_day_histogram(sensor, day, revision, start_s, end_s)

        found = [h for h in self._map(histogram, plan) if h is not None]
        if not found:
            raise NoData(f"{sensor} has no HMD between {start_s} and {end_s} (Unix s)")
        return spd.merge(found)

    def _cut_day_histogram(self, sensor: str, day: date, revision: int, start_s: int, end_s: int
                           ) -> spd.LevelHistogram | None:
        """The level histogram of the day's minutes (with a segment) starting in ``[start_s, end_s)``: the day's
        stored one when those are all of them, else one of just those, stored under the day's revision and the first
        and last minute counted (made once per revision); None when the range holds none of the day's minutes."""
        starts_s = LevelSeries.from_bytes(self._part(sensor, day, revision, "minutes.bin")).start_unix_ns // NS_PER_S
        inside = starts_s[(starts_s >= start_s) & (starts_s < end_s)]
        if len(inside) == 0:
            return None
        if len(inside) == len(starts_s):
            return spd.LevelHistogram.from_npz_bytes(self._part(sensor, day, revision, "spd.npz"))
        part = f"spd-{int(inside[0])}-{int(inside[-1])}.npz"
        stored = self._read(self._key(sensor, day, revision, part))
        if stored is not None:
            return spd.LevelHistogram.from_npz_bytes(stored)
        minutes = self._minutes(sensor, int(inside[0]), int(inside[-1]) + 60)
        if minutes is None:
            raise NoData(f"{sensor} has no HMD products on {day:%Y-%m-%d} (deleted by the retention rules?)")
        made = hmd_day.day_histogram(minutes)
        self._store(sensor, day, revision, {part: made.to_npz_bytes()})
        return made

    def ltsa(self, sensor: str, start_s: int, end_s: int, resolution_s: int) -> LevelSeries:
        """The mean HMD spectra of ``[start_s, end_s)`` in bins of ``resolution_s`` (a multiple of 60 s) aligned on the
        Unix epoch: from the stored hourly spectra when ``resolution_s`` is a whole number of hours (hours starting
        in the range), else from the packages' minutes (minutes starting in it).

        Raises
        ------
        NoData
        ValueError
        """
        if resolution_s < 60 or resolution_s % 60:
            raise ValueError(f"{resolution_s=} must be a positive multiple of 60 s")
        plan = self._plan([sensor], start_s, end_s)

        def spectra(item) -> LevelSeries | None:
            _, day, revision, _ = item
            if resolution_s % hmd_day.HOUR_S == 0:
                return LevelSeries.from_bytes(self._part(sensor, day, revision, "ltsa.bin")).within(
                    start_s * NS_PER_S, end_s * NS_PER_S)
            day_start = hmd_days.day_start_unix_s(day)
            minutes = self._minutes(sensor, max(start_s, day_start), min(end_s, day_start + hmd_days.DAY_S))
            return None if minutes is None else hmd_day.hmd_means(minutes, self.centre_hz, resolution_s)

        parts = [part for part in self._map(spectra, plan) if part is not None]
        if not parts:
            raise NoData(f"{sensor} has no HMD between {start_s} and {end_s} (Unix s)")
        return level_series.resample(level_series.concatenate(parts), resolution_s)

    def picture_etag(self, sensor: str, kind: str, start_s: int, end_s: int, parameters: tuple) -> str:
        """What a long-term picture depends on, hashed: the day revisions of the range (a new package changes it)."""
        days = hmd_days.days_between(start_s, end_s)
        found = sorted(self.revisions(days[0], days[-1], [sensor]).items()) if days else []
        state = (soundscape_pictures.PICTURE_VERSION, kind, sensor, start_s, end_s, parameters, found)
        return hashlib.sha256(repr(state).encode()).hexdigest()[:40]

    def picture(self, sensor: str, etag: str, kind: str, start_s: int, end_s: int, make: Callable[[], bytes]) -> bytes:
        """The picture of ``[start_s, end_s)`` stored under its ``etag`` (:meth:`picture_etag`), drawn with ``make()``
        and stored first if missing. It is stored with the aggregates of the range's last day with data, at that
        day's revision, so it goes when they go (a new revision of that day, retention); without data it is not
        stored."""
        days = hmd_days.days_between(start_s, end_s)
        found = self.revisions(days[0], days[-1], [sensor]) if days else {}
        if not found:
            return make()
        (_, last_day), revision = max(found.items())
        key = self._key(sensor, last_day, revision, f"picture-{kind}-{etag}.png")
        stored = self._read(key)
        if stored is None:
            stored = make()
            self.blobs.put(key, [stored])
        return stored

    def levels(self, sensor: str, start_s: int, end_s: int, resolution_s: int) -> LevelSeries:
        """Decidecade and broadband levels of one sensor in bins of ``resolution_s`` (a multiple of 60 s).

        Raises
        ------
        NoData
        ValueError
        """
        found = self.levels_many([sensor], start_s, end_s, resolution_s)
        if sensor not in found:
            raise NoData(f"{sensor} has no HMD between {start_s} and {end_s} (Unix s)")
        return found[sensor]

    def levels_many(self, sensors: list[str] | None, start_s: int, end_s: int, resolution_s: int) -> dict[str, LevelSeries]:
        """Level series of several sensors (all with data by default), each in bins of ``resolution_s`` aligned on the
        Unix epoch; sensors without data in the range are absent. Whole days at a resolution of whole hours are read
        from the hourly aggregates, the rest from the minutes."""
        if resolution_s < 60 or resolution_s % 60:
            raise ValueError(f"{resolution_s=} must be a positive multiple of 60 s")
        hourly = resolution_s % hmd_day.HOUR_S == 0

        def series(item) -> tuple[str, LevelSeries]:
            sensor, day, revision, whole = item
            if whole and hourly:
                return sensor, LevelSeries.from_bytes(self._part(sensor, day, revision, "hours.bin"))
            minutes = LevelSeries.from_bytes(self._part(sensor, day, revision, "minutes.bin"))
            return sensor, minutes.within(start_s * NS_PER_S, end_s * NS_PER_S)

        by_sensor: dict[str, list[LevelSeries]] = {}
        for sensor, part in self._map(series, self._plan(sensors, start_s, end_s)):
            by_sensor.setdefault(sensor, []).append(part)
        return {sensor: level_series.resample(level_series.concatenate(parts), resolution_s)
                for sensor, parts in by_sensor.items()}


def _select_minutes(minutes, keep: np.ndarray):
    """``minutes`` (a ``PackageHmd``) reduced to the minutes ``keep``."""
    per_minute = ("minute_start_unix_ns", "effort_s", "n_segments", "band_density", "quality_flag",
                  "decidecade_mean_square", "broadband_mean_square")
    return replace(minutes, **{name: getattr(minutes, name)[keep] for name in per_minute})
