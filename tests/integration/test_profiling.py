"""Continuous profiling (telemetry/profiling.py) against a Pyroscope stand-in.

Pyroscope cannot run here, so the real API and worker processes push to
``tests/support/pyroscope.PyroscopeStandIn``, which decodes what the real ``pyroscope-io``
client sends (the Connect push request and the pprof profiles inside it). The spans go to the
real Collector, so a profile's span label can be matched to the span Grafana would start from.
"""

from __future__ import annotations

import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import orderflow
from orderflow.devservices import free_port
from tests.integration.conftest import WorkerControl
from tests.support.api_client import register
from tests.support.collector import CollectorProcess, collector_fixture
from tests.support.processes import ServiceProcess, api_process, wait_http_ok, wait_until
from tests.support.pyroscope import (
    CPU_PROFILE_TYPE,
    PUSH_PATH,
    PyroscopeStandIn,
    Sample,
    Series,
)

otel_collector = collector_fixture(scope="module")
ORDERFLOW_SOURCES = str(Path(orderflow.__file__).parent)
RESOURCE = "service.namespace=orderflow,k8s.namespace.name=shop,k8s.pod.name=pod-0"
PROFILE_LABELS = {
    "__name__": "process_cpu",
    "service_namespace": "orderflow",
    "k8s_namespace_name": "shop",
    "k8s_pod_name": "pod-0",
}


@pytest.fixture(scope="module")
def standin() -> Iterator[PyroscopeStandIn]:
    receiver = PyroscopeStandIn().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def profiled_env(
    base_env: dict[str, str], otel_collector: CollectorProcess, standin: PyroscopeStandIn
) -> dict[str, str]:
    """The shipped profiling settings (sample rate, upload interval) with spans exported."""
    return {
        **base_env,
        **otel_collector.env(),
        "OTEL_SDK_DISABLED": "false",
        "OTEL_RESOURCE_ATTRIBUTES": RESOURCE,
        "PROFILING_ENABLED": "true",
        "PYROSCOPE_SERVER_ADDRESS": standin.url,
    }


def traceparent() -> tuple[str, str, str]:
    """A caller's trace context: (trace id, parent span id, header value)."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent, f"00-{trace_id}-{parent}-01"


def traced(samples: list[tuple[Series, Sample]], trace_id: str) -> list[Sample]:
    return [sample for _, sample in samples if sample.labels.get("trace_id") == trace_id]


def in_orderflow(sample: Sample, package: str = "") -> bool:
    """A frame of the sample is orderflow code (of ``orderflow.<package>`` if given)."""
    prefix = str(Path(ORDERFLOW_SOURCES, package)) if package else ORDERFLOW_SOURCES
    return any(frame.filename.startswith(prefix) for frame in sample.frames)


def assert_pushes_are_pyroscope_pushes(standin: PyroscopeStandIn, service: str) -> None:
    series = standin.series(service)
    assert series, f"no profile of {service} arrived"
    for push in standin.pushes:
        assert push.path == PUSH_PATH
        assert push.headers["content-type"] == "application/proto"
        assert push.headers["content-encoding"] == "gzip"
    for s in series:
        assert PROFILE_LABELS.items() <= s.labels.items(), s.labels
        # The type the chart's traces-to-profiles link asks for (tests/charts).
        assert s.profile_types() == {CPU_PROFILE_TYPE}
        for profile in s.profiles:
            assert profile.period == 10_000_000  # 100 Hz, the shipped PYROSCOPE_SAMPLE_RATE


def test_api_profiles_reach_a_pyroscope_standin_labelled_with_the_request_span(
    profiled_env: dict[str, str],
    logs_dir: Path,
    otel_collector: CollectorProcess,
    standin: PyroscopeStandIn,
) -> None:
    """The stand-in receives the API's CPU profiles: orderflow's own functions in the stacks,
    the service name and Kubernetes labels of the process, and on the samples of a traced
    request the labels of its server span, which carries the same id as pyroscope.profile.id
    (what Grafana's Tempo datasource opens the profile with)."""
    trace_id, parent, header = traceparent()
    with (
        api_process(profiled_env, logs_dir, "api-profiled") as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        account = register(client)
        for n in range(20):
            body = {
                "title": f"profiled {uuid.uuid4().hex}",
                "description": "d",
                "body": "b" * (n + 1),
            }
            client.post("/api/articles", json=body, headers=account.auth).raise_for_status()
        # Enough CPU on the event loop for a 100 Hz sampler to see, bounded in count and time.
        deadline = time.monotonic() + 20
        for _ in range(1500):
            client.get(
                "/api/articles", params={"limit": 20}, headers={"traceparent": header}
            ).raise_for_status()
            mine = traced(standin.samples("orderflow-api"), trace_id)
            if time.monotonic() > deadline or sum(map(in_orderflow, mine)) >= 3:
                break
    # The API has stopped: its last profile was pushed at shutdown.
    assert_pushes_are_pyroscope_pushes(standin, "orderflow-api")
    every = standin.samples("orderflow-api")
    samples = traced(every, trace_id)
    assert samples, "no sample carries the traced request's labels"
    # A server span is tagged with its name at start (the method: the route is known once the
    # request is routed); the registration's and the articles' POSTs left no tag behind.
    assert {s.labels["span_name"] for s in samples} == {"GET"}
    untraced = [sample for _, sample in every if "span_id" not in sample.labels]
    assert all("span_name" not in s.labels for s in untraced), {
        s.labels["span_name"] for s in untraced if "span_name" in s.labels
    }
    assert any(in_orderflow(s, "domain") for s in samples), [s.frames[:5] for s in samples[:5]]

    servers = otel_collector.wait_for_spans(
        lambda s: s.trace_id == trace_id and s.kind == "SPAN_KIND_SERVER"
    )
    assert all(s.parent_span_id == parent for s in servers)
    assert all(s.attributes["pyroscope.profile.id"] == s.span_id for s in servers)
    assert {s.labels["span_id"] for s in samples} <= {s.span_id for s in servers}


def test_worker_profiles_carry_the_message_span(
    profiled_env: dict[str, str],
    worker: WorkerControl,
    logs_dir: Path,
    standin: PyroscopeStandIn,
    make_product: Callable[..., str],
) -> None:
    """A traced order's saga runs in the worker under a CONSUMER span (a root: its parent is
    remote) on a Dramatiq thread, and its async actor on Dramatiq's event-loop thread: samples
    of the saga's domain code, taken on that other thread, carry the order's trace id and the
    CONSUMER span's labels."""
    trace_id, _, header = traceparent()
    item = make_product(available=1000)
    with (
        api_process(profiled_env, logs_dir, "api-for-worker-profile") as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        worker.start(**profiled_env)  # once the API is up: one process starting at a time
        account = register(client)
        headers = {**account.auth, "traceparent": header}
        orders = []
        for _ in range(30):
            response = client.post(
                "/api/orders",
                json={"items": [{"item_id": item, "quantity": 1, "price": 1000}]},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            orders.append(response.json()["id"])

        def settled() -> bool:
            statuses = [
                client.get(f"/api/orders/{o}", headers=account.auth).json()["status"]
                for o in orders
            ]
            return all(s in {"confirmed", "failed"} for s in statuses)

        wait_until(settled, timeout=60, interval=0.5)
    worker.stop()  # pushes what it sampled since its last upload
    assert_pushes_are_pyroscope_pushes(standin, "orderflow-worker")
    samples = traced(standin.samples("orderflow-worker"), trace_id)
    assert samples, "no worker sample carries the orders' trace id"
    # Roots in the worker: a message's CONSUMER span, and a PRODUCER span continuing a stored
    # context (the relay's send of an outbox row; Dramatiq's move of a due delayed message).
    assert {s.labels["span_name"] for s in samples} <= {
        f"{verb} {queue}"
        for verb in ("send", "process")
        for queue in ("orders", "notifications", "email")
    }
    assert any(in_orderflow(s, "domain") for s in samples), [s.frames[:5] for s in samples[:5]]


def test_a_pyroscope_that_does_not_answer_does_not_hold_up_shutdown(
    profiled_env: dict[str, str], logs_dir: Path
) -> None:
    """The client's last push waits up to 10 s for an answer; the API gives it a few seconds,
    says so, and exits cleanly (a pod's grace period has the Dramatiq drain to fit too)."""
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        env = {
            **profiled_env,
            "PYROSCOPE_SERVER_ADDRESS": f"http://127.0.0.1:{silent.getsockname()[1]}",
        }
        port = free_port()
        api = ServiceProcess(
            ["api"], {**env, "PORT": str(port)}, logs_dir / f"api-silent-{port}.log"
        )
        api.start()
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", api)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                for _ in range(200):  # something sampled, so there is a last profile to push
                    client.get("/api/stock").raise_for_status()
        finally:
            code = api.stop()
    assert code == 0, api.log()[-3000:]
    assert "the last profile was not delivered within 3 s" in api.log()
