"""Helpers of the alert tests: the official VOEvent 2.0 schema (from the comet package), the sample alert, posting."""

from __future__ import annotations

import copy
import functools
import json
from importlib.resources import files

from flask import url_for
from lxml import etree

from support import AUTH, url


@functools.cache
def _voevent_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(files("comet") / "schema" / "VOEvent-v2.0.xsd")))


def assert_xsd_valid(packet: bytes) -> None:
    """Raise (with the schema's message) unless the bytes are a valid VOEvent 2.0 document."""
    _voevent_schema().assertValid(etree.fromstring(packet))


@functools.cache
def _sample() -> dict:
    return json.loads((files("hydroserve.samples") / "alert_example.json").read_text())


def sample_alert(**changes) -> dict:
    """The shipped example alert with some fields changed (a value None removes the field)."""
    alert = copy.deepcopy(_sample())
    for key, value in changes.items():
        if value is None:
            alert.pop(key, None)
        else:
            alert[key] = value
    return alert


def post(client, alert: dict, headers=AUTH):
    return client.post(url(client, "alerts.Post"), json=alert, headers=headers)


def public_url(app, endpoint: str, **values) -> str:
    """The absolute URL of an endpoint (``url_for``) below the app's configured ``public_url``, as records name it."""
    with app.test_request_context(base_url=app.extensions["hydroserve"].settings.public_url):
        return url_for(endpoint, _external=True, **values)
