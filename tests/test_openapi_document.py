"""The OpenAPI document describes what it lists: every property, the /info members with typed schemas, the headers
clients send (Range, If-None-Match, Accept), and the operational endpoints (/healthz, /readyz, /metrics)."""

from __future__ import annotations

import pytest

from hydroserve.api.web.acoustic_documents import info_json
from hydroserve.api.web.acoustic_lookups import load_package
from support import url


def openapi(client) -> dict:
    return client.get(url(client, "api-docs.openapi_json")).json


def undescribed(node, where: str = "#") -> list[str]:
    """Every property (in components and inline schemas alike) without a description."""
    found = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if not (isinstance(prop, dict) and str(prop.get("description", "")).strip()):
                found.append(f"{where}/properties/{name}")
        for key, value in node.items():
            found += undescribed(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += undescribed(value, f"{where}/{index}")
    return found


def test_the_walk_finds_a_property_without_a_description():
    document = {"components": {"schemas": {"A": {"properties": {"x": {"type": "string", "description": "x"},
                                                                 "y": {"$ref": "#/components/schemas/B"}}}}},
                "paths": {"/p": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {
                    "type": "object", "properties": {"z": {"type": "integer", "description": " "}}}}}}}}}}}
    assert undescribed(document) == ["#/components/schemas/A/properties/y",
                                     "#/paths//p/get/responses/200/content/application/json/schema/properties/z"]


def test_every_property_of_the_openapi_document_has_a_description(client):
    document = openapi(client)
    assert len(document["components"]["schemas"]) > 40
    missing = undescribed(document)
    assert not missing, f"{len(missing)} properties without a description:\n" + "\n".join(missing)


def schema_of(document: dict, prop: dict) -> dict:
    """The component schema a property refers to (directly, or through allOf/anyOf)."""
    refs = [prop.get("$ref")] + [part.get("$ref") for part in prop.get("allOf", []) + prop.get("anyOf", [])]
    [ref] = [ref for ref in refs if ref]
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_the_info_members_have_typed_schemas_that_drop_nothing(client, archived, synthetic_files, app):
    document = openapi(client)
    info = document["components"]["schemas"]["Info"]["properties"]
    for member in ("sensor", "timing", "data", "calibration", "integrity"):
        assert schema_of(document, info[member])["properties"], member
    timing = schema_of(document, info["timing"])["properties"]
    assert timing["start_unix_ns"]["type"] == "integer" and timing["sample_rate_hz"]["type"] == "number"
    report = archived(synthetic_files(n_frames=8, frames_per_file=8, drop_frames={3}))
    package_id = report.packages_made[0]
    served = client.get(url(client, "acoustic.Info", package_id=package_id)).json
    with app.test_request_context():
        assert served == info_json(load_package(package_id))  # the typed schemas leave out no member the view makes
    assert served["data"]["gaps"] and served["timing"]["timestamp_deviation"]["n_frames_continuing"] > 0


@pytest.mark.parametrize("path", ["/api/v1/packages/{package_id}/raw", "/api/v1/packages/{package_id}/wav",
                                  "/api/v1/packages/{package_id}/flac", "/api/v1/packages/{package_id}/mp3",
                                  "/api/v1/events/tables/{table_id}.csv", "/api/v1/events/tables/{table_id}.h5"])
def test_files_document_range_and_if_none_match(client, path):
    operation = openapi(client)["paths"][path]["get"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert set(headers) == {"Range", "If-None-Match"}
    assert {"200", "206", "304", "416"} <= set(operation["responses"])


def test_conditional_and_negotiated_json_documents_name_their_headers(client):
    paths = openapi(client)["paths"]
    psd = paths["/api/v1/packages/{package_id}/psd"]
    assert "If-None-Match" in {p["name"] for p in psd["parameters"]} and "304" in psd["get"]["responses"]
    assert {p["name"] for p in psd["get"]["parameters"]} == {"fmin", "fmax", "nfft"}  # the query stays documented
    alert = paths["/api/v1/alerts/{alert_id}"]["get"]
    [accept] = [p for p in alert["parameters"] if p["name"] == "Accept"]
    assert "application/xml" in accept["description"] and "application/json" in accept["description"]
    assert "406" in alert["responses"]


def test_the_operational_endpoints_are_listed(client):
    paths = openapi(client)["paths"]
    assert {"/healthz", "/readyz", "/metrics"} <= set(paths)
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]


def test_metrics_names_one_charset(client):
    content_type = client.get(url(client, "metrics.metrics")).headers["Content-Type"]
    assert content_type.lower().count("charset=") == 1 and content_type.startswith("text/plain")
