"""The chart's NetworkPolicies, evaluated (tests/charts/netpol.py says why not enforced on the
test bed): a pod outside the release cannot reach PostgreSQL, Redis or the Collector, whether
it runs in the release's namespace or another; the release's own pods reach what they need."""

from __future__ import annotations

from typing import Any

import pytest

from tests.charts.chart import WITH_HEALTH_POLICY, pod_labels, render, workloads
from tests.charts.netpol import Pod, can_connect

NAMESPACE = "shop"
# (component, port) of what a stranger must not reach: the data and the telemetry intake.
PROTECTED = [("postgresql", 5432), ("redis", 6379), ("collector", 4317), ("collector", 4318)]
# What the app needs, and must keep.
NEEDED = [
    ("api", "postgresql", 5432),
    ("api", "redis", 6379),
    ("api", "collector", 4318),
    ("worker", "postgresql", 5432),
    ("worker", "redis", 6379),
    ("worker", "collector", 4318),
    ("collector", "lgtm", 4317),
]


def _cluster() -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Pod]]:
    objects = render(None, *WITH_HEALTH_POLICY)
    policies = [(NAMESPACE, o["spec"]) for o in objects if o["kind"] == "NetworkPolicy"]
    pods = {}
    for workload in workloads(objects):
        labels = pod_labels(workload)
        component = labels.get("app.kubernetes.io/component")
        if component:
            containers = workload["spec"]["template"]["spec"]["containers"]
            ports = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}
            pods[component] = Pod(NAMESPACE, labels, ports)
    return policies, pods


POLICIES, PODS = _cluster()

STRANGERS = {
    "same namespace, no labels": Pod(NAMESPACE, {"app": "debug"}),
    "same namespace, another release's labels": Pod(
        NAMESPACE, {"app.kubernetes.io/name": "orderflow", "app.kubernetes.io/instance": "other"}
    ),
    "another namespace, this release's labels": Pod("elsewhere", PODS["api"].labels),
}


@pytest.mark.parametrize(("component", "port"), PROTECTED)
@pytest.mark.parametrize("stranger", list(STRANGERS))
def test_a_pod_outside_the_release_cannot_reach_data_or_telemetry(
    stranger: str, component: str, port: int
) -> None:
    assert not can_connect(POLICIES, STRANGERS[stranger], PODS[component], port)


@pytest.mark.parametrize(("source", "dest", "port"), NEEDED)
def test_the_release_pods_reach_what_they_need(source: str, dest: str, port: int) -> None:
    assert can_connect(POLICIES, PODS[source], PODS[dest], port)


def test_the_operator_reaches_only_what_its_policies_check() -> None:
    """The operator (namespace ``default`` in the rendered flows) probes PostgreSQL, Redis and
    the Collector's health intake; it gets no other port of theirs, nor the API's metrics port
    (open to the configured scrapers only; the API's HTTP port is public by design)."""
    operator = Pod("default", {"app.kubernetes.io/name": "orderflow-operator"})
    assert can_connect(POLICIES, operator, PODS["postgresql"], 5432)
    assert can_connect(POLICIES, operator, PODS["redis"], 6379)
    assert not can_connect(POLICIES, operator, PODS["collector"], 4317)
    assert not can_connect(POLICIES, operator, PODS["api"], 9464)


def test_the_evaluation_can_say_no_and_yes() -> None:
    """The evaluator itself: without the chart's policies everything is reachable, and the
    default-deny policy alone makes everything unreachable."""
    stranger = STRANGERS["same namespace, no labels"]
    assert can_connect([], stranger, PODS["postgresql"], 5432)
    deny = [
        (ns, spec) for ns, spec in POLICIES if not spec.get("ingress") and not spec.get("egress")
    ]
    assert len(deny) == 1
    assert not can_connect(deny, PODS["api"], PODS["postgresql"], 5432)
