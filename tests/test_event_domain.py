"""The event-table domain on its own: its settings and where its formats are served (its imports: test_layers.py)."""

from __future__ import annotations

import pytest

from hydroserve.api.events import registration
from hydroserve.api.events.settings import EventSettings
from support import url


def _settings(**changes) -> EventSettings:
    values = {"collection": "events20_01", "public_url": "https://km3net.example.org", "max_rows": 10,
              "scs_max_sr_deg": 180.0, "scs_max_records": 100}
    return EventSettings(**{**values, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"collection": ""}, "self.collection='' must not be empty"),
    ({"max_rows": 0}, "self.max_rows=0 must be at least 1"),
    ({"scs_max_sr_deg": 0.0}, r"self.scs_max_sr_deg=0.0 must be in \(0, 180\] degrees"),
    ({"scs_max_sr_deg": 181.0}, r"self.scs_max_sr_deg=181.0 must be in \(0, 180\] degrees"),
    ({"scs_max_records": 0}, "self.scs_max_records=0 must be at least 1"),
])
def test_settings_are_checked_when_built(changes, message):
    with pytest.raises(ValueError, match=message):
        _settings(**changes)


def test_records_name_the_urls_the_service_answers(app):
    """Every URL the domain writes into a record is the route's URL (url_for) below the public base URL."""
    settings = _settings()
    assert {kind: product.extension for kind, product in registration.PRODUCTS.items()} == {
        "csv": "csv", "meta": "meta.json", "hdf5": "h5", "votable": "vot"}
    for kind in registration.PRODUCTS:
        route = url(app, f"events.{kind.capitalize()}", table_id="t1")
        assert registration.product_url(settings, kind, "t1") == settings.public_url + route
        assert route.endswith(f"/t1.{registration.PRODUCTS[kind].extension}")
    assert registration.table_url(settings, "t1") == settings.public_url + url(app, "events.Table", table_id="t1")
    assert registration.cone_search_url(settings, "t1") == settings.public_url + url(app, "events.Scs", table_id="t1") + "?"
