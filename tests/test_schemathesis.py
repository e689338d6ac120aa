"""schemathesis against our OpenAPI document on a real gunicorn: no 5xx, nothing that violates the document.

Every check but the response time runs on every operation, with these expectations stated: ``positive_data_acceptance``
(a request valid by the schema must not get 4xx) is told that 400 is expected where the
schema cannot say what is invalid (opaque cursors this service did not issue, cross-parameter
constraints such as ``fmin <= fmax``) and that writes may answer 422 for meaning the schema
cannot express, that files answer 416 to a Range beyond their end and an alert 406 to an Accept it cannot
satisfy; the cone search answers parameter errors with HTTP 200, as IVOA SCS requires. Real ids (package, sensor, resource,
stream, table, alert) are given so the operations are exercised beyond 404.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from support import TOKEN

# the subject is the HTTP API against its document, not the catalog: one engine (SQLite); every endpoint runs on
# PostgreSQL in the tests of its own module
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

WITH_CLIENT_SIDE_RULES = ["/api/v1/packages", "/api/v1/packages/{package_id}/psd", "/api/v1/resources", "/api/v1/streams/{kid}",
                          "/api/v1/alerts", "/api/v1/events/tables", "/api/v1/events/tables/{table_id}/scs",
                          # soundscape: bin_db a multiple of 0.1, resolution_s of 60, band names; no data is 404
                          "/api/v1/sensors/{sensor}/hmd/{day}.nc", "/api/v1/sensors/{sensor}/spd", "/api/v1/sensors/{sensor}/levels",
                          "/api/v1/levels", "/api/v1/sensors/{sensor}/ltsa.png", "/api/v1/sensors/{sensor}/spd.png",
                          "/api/v1/sensors/{sensor}/levels.png", "/api/v1/detector"]


def toml_value(value) -> str:
    return json.dumps(value)


def every_check_but_the_response_time() -> list[str]:
    """Every check schemathesis has (its registry), without ``max_response_time``, which ``--checks all`` adds with a
    10 s limit: that limit measures how busy the machine is, not the API (a day's LTSA picture took 10.8 s once, in a
    CI run with both cores loaded)."""
    from schemathesis.checks import CHECKS
    from schemathesis.specs.openapi import checks  # noqa: F401  (registers the OpenAPI checks)

    return sorted(name for name in CHECKS.get_all_names() if name != "max_response_time")


def config_text(ids: dict[str, str]) -> str:
    lines = ["[parameters]"]
    lines += [f'"path.{name}" = {toml_value(value)}' for name, value in ids.items() if name != "kid"]
    lines += ["", "[[operations]]", 'include-path-regex = "/(streams|collections)/"',
              f'parameters = {{ "path.kid" = {toml_value(ids["kid"])} }}']
    lines += ["", "[[operations]]", 'include-path-regex = "/resources/"',
              f'parameters = {{ "path.kid" = {toml_value(ids["resource"])} }}']
    for path in WITH_CLIENT_SIDE_RULES:
        lines += ["", "[[operations]]", f"include-name = {toml_value('GET ' + path)}",
                  "checks.positive_data_acceptance.expected-statuses = [200, 206, 303, 304, 400, 404]"]
    # writes check meaning beyond the schema (coordinates consistent, files decodable): 422 for valid-looking input
    lines += ["", "[[operations]]", 'include-method = "POST"',
              "checks.positive_data_acceptance.expected-statuses = [200, 201, 409, 422]"]
    # files take a Range header; one that starts beyond the end is 416 (RFC 9110), which the schema cannot express
    lines += ["", "[[operations]]", f"include-path-regex = {toml_value(r'/(raw|wav|flac|mp3|csv|h5|vot|meta[.]json)$')}",
              "checks.positive_data_acceptance.expected-statuses = [200, 206, 304, 404, 410, 416]"]
    # an alert is XML or JSON: any other Accept is 406 (content negotiation, which the schema cannot express)
    lines += ["", "[[operations]]", 'include-path = "/api/v1/alerts/{alert_id}"',
              "checks.positive_data_acceptance.expected-statuses = [200, 304, 404, 406]"]
    # IVOA SCS 1.03: parameter errors are a VOTable with INFO name="Error", with HTTP 200
    lines += ["", "[[operations]]", 'include-path = "/api/v1/events/tables/{table_id}/scs"',
              "checks.negative_data_rejection.expected-statuses = [200, 404]"]
    return "\n".join(lines) + "\n"


def test_schemathesis_finds_no_server_error_and_no_violation_of_the_openapi_document(
    tmp_path, settings, gunicorn_server, archived, synthetic_files
):
    from hydroserve.api import wiring
    from hydroserve.api.demo import publish_samples

    report = archived(synthetic_files(n_frames=11, drop_frames={8}))
    engine = wiring.init_catalog(settings)
    publish_samples(settings, engine)
    engine.dispose()
    url = gunicorn_server()
    pid = report.packages_made[0]
    ids = {
        "package_id": pid, "sensor": "DOM_808956920_CH1", "kid": "acoustic20_01_psd", "resource": f"acoustic20_01_psd_{pid}",
        "table_id": "synthetic_arca_2023", "alert_id": "ORCA24-0114-00873_r1", "day": "2020-12-23",
    }
    assert requests.get(f"{url}/api/v1/alerts/{ids['alert_id']}.json", timeout=5).status_code == 200
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_text(ids))
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{url}/api/v1/openapi.json",
         "--url", url, "--checks", ",".join(every_check_but_the_response_time()),
         "--max-examples", "20", "--seed", "20201223", "--workers", "1",
         "--header", f"Authorization: Bearer {TOKEN}", "--request-timeout", "30", "--no-color",
         # ids, cursors and parameters are ASCII; non-ASCII strings would only meet gunicorn's 8190-byte request-line
         # limit (an HTML 414 from gunicorn, before the app); the in-process hypothesis tests fuzz non-ASCII input
         "--generation-codec", "ascii"],
        capture_output=True, text=True, timeout=480,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"see {ARTIFACTS / 'schemathesis.txt'}\n" + result.stdout[-6000:]
