"""Zero-code instrumentation by the real OpenTelemetry Operator on real pods.

The operator (built from its Go module, ``k8s/e2e/otel_operator.py``) runs on the bed with its
admission webhooks called by the kube-apiserver; the app chart is installed fresh, with
``otelOperator.enabled=true`` and the project's Python agent image (``k8s/otel-python-agent``),
into an empty namespace under restricted Pod Security. The first pods of the install must come
up injected (the Instrumentation, a pre-install hook, exists before them), Ready, and the trace
that reaches the in-cluster Collector (and the host sink behind it) must have the shape the SDK
mode has (``tests/support/trace_shape.py``, shared with tests/integration/test_telemetry.py).
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml
from k8s.e2e import install as e2e

from tests.e2e.cluster import condition, pods
from tests.e2e.conftest import port_forward
from tests.e2e.shop import FINAL, in_stock_product, place_order, register, wait_settled
from tests.support.trace_shape import assert_no_duplicates_or_broker_polling, assert_order_trace
from tests.testbed.wait import poll, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from k8s.e2e.install import Install

    from tests.e2e.conftest import SinkReader
    from tests.support.collector import LogRecord, Span

NAMESPACE = "orderflow-otel"
ROOT = Path(__file__).resolve().parents[2]
# What the operator's Python injection adds (internal/instrumentation/python.go upstream).
INIT_CONTAINER = "opentelemetry-auto-instrumentation-python"
AGENT_DIR = "/otel-auto-instrumentation-python"
SITECUSTOMIZE_DIR = f"{AGENT_DIR}/opentelemetry/instrumentation/auto_instrumentation"
APP_CONTAINERS = {"api": "api", "worker": "worker"}
LOCKED = {p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
INSTRUMENTATION_VERSION = LOCKED["opentelemetry-instrumentation"]


@dataclass
class Injected:
    install: Install
    agent_image: str
    helm_seconds: float


@pytest.fixture(scope="module")
def injected(e2e_install: Install) -> Iterator[Injected]:
    bed = e2e_install.bed
    started = time.monotonic()
    values = e2e.otel_operator_values(bed)
    print(f"OTel Operator running and agent image loaded in {time.monotonic() - started:.0f}s")
    install = e2e.Install(bed, namespace=NAMESPACE)
    e2e.restricted_namespace(bed, NAMESPACE)
    # A fresh install: nothing of the app or an Instrumentation may pre-exist here.
    assert install.get("pods,instrumentations", "-n", NAMESPACE)["items"] == []
    values_file = bed.run_dir / "e2e-otel-operator-values.yaml"
    values_file.write_text(yaml.safe_dump({"otelOperator": values}))
    seconds = install.install_app(e2e.APP_CHART, "-f", str(values_file))
    print(f"helm install --wait with otelOperator.enabled=true: {seconds:.0f}s")
    image = f"{values['pythonImage']['repository']}:{values['pythonImage']['tag']}"
    yield Injected(install, image, seconds)
    install.helm("uninstall", install.release, "-n", NAMESPACE, "--wait", "--timeout", "5m")
    install.kubectl("delete", "instrumentations,pvc", "--all", "-n", NAMESPACE, "--wait=true")
    install.kubectl("delete", "namespace", NAMESPACE, "--wait=false")


def _created(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["creationTimestamp"])  # RFC 3339 UTC: sorts as text


def test_first_pods_of_a_fresh_install_are_injected_and_ready_under_restricted(
    injected: Injected,
) -> None:
    install = injected.install
    labels = install.get("namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted", labels
    [instrumentation] = install.get("instrumentations", "-n", NAMESPACE)["items"]
    # Defaults that only the operator's mutating webhook writes (the chart sets no resources):
    # the kube-apiserver reached the webhook.
    assert instrumentation["spec"]["python"]["resourceRequirements"]["limits"], instrumentation

    for component, container_name in APP_CONTAINERS.items():
        # One ReplicaSet: these pods are the install's first, not a rollout after the fact.
        replicasets = install.get(
            "replicasets", "-n", NAMESPACE, "-l", f"app.kubernetes.io/component={component}"
        )["items"]
        assert len(replicasets) == 1, [r["metadata"]["name"] for r in replicasets]
        component_pods = pods(install, component)
        assert component_pods, component
        for pod in component_pods:
            name = pod["metadata"]["name"]
            # Ordering: the Instrumentation (pre-install hook) existed when the pod was admitted.
            assert _created(instrumentation) <= _created(pod), name
            spec = pod["spec"]
            [init] = [c for c in spec["initContainers"] if c["name"] == INIT_CONTAINER]
            app = next(c for c in spec["containers"] if c["name"] == container_name)
            assert init["image"] == injected.agent_image, init["image"]
            assert init["command"][:2] == ["cp", "-r"], init["command"]
            # The app container's restricted securityContext, copied by the operator: the pod
            # was admitted by PodSecurity (enforce=restricted) after the webhook's mutation.
            assert init["securityContext"] == app["securityContext"], init["securityContext"]
            assert app["securityContext"]["allowPrivilegeEscalation"] is False
            assert app["securityContext"]["capabilities"]["drop"] == ["ALL"]
            env = {e["name"]: e.get("value", "") for e in app["env"]}
            assert env["PYTHONPATH"].split(":") == [SITECUSTOMIZE_DIR, AGENT_DIR], env
            assert {m["mountPath"] for m in app["volumeMounts"]} >= {AGENT_DIR}
            assert condition(pod, "Ready") == "True", (name, pod["status"].get("conditions"))
            restarts = {s["name"]: s["restartCount"] for s in pod["status"]["containerStatuses"]}
            assert set(restarts.values()) == {0}, (name, restarts)
            print(f"{name}: init {init['name']} ({init['image']}), Ready, no restarts")

    # The app saw an SDK configured by the injected agent and stepped aside (setup.py), and
    # the OpenTelemetry packages it runs are the agent's copies, at uv.lock's versions.
    log = install.kubectl("logs", "-n", NAMESPACE, f"deploy/{install.release}-api", "-c", "api")
    assert "SDK configured by zero-code instrumentation" in log.stdout, log.stdout[-2000:]
    probe = (
        "import json, opentelemetry.sdk.version as s, opentelemetry.instrumentation.version as i;"
        "print(json.dumps([s.__file__, s.__version__, i.__file__, i.__version__]))"
    )
    out = install.kubectl(
        "exec", "-n", NAMESPACE, f"deploy/{install.release}-api", "-c", "api", "--",
        "env", "OTEL_SDK_DISABLED=true", "python", "-c", probe,
    ).stdout  # fmt: skip
    sdk_file, sdk_version, instrumentation_file, version = json.loads(out.strip().splitlines()[-1])
    assert sdk_file.startswith(f"{AGENT_DIR}/"), sdk_file
    assert instrumentation_file.startswith(f"{AGENT_DIR}/"), instrumentation_file
    assert (sdk_version, version) == (LOCKED["opentelemetry-sdk"], INSTRUMENTATION_VERSION)


def _in_namespace(items: list[Span]) -> list[Span]:
    return [s for s in items if s.resource.get("k8s.namespace.name") == NAMESPACE]


def test_injected_pods_export_the_sdk_mode_trace_shape_and_logs_once(
    injected: Injected, otlp_sink: SinkReader
) -> None:
    install = injected.install
    with (
        port_forward(install, f"svc/{install.release}-api", 8080) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        account = register(client, "otel")
        response = place_order(client, account, in_stock_product(client))
        assert response.status_code == 201, response.text
        order_id = response.json()["id"]
        [status] = wait_settled(client, account, [order_id]).values()
    # The shipped values decline a share of payments (app.paymentFailureRate); a declined
    # order takes the compensation path, whose trace has the same shape.
    assert status in FINAL, status
    paid = status == "confirmed"

    def mentions(record: LogRecord, text: str) -> bool:
        return text in str(record.body) and order_id in str(record.body)

    def placed_logs() -> list[LogRecord]:
        return [r for r in otlp_sink.logs() if mentions(r, "order placed")]

    wait_until(placed_logs, timeout=120, interval=2, what="the 'order placed' log record")
    [placed] = placed_logs()  # exported once
    trace_id = placed.trace_id
    assert trace_id, placed

    def trace() -> list[Span]:
        return [s for s in otlp_sink.spans() if s.trace_id == trace_id]

    def shaped() -> bool:
        try:
            assert_order_trace(trace(), paid=paid)
        except AssertionError:
            return False
        return True

    # Each pod's batch processor exports on its own schedule (5 s by default), and a batch can
    # leave mid-request: the API's first SELECT may arrive seconds before its server span. Wait
    # for the whole shape, then check it once more so a timeout reports what is missing.
    poll(shaped, timeout=120, interval=2)
    spans = trace()
    by_id = {s.span_id: s for s in spans}
    print(f"injected trace {trace_id} ({len(spans)} spans):")
    for span in sorted(spans, key=lambda s: s.start_time_unix_nano):
        parent = by_id.get(span.parent_span_id or "")
        print(
            f"  {span.service_name:17} {span.kind.removeprefix('SPAN_KIND_'):8} {span.name}"
            f"  <- {parent.name if parent else '-'}  [{span.scope}]"
        )
    assert_order_trace(spans, paid=paid)
    for span in spans:
        assert span.resource["k8s.namespace.name"] == NAMESPACE, span.resource
        assert span.resource["telemetry.auto.version"] == INSTRUMENTATION_VERSION, span.resource
    assert_no_duplicates_or_broker_polling(_in_namespace(otlp_sink.spans()))

    # The worker's log batch leaves on its own schedule, independent of its span batches.
    def settled_logs() -> list[LogRecord]:
        return [r for r in otlp_sink.logs() if mentions(r, "order settled")]

    wait_until(settled_logs, timeout=120, interval=2, what="the 'order settled' log record")
    settled = settled_logs()
    assert [r.trace_id for r in settled] == [trace_id], settled
