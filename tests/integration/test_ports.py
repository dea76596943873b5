"""What the public port serves: with METRICS_PORT set, /metrics lives only on its own port;
the built-in email sink is served only with EMAIL_SINK_ENABLED=true (``make dev``)."""

from __future__ import annotations

from pathlib import Path

import httpx

from orderflow.devservices import free_port
from tests.support.api_client import assert_error, register
from tests.support.processes import api_process

OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}


def test_production_ports_serve_only_what_users_need(
    base_env: dict[str, str], logs_dir: Path
) -> None:
    metrics_port = free_port()
    env = {
        **base_env,
        "METRICS_PORT": str(metrics_port),
        "EMAIL_SINK_ENABLED": "false",
        "OTEL_SDK_DISABLED": "false",  # metrics on, nothing exported (no OTLP endpoint)
    }
    with api_process(env, logs_dir, "api-ports") as url, httpx.Client(base_url=url) as public:
        register(public)  # something to count
        assert_error(public.get("/metrics"), 404)
        email = {"to": "a@b.cd", "subject": "s", "body": "b"}
        assert_error(public.post("/_sink/email", json=email), 404)
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", headers=OPENMETRICS)
        assert scraped.status_code == 200
        assert "http_server_request_total{" in scraped.text
        assert 'http_route="/api/register"' in scraped.text
        # Exemplars survive the move: the latency buckets still link to traces.
        assert any(
            line.startswith("http_server_request_duration_seconds_bucket")
            and '# {trace_id="' in line
            for line in scraped.text.splitlines()
        )


def test_by_default_metrics_stay_on_the_public_port_and_the_sink_is_off(
    client: httpx.Client,
) -> None:
    """Without METRICS_PORT (a developer machine) /metrics stays where scrapers find it; the
    email sink is never there unless asked for."""
    assert client.get("/metrics").status_code == 200
    email = {"to": "a@b.cd", "subject": "s", "body": "b"}
    assert_error(client.post("/_sink/email", json=email), 404)


def test_the_sink_is_served_when_enabled(base_env: dict[str, str], logs_dir: Path) -> None:
    env = {**base_env, "EMAIL_SINK_ENABLED": "true"}
    with api_process(env, logs_dir, "api-sink") as url:
        email = {"to": "a@b.cd", "subject": "s", "body": "b"}
        assert httpx.post(f"{url}/_sink/email", json=email).status_code == 202
