"""Every product of an archived package, one method per product, for serving and for remaking.

What was stored at ingest is opened; what is derived on demand (a PSD at
another nfft, a band of the PSD, pictures, an MP3 lost from the store) is
made from the stored samples, stored atomically beside them (so concurrent
makers are harmless) and opened. The answer is a :class:`Served`: the bytes
(open file or in memory), their size, an ETag and whether they can ever
change. Where the blobs are is :mod:`.product_keys`: the MP3 and everything
derived from the PSD are read under the version prefix of the product's
current version (:mod:`.reprocess` makes new versions).

Every blob is read through :class:`~.integrity.Integrity`: the samples
chunk by chunk as they are served (a bad chunk stops the answer), every
other blob checked whole before its first byte. A damaged product that can
be made from the samples (MP3, PSD, pictures) is made again, checked
against the catalog's SHA-256 where there is one, stored atomically and
marked repaired; damaged samples stay damaged until repaired. Whole /raw
and /wav views are also kept as files on the node's disk when it has a
:class:`~.view_cache.ViewCache`, and sent from there.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from hydroserve.codecs import psdjson

from . import composite, hmd_product, mp3_product, pictures, product_keys, products, psd_product, sample_storage
from .blobstore import BlobDamaged, BlobNotFound, BlobStore, ChecksumsMissing
from .calibration import in_force
from .catalog import PackageRecord
from .current_psd import CurrentPsd
from .integrity import RECORDED_DAMAGE, Integrity, VerifiedBlob
from .product_settings import ProductSettings
from .psd import Psd
from .sensors import Calibration, SensorCatalog, calibration_tag
from .view_cache import ViewCache
from .window import Run


@dataclass(frozen=True)
class Served:
    """Bytes to serve: a seekable ``file`` of ``size_bytes`` (``in_memory`` for small documents made per request),
    their ``etag``, and ``immutable`` when they can never change (a new calibration changes pictures and /psd)."""

    file: BinaryIO
    size_bytes: int
    media_type: str
    etag: str
    immutable: bool
    in_memory: bool = False


class PackageProducts:
    """The products of archived packages, read from (and, when derived on demand, written to) ``blobs``.

    Parameters
    ----------
    blobs : BlobStore
    sensors : SensorCatalog
        The calibrations that the PSD, its pictures and band levels are given in.
    settings : ProductSettings
        Parameters of an MP3 remade because its blob is missing or damaged.
    integrity : Integrity
        Opens the blobs checked against their checksums and records damage.
    views : ViewCache, optional
        Where whole /raw and /wav views are kept on this node's disk, to be sent as files (:mod:`.view_cache`).
    """

    def __init__(self, blobs: BlobStore, sensors: SensorCatalog, settings: ProductSettings, integrity: Integrity,
                 views: ViewCache | None = None):
        self.blobs = blobs
        self.sensors = sensors
        self.settings = settings
        self.integrity = integrity
        self.views = views

    def calibration(self, record: PackageRecord | CurrentPsd) -> Calibration | None:
        """The sensor's calibration in force at the package's start (at most one sensitivity curve)."""
        return in_force(self.sensors.info(record.sensor).calibration, record.boundary_tick)

    def samples(self, record: PackageRecord) -> BinaryIO:
        """The stored samples (float32, runs back to back), each chunk checked as it is read; decoded as they are read
        when they are stored as FLAC (see :mod:`.sample_storage`).

        Raises
        ------
        BlobNotFound
        BlobDamaged
            They are (or were found) damaged; also raised by reads that meet a bad chunk.
        """
        if "flac" in record.products:
            return sample_storage.FlacSamples(self._flac_blob(record), record.n_samples)
        wav_header = self._wav_layout(record).parts[0].data
        return self.integrity.open(record.samples_key, record.package_id, expected_sha256=record.products["wav"].sha256,
                                   legacy_prefix=wav_header)

    def flac(self, record: PackageRecord) -> Served:
        """The samples as stored in FLAC (24-bit, lossless), each chunk checked as it is served.

        Raises
        ------
        KeyError
            The package's samples are stored as float32: it has no FLAC.
        """
        product = record.products["flac"]
        return Served(self._flac_blob(record), product.size_bytes, product.media_type, product.sha256, immutable=True)

    def _flac_blob(self, record: PackageRecord) -> VerifiedBlob:
        return self.integrity.open(record.samples_key, record.package_id, expected_sha256=record.products["flac"].sha256)

    def raw(self, record: PackageRecord) -> Served:
        """The ADF raw dump: a view on the samples (NaN pads the last frame of each run)."""
        layout = products.adf_view(record.runs, frame_length=record.products["raw"].details["frame_length"],
                                      window_size=record.window_size)
        return self._view(record, "raw", layout)

    def wav(self, record: PackageRecord) -> Served:
        """The float32 WAV: a header and the samples."""
        return self._view(record, "wav", self._wav_layout(record))

    def mp3(self, record: PackageRecord) -> Served:
        """The MP3 as stored (made again from the samples, with the settings of its version, if its blob is missing
        or damaged)."""
        product = record.products["mp3"]
        calibration = self.calibration(record)

        def make() -> bytes:
            settings = self.settings if product.settings is None else ProductSettings.from_json(product.settings)
            return mp3_product.make(self.sample_runs(record), settings, calibration, title=record.package_id)[0]

        file = self._open_or_make(record, product.blob_key, make, expected_sha256=product.sha256)
        return Served(file, product.size_bytes, product.media_type, product.sha256, immutable=False)  # reprocessing changes it

    def psd_statistics(self, record: PackageRecord, nfft: int | None = None) -> Psd:
        """The linear PSD statistics at ``nfft`` (the ingest nfft by default), computed once and stored.

        Raises
        ------
        ValueError
            When ``nfft`` is invalid or no whole segment of that length fits in a run.
        """
        ingest_nfft = record.products["psd"].details["nfft"]
        key = product_keys.psd_arrays_key(self._prefix(record, "psd"), None if nfft in (None, ingest_nfft) else nfft)
        make = lambda: psd_product.to_npz(psd_product.compute(self.sample_runs(record), nfft or ingest_nfft))  # noqa: E731
        with self._open_or_make(record, key, make) as stored:
            return psd_product.from_npz(stored.read())

    def psd(self, record: PackageRecord, *, nfft: int | None = None, fmin_hz: float | None = None,
            fmax_hz: float | None = None) -> Served:
        """The /psd document: as stored for the full band at the ingest nfft, else made for the band and nfft asked.

        Raises
        ------
        ValueError
            As :meth:`psd_statistics`.
        """
        product = record.products["psd"]
        calibration = self.calibration(record)
        etag = _psd_etag(product.sha256, product.details["calibration_tag"], calibration_tag(calibration), nfft=nfft,
                         fmin_hz=fmin_hz, fmax_hz=fmax_hz)
        if etag == product.sha256:
            file = self._open_or_make(record, product.blob_key,
                                      lambda: psd_product.document(record.package_id, self.psd_statistics(record), calibration),
                                      expected_sha256=product.sha256)
            return Served(file, product.size_bytes, product.media_type, product.sha256, immutable=False)
        document = psd_product.document(record.package_id, self.psd_statistics(record, nfft).band(fmin_hz, fmax_hz), calibration)
        return Served(io.BytesIO(document), len(document), psdjson.MEDIA_TYPE, etag, immutable=False, in_memory=True)

    def psd_etag(self, current: CurrentPsd, *, fmin_hz: float | None = None, fmax_hz: float | None = None) -> str:
        """The ETag :meth:`psd` gives the document asked for, from the catalog's PSD row alone: it names the document's
        bytes (the stored document's SHA-256, or a hash of that, the band, the nfft and the calibration tag)."""
        return _psd_etag(current.sha256, current.calibration_tag, calibration_tag(self.calibration(current)), nfft=None,
                         fmin_hz=fmin_hz, fmax_hz=fmax_hz)

    def hmd_file(self, record: PackageRecord) -> Served:
        """The HMD product as stored (.npz; made again from the samples if its blob is missing or damaged)."""
        product = record.products["hmd"]

        def make() -> bytes:
            return hmd_product.compute(self.sample_runs(record), record.runs, self.calibration(record)).to_npz_bytes()

        file = self._open_or_make(record, product.blob_key, make, expected_sha256=product.sha256)
        return Served(file, product.size_bytes, product.media_type, product.sha256, immutable=False)  # reprocessing changes it

    def hmd(self, record: PackageRecord) -> hmd_product.PackageHmd:
        """The package's 1-minute HMD spectra and levels (:class:`~.hmd_product.PackageHmd`), read whole and checked.

        Raises
        ------
        KeyError
            The package has no HMD product (archived before HMD products existed).
        BlobDamaged
            Made again from the samples, it still differs from the catalog's SHA-256.
        """
        with self.hmd_file(record).file as stored:
            return hmd_product.PackageHmd.from_npz_bytes(stored.read())

    def psd_picture(self, record: PackageRecord, *, log_frequency: bool, small: bool = False) -> Served:
        """The PSD picture (from the ingest PSD); ``small`` for phone width."""
        calibration = self.calibration(record)
        name = ("psd.log" if log_frequency else "psd.linear") + (".small" if small else "")
        return self._picture(record, name, "psd", lambda: pictures.psd_picture(record, self.psd_statistics(record), calibration,
                                                                        log_frequency=log_frequency, small=small))

    def spectrogram_picture(self, record: PackageRecord, fixed_range_db: tuple[float, float] | None = None, *,
                            thumbnail: bool = False) -> Served:
        """The spectrogram picture (or its ``thumbnail``), its colours spanning ``fixed_range_db`` (low, high) dB, or
        auto-scaled (None); each range is a picture of its own (so its ETag changes with the range)."""
        calibration = self.calibration(record)

        def make() -> bytes:
            with self.samples(record) as stored:
                return pictures.spectrogram_picture(record, stored, calibration, fixed_range_db, thumbnail=thumbnail)

        name = "spectrogram.thumbnail" if thumbnail else "spectrogram"
        if fixed_range_db is not None:
            name += ".db{:g}_{:g}".format(*fixed_range_db)
        return self._picture(record, name, None, make)

    def band_levels(self, records: list[PackageRecord], statistic: str) -> pictures.BandLevels:
        """Band levels of one sensor's ``records`` (oldest first) from their stored PSDs, each calibrated as in force at
        its start."""
        return pictures.band_levels(records, [self.psd_statistics(r) for r in records],
                                    [self.calibration(r) for r in records], statistic)

    def band_levels_etag(self, records: list[PackageRecord], statistic: str) -> str:
        """What the band-level picture of ``records`` depends on, hashed: it changes as packages arrive."""
        state = [pictures.PICTURE_VERSION, statistic] + [
            (r.package_id, r.products["psd"].sha256, calibration_tag(self.calibration(r))) for r in records]
        return hashlib.sha256(repr(state).encode()).hexdigest()[:40]

    def _prefix(self, record: PackageRecord, kind: str | None = None) -> str:
        """The key prefix of the package, or of the current version of its product ``kind``."""
        prefix = product_keys.package_prefix(record.package_id, record.sensor, record.boundary_tick)
        if kind is None:
            return prefix
        product = record.products[kind]
        return product_keys.version_prefix(prefix, product.version, product.job_id)

    def sample_runs(self, record: PackageRecord) -> list[np.ndarray]:
        """The stored samples (read whole, every chunk checked), one array per contiguous run.

        Raises
        ------
        BlobNotFound
        BlobDamaged
        """
        with self.samples(record) as stored:
            samples = np.frombuffer(stored.read(), dtype="<f4")
        return _split_runs(samples, record.runs, record.samples_key)

    def _wav_layout(self, record: PackageRecord) -> composite.Composite:
        return products.wav_view(record.package_id, record.n_samples, record.start_tick, len(record.gaps))

    def _view(self, record: PackageRecord, kind: str, layout: composite.Composite) -> Served:
        """A view on the samples: from the view cache (a file, checked), else made from the stored samples as it is
        read, filling the cache. Samples recorded as damaged are not served from the cache either (503 until repaired,
        on every node alike)."""
        product = record.products[kind]
        if self.views is None:
            return Served(composite.CompositeFile(layout, self.samples(record)), layout.size, product.media_type,
                          product.sha256, immutable=True)
        if self.integrity.damage.is_damaged(record.samples_key):
            raise BlobDamaged(record.samples_key, RECORDED_DAMAGE)
        file = self.views.open(product.sha256, layout.size)
        if file is None:
            file = self.views.filling_reader(composite.CompositeFile(layout, self.samples(record)), product.sha256)
        return Served(file, layout.size, product.media_type, product.sha256, immutable=True)

    def _picture(self, record: PackageRecord, name: str, made_from: str | None, make: Callable[[], bytes]) -> Served:
        """A picture made from the samples (``made_from`` None) or from the product ``made_from``."""
        key = product_keys.picture_key(self._prefix(record, made_from), name, calibration_tag(self.calibration(record)),
                                       pictures.PICTURE_VERSION)
        stored = self._open_or_make(record, key, make)
        return Served(stored, stored.size_bytes, pictures.MEDIA_TYPE, stored.checksums.sha256, immutable=False)

    def _open_or_make(self, record: PackageRecord, key: str, make: Callable[[], bytes], *,
                      expected_sha256: str | None = None) -> VerifiedBlob:
        """The blob under ``key``, checked whole; made with ``make()`` and stored (atomically) first if it is missing,
        damaged, or an old derived file without checksums. ``expected_sha256``: what the catalog says it holds.

        Raises
        ------
        BlobDamaged
            Made again, it still differs from ``expected_sha256`` (or the samples it is made from are damaged).
        """
        try:
            return self.integrity.open(key, record.package_id, expected_sha256=expected_sha256, whole=True)
        except (BlobNotFound, ChecksumsMissing):
            damaged = False
        except BlobDamaged:
            damaged = True
        data = make()
        if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
            raise BlobDamaged(key, "made again from the samples, it differs from the catalog's SHA-256")
        self.blobs.put(key, [data])
        if damaged:
            self.integrity.damage.repaired(key)
        return self.integrity.open(key, record.package_id, expected_sha256=expected_sha256, whole=True)


def _psd_etag(stored_sha256: str, stored_tag: str, tag: str, *, nfft: int | None, fmin_hz: float | None,
              fmax_hz: float | None) -> str:
    """The stored document's SHA-256 when it is what is asked for (whole band, ingest nfft, the calibration it was made
    with), else a hash of what the document made for the request depends on."""
    if fmin_hz is None and fmax_hz is None and nfft is None and stored_tag == tag:
        return stored_sha256
    return hashlib.sha256(f"{stored_sha256}|{nfft}|{fmin_hz}|{fmax_hz}|{tag}".encode()).hexdigest()[:40]


def _split_runs(samples: np.ndarray, runs: tuple[Run, ...], key: str) -> list[np.ndarray]:
    expected = sum(r.n_samples for r in runs)
    if len(samples) != expected:
        raise OSError(f"samples blob {key} holds {len(samples)} samples, the catalog says {expected}")
    return products.run_arrays(samples, runs)
