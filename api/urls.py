"""The URL templates of the service: one place for the routes and for every absolute URL written into records.

Each template is a path below :data:`API_PREFIX` with ``{name}`` placeholders.
The web layer turns a template into a Flask rule with :func:`rule`; the
registration code (resources, alert packets, event tables) builds absolute URLs
with :func:`absolute`, so a record always names a URL the service answers.
"""

from __future__ import annotations

import re

API_PREFIX = "/api/v1"

DOCS = "/docs"

SENSORS = "/sensors"
SENSOR = "/sensors/{sensor}"
PACKAGES = "/packages"
PACKAGE = "/packages/{package_id}"
PACKAGE_PRODUCT = "/packages/{package_id}/{kind}"
PACKAGE_INFO = "/packages/{package_id}/info"
PACKAGE_PSD_PICTURE = "/packages/{package_id}/psd.png"
PACKAGE_SPECTROGRAM_PICTURE = "/packages/{package_id}/spectrogram.png"
SENSOR_BAND_LEVELS_PICTURE = "/sensors/{sensor}/band-levels.png"
SENSOR_HMD_DAY = "/sensors/{sensor}/hmd/{day}.nc"
SENSOR_SPD = "/sensors/{sensor}/spd"
SENSOR_LEVELS = "/sensors/{sensor}/levels"
SENSOR_LTSA_PICTURE = "/sensors/{sensor}/ltsa.png"
SENSOR_SPD_PICTURE = "/sensors/{sensor}/spd.png"
SENSOR_LEVELS_PICTURE = "/sensors/{sensor}/levels.png"
LEVELS = "/levels"

ALERTS = "/alerts"
ALERT = "/alerts/{alert_id}"
ALERT_JSON = "/alerts/{alert_id}.json"
ALERT_REVISIONS = "/alerts/{alert_id}/revisions"
ALERT_LATEST = "/alerts/{alert_id}/latest"

TABLES = "/events/tables"
TABLE = "/events/tables/{table_id}"
TABLE_CSV = "/events/tables/{table_id}.csv"
TABLE_METADATA = "/events/tables/{table_id}.meta.json"
TABLE_HDF5 = "/events/tables/{table_id}.h5"
TABLE_VOTABLE = "/events/tables/{table_id}.vot"
TABLE_CONE_SEARCH = "/events/tables/{table_id}/scs"

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def rule(template: str) -> str:
    """The Flask URL rule of a template: ``/packages/{package_id}`` -> ``/packages/<package_id>``."""
    return _PLACEHOLDER.sub(r"<\1>", template)


def partial(template: str, **values) -> str:
    """A template with some placeholders filled: ``partial(PACKAGE_PRODUCT, kind="wav")`` -> ``/packages/{package_id}/wav``."""
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


def absolute(public_url: str, template: str, **values) -> str:
    """The absolute URL of a template below the API prefix, e.g.
    ``absolute("https://a.org", PACKAGE, package_id="DOM_1_CH1_0")`` -> ``https://a.org/api/v1/packages/DOM_1_CH1_0``."""
    return f"{public_url.rstrip('/')}{API_PREFIX}{template.format(**values)}"
