"""Operating the service: metrics, security headers, CORS, bad requests at the HTTP level."""

from __future__ import annotations

import re

import pytest
import requests

from support import AUTH, catalog_tables, url


def metric(text: str, name: str, **labels) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(selector)}\}} (\S+)$", text, re.M)
    assert match, f"{name}{{{selector}}} not in /metrics"
    return float(match.group(1))


def test_metrics_count_requests_and_read_ingest_and_outbox_state(client, archived, synthetic_files):
    archived(synthetic_files(n_frames=8))

    metrics, packages, missing = (url(client, "metrics.metrics"), url(client, "acoustic.Packages"),
                                  url(client, "acoustic.Package", package_id="DOM_1_CH1_1"))

    def counts():  # the request metrics are the process's (other tests' apps count too): compare before and after
        text = client.get(metrics).data.decode()
        return (metric(text, "hydroserve_http_requests_total", endpoint="acoustic.Packages", method="GET", status="200"),
                metric(text, "hydroserve_http_requests_total", endpoint="acoustic.Package", method="GET", status="404"),
                metric(text, "hydroserve_http_request_duration_seconds_count", endpoint="acoustic.Packages"))

    client.get(packages)
    client.get(missing)
    before = counts()
    for _ in range(3):
        client.get(packages)
    client.get(missing)
    assert [after - first for after, first in zip(counts(), before)] == [3, 1, 3]
    text = client.get(metrics).data.decode()
    assert metric(text, "hydroserve_packages", sensor="DOM_808956920_CH1") == 2
    assert metric(text, "hydroserve_skipped_windows", sensor="DOM_808956920_CH1") == 2
    assert metric(text, "hydroserve_ingest_lag_seconds", sensor="DOM_808956920_CH1") > 5 * 365 * 86400  # data of 2020
    assert metric(text, "hydroserve_outbox_rows", destination="odc", state="pending") == 11  # 2 packages x 5 products + their sensor-day HMD
    assert 0 <= metric(text, "hydroserve_outbox_oldest_pending_seconds", destination="odc") < 120


def test_security_headers_and_cors_for_public_reads(client):
    response = client.get(url(client, "acoustic.Packages"), headers={"Origin": "https://elsewhere.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response.headers["Access-Control-Expose-Headers"] and "Content-Range" in response.headers["Access-Control-Expose-Headers"]
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    preflight = client.options(url(client, "acoustic.Wav", package_id="x"), headers={"Origin": "https://a.example", "Access-Control-Request-Method": "GET",
                                                                  "Access-Control-Request-Headers": "Range"})
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS" and "Range" in preflight.headers["Access-Control-Allow-Headers"]
    write_preflight = client.options("/api/v1/alerts", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in write_preflight.headers
    docs = client.get(url(client, "api-docs.openapi_swagger_ui"))
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]


def test_write_endpoints_need_a_token_and_the_right_body(client):
    no_token = client.post("/api/v1/alerts", json={})
    assert no_token.status_code == 401 and no_token.headers["WWW-Authenticate"].startswith("Bearer")
    assert no_token.mimetype == "application/problem+json"
    wrong = client.post("/api/v1/alerts", json={}, headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 403 and wrong.json["detail"] == "The bearer token is not accepted."
    text = client.post("/api/v1/alerts", data="ra=1", headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert text.status_code == 415 and "send application/json" in text.json["detail"]
    broken = client.post("/api/v1/alerts", data="{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json["detail"] == "Invalid input: request body: Invalid JSON body."
    huge = client.post("/api/v1/alerts", data=b"[" * (17 * 1024 * 1024), headers={**AUTH, "Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.mimetype == "application/problem+json"
    table = client.post("/api/v1/events/tables", data="x", headers={**AUTH, "Content-Type": "text/csv"})
    assert table.status_code == 415 and "multipart/form-data" in table.json["detail"]
    method = client.delete(url(client, "acoustic.Packages"))
    assert method.status_code == 405 and set(method.headers["Allow"].split(", ")) == {"HEAD", "GET", "OPTIONS"}


def test_tokens_are_compared_in_constant_time_against_every_accepted_token(monkeypatch):
    import hmac

    from hydroserve.api.web import auth

    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert auth.token_accepted("a", ("a", "b", "c"))  # the first matches, and still every token is compared
    assert compared == [(b"a", b"a"), (b"a", b"b"), (b"a", b"c")]
    assert not auth.token_accepted("ab", ("a", "b")) and not auth.token_accepted("a", ())


@pytest.mark.slow
def test_metrics_sum_all_gunicorn_workers(app, gunicorn_server):
    base_url = gunicorn_server(workers=2)
    for _ in range(20):
        requests.get(base_url + url(app, "acoustic.Sensors"), timeout=5)
    text = requests.get(base_url + url(app, "metrics.metrics"), timeout=5).text
    assert metric(text, "hydroserve_http_requests_total", endpoint="acoustic.Sensors", method="GET", status="200") == 20


def test_json_log_lines_are_one_object_each(capsys):
    import json
    import logging

    from hydroserve.api import logs

    logs.configure("INFO", "json")  # the conftest puts the previous logging back afterwards
    logging.getLogger("hydroserve.test").warning("package %s: %s", "DOM_1_CH1_2", 'quote " and\nnewline')
    [line] = capsys.readouterr().err.strip().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "hydroserve.test"
    assert entry["message"] == 'package DOM_1_CH1_2: quote " and\nnewline' and entry["time"].endswith("Z")


def test_create_app_writes_nothing_and_db_init_makes_the_catalog(settings, runner):
    from hydroserve.api.app import create_app

    app = create_app(settings)
    assert catalog_tables(settings) == [] and app.name == "hydroserve.api.web.app"
    assert runner("db", "init").exit_code == 0
    assert "packages" in catalog_tables(settings)
    ready = app.test_client().get(url(app, "health.readyz"))
    assert ready.status_code == 200
    assert runner("db", "init").exit_code == 0  # idempotent


def test_the_deviation_histogram_adds_the_sensors_buckets_and_leaves_out_other_edges(caplog):
    from hydroserve.api.web.metrics import DeviationHistogram

    histogram = DeviationHistogram()
    histogram.add("A", {"histogram_abs_ns": {"le": [0, 16, "+Inf"], "counts": [3, 1, 0]}, "sum_abs_ns": 16})
    histogram.add("B", {"histogram_abs_ns": {"le": [0, 16, "+Inf"], "counts": [1, 0, 2]}, "sum_abs_ns": 5000})
    histogram.add("C", {"histogram_abs_ns": {"le": [0, 32, "+Inf"], "counts": [9, 9, 9]}, "sum_abs_ns": 99})
    samples = {(s.name, s.labels.get("le")): s.value for s in histogram.family().samples}
    assert samples == {("hydroserve_frame_timestamp_deviation_ns_bucket", "0"): 4,
                       ("hydroserve_frame_timestamp_deviation_ns_bucket", "16"): 5,
                       ("hydroserve_frame_timestamp_deviation_ns_bucket", "+Inf"): 7,
                       ("hydroserve_frame_timestamp_deviation_ns_gcount", None): 7,
                       ("hydroserve_frame_timestamp_deviation_ns_gsum", None): 5016}
    assert "C's newest package has the bucket edges [0, 32, '+Inf']" in caplog.text
    assert DeviationHistogram().family().samples == []  # no package yet: no series
