"""Where a package's products are stored: the blob key layout, in one place.

Every blob of a package lives under its prefix
``<sensor>/<YYYY>/<MM>/<DD>/<package id>`` (the UTC day of the window start):

* ``<prefix>.f32``  the samples, little-endian float32 back to back (gaps removed), or
* ``<prefix>.flac``  the same samples as 24-bit FLAC, when they are exact ADC counts (:mod:`.sample_storage`);
* ``<prefix>.mp3``  the MP3;
* ``<prefix>.psd.npz``  linear PSD statistics at the ingest nfft;
  ``<prefix>.nfft<N>.psd.npz`` the same for another nfft, made on demand;
* ``<prefix>.psd.<calibration tag>.json``  the /psd document for the full band;
* ``<prefix>.hmd.npz``  the 1-minute HMD spectra and levels (:mod:`.hmd_product`);
* ``<prefix>.<picture>.<calibration tag>.v<version>.png``  pictures, made on demand.

A sensor-day's HMD aggregates (:mod:`.hmd_day`) live beside the day's packages, under
``<sensor>/<YYYY>/<MM>/<DD>/<sensor>_<YYYYMMDD>.hmd-day.r<revision>`` (:func:`hmd_day_prefix`), one key per revision
of the day, so a later package of the day makes new keys and stored aggregates never change.

A product rebuilt by a reprocessing job (version ``n`` >= 2, made by job
``j``) lives under the *version prefix* ``<prefix>.v<n>-j<j>`` with the same
suffixes (``<prefix>.v2-j17.mp3``, ``<prefix>.v2-j17.psd.npz``, ...): a new
version never overwrites bytes that a client may be reading, and two jobs
never write the same key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from hydroserve.codecs import raw


def package_prefix(package_id: str, sensor: raw.SensorId, boundary_tick: int) -> str:
    """The key prefix of a package's blobs."""
    day = datetime.fromtimestamp(boundary_tick // raw.TICKS_PER_SECOND, UTC)
    return f"{sensor}/{day:%Y/%m/%d}/{package_id}"


def version_prefix(prefix: str, version: int, job_id: int | None) -> str:
    """The key prefix of one version of a product: the package prefix for version 1 made at ingest (no ``job_id``),
    ``<prefix>.v<version>-j<job_id>`` for a version made by reprocessing job ``job_id`` (version 1 too: a product the
    package did not have, e.g. the HMD of a package archived before HMD products existed)."""
    if version == 1 and job_id is None:
        return prefix
    if version < 1 or job_id is None:
        raise ValueError(f"{version=} must be 1, or at least 2 with the job_id of the reprocessing job that made it ({job_id=})")
    return f"{prefix}.v{version}-j{job_id}"


def samples_key(prefix: str) -> str:
    return f"{prefix}.f32"


def flac_key(prefix: str) -> str:
    return f"{prefix}.flac"


def mp3_key(prefix: str) -> str:
    return f"{prefix}.mp3"


def psd_arrays_key(prefix: str, nfft: int | None = None) -> str:
    """The PSD statistics at the ingest nfft (``nfft=None``) or at another ``nfft``."""
    return f"{prefix}.psd.npz" if nfft is None else f"{prefix}.nfft{nfft}.psd.npz"


def psd_document_key(prefix: str, calibration_tag: str) -> str:
    return f"{prefix}.psd.{calibration_tag}.json"


def hmd_key(prefix: str) -> str:
    return f"{prefix}.hmd.npz"


def picture_key(prefix: str, picture: str, calibration_tag: str, version: int) -> str:
    return f"{prefix}.{picture}.{calibration_tag}.v{version}.png"


_VERSION_PART = re.compile(r"\.v\d+-j\d+(?=\.)")

_SOURCES = ((".f32", "samples"), (".flac", "samples"), (".spectrogram.", "samples"), (".mp3", "mp3"),
            (".psd.", "psd"), (".nfft", "psd"), (".hmd.", "hmd"))
"""Key suffix after a package's (version) prefix -> the product whose bytes, or whose samples, the blob was made from."""


def source_of(prefix: str, key: str) -> str | None:
    """What a blob under package prefix ``prefix`` was made from, whatever its version: ``"samples"`` (the samples and
    the pictures drawn from them), ``"mp3"``, ``"psd"`` (the statistics, their documents, other nfft) or ``"hmd"``;
    None for a key outside the prefix or of no known product."""
    if not key.startswith(prefix + "."):
        return None
    rest = _VERSION_PART.sub("", key[len(prefix):], count=1)
    return next((source for suffix, source in _SOURCES if rest.startswith(suffix)), None)


def hmd_day_prefix(sensor: str, day: date, revision: int) -> str:
    """The key prefix of a sensor-day's HMD aggregates at ``revision`` (see :mod:`.hmd_days`)."""
    return f"{_hmd_day_stem(sensor, day)}{revision}"


def _hmd_day_stem(sensor: str, day: date) -> str:
    return f"{sensor}/{day:%Y/%m/%d}/{sensor}_{day:%Y%m%d}.hmd-day.r"


def hmd_day_keys(keys_under: Callable[[str], list[str]], sensor: str, day: date) -> dict[str, int]:
    """Every stored key of a sensor-day's HMD aggregates, any revision, with its revision; ``keys_under(prefix)``
    lists the stored keys starting with ``prefix`` (:meth:`.blobstore.BlobStore.keys`)."""
    stem = _hmd_day_stem(sensor, day)
    found = {}
    for key in keys_under(stem):
        revision, dot, _ = key[len(stem):].partition(".")
        if dot and revision.isdigit():
            found[key] = int(revision)
    return found
