"""hydroserve.codecs: bytes <-> objects, pure functions (ADF raw, WAV, MP3, PSD JSON, ...)."""

from importlib.metadata import PackageNotFoundError, version

try:
    SOFTWARE_VERSION = version("hydroserve")
except PackageNotFoundError:  # running from a source tree that is not installed
    SOFTWARE_VERSION = "0+unknown"
