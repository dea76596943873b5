"""One trace on real pods: `POST /api/orders` in the API pod, through the outbox and the Redis
queue into the worker pod's saga and the email call, exported by both pods to the in-cluster
Collector (the chart's own pipeline) and from there to the host sink, with the Kubernetes
resource attributes the chart sets."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import httpx

from tests.e2e.shop import in_stock_product, place_order, register, wait_settled

if TYPE_CHECKING:
    from k8s.e2e.install import Install

    from tests.e2e.conftest import SinkReader
    from tests.support.collector import Span

# Must all be in one trace: HTTP server -> outbox -> queue -> worker -> email (README, Traces).
EXPECTED = {
    ("orderflow-api", "POST /api/orders", "SPAN_KIND_SERVER"),
    ("orderflow-api", "order.create", "SPAN_KIND_INTERNAL"),
    ("orderflow-worker", "send orders", "SPAN_KIND_PRODUCER"),
    ("orderflow-worker", "process orders", "SPAN_KIND_CONSUMER"),
    ("orderflow-worker", "order.process", "SPAN_KIND_INTERNAL"),
    ("orderflow-worker", "process email", "SPAN_KIND_CONSUMER"),
    ("orderflow-worker", "email.send", "SPAN_KIND_INTERNAL"),
    # The email provider's call and its server side (the chart's default sink is the API's):
    # each pod exports on its own schedule, so the wait covers both ends.
    ("orderflow-worker", "POST", "SPAN_KIND_CLIENT"),
    ("orderflow-api", "POST /_sink/email", "SPAN_KIND_SERVER"),
}


def test_one_order_is_one_trace_across_pods_with_k8s_resource_attributes(
    api_url: str, otlp_sink: SinkReader, e2e_install: Install
) -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    with httpx.Client(base_url=api_url, timeout=30) as client:
        account = register(client, "trace")
        product = in_stock_product(client)
        client.headers["traceparent"] = traceparent
        response = place_order(client, account, product)
        del client.headers["traceparent"]
        assert response.status_code == 201, response.text
        order_id = response.json()["id"]
        wait_settled(client, account, [order_id])

    deadline = time.monotonic() + 120
    spans: list[Span] = []
    while time.monotonic() < deadline:
        spans = [s for s in otlp_sink.spans() if s.trace_id == trace_id]
        if {(s.service_name, s.name, s.kind) for s in spans} >= EXPECTED:
            break
        time.sleep(2)
    shape = sorted({(s.service_name or "", s.name, s.kind) for s in spans})
    print("trace", trace_id, *shape, sep="\n  ")
    assert set(shape) >= EXPECTED, shape
    # The email provider call is an HTTP client span inside email.send.
    email = next(s for s in spans if s.name == "email.send")
    assert any(s.kind == "SPAN_KIND_CLIENT" and s.parent_span_id == email.span_id for s in spans)
    # One server span for the request (no duplicate from a second instrumentation); the other
    # server span is the email provider's side (the chart's default sink is served by the API).
    servers = sorted(s.name for s in spans if s.kind == "SPAN_KIND_SERVER")
    assert servers == ["POST /_sink/email", "POST /api/orders"], servers
    sink = next(s for s in spans if s.name == "POST /_sink/email")
    client_ids = {s.span_id for s in spans if s.kind == "SPAN_KIND_CLIENT"}
    assert sink.parent_span_id in client_ids, "context crossed the email HTTP call"

    pods = {
        p["metadata"]["name"] for p in e2e_install.get("pods", "-n", e2e_install.namespace)["items"]
    }
    for service in ("orderflow-api", "orderflow-worker"):
        resource = next(s.resource for s in spans if s.service_name == service)
        assert resource["k8s.namespace.name"] == e2e_install.namespace, resource
        assert resource["k8s.pod.name"] in pods, resource
        assert resource["service.version"], resource
