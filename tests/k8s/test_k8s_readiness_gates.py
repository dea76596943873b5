"""Test bed acceptance: pod readiness gates are honoured (the operator depends on it).

On the test bed this exercises the project's kwok stages; on kind, the real kubelet.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.testbed.manifests import condition, pod
from tests.testbed.wait import holds_for, wait_until

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

pytestmark = pytest.mark.k8s

GATE = "orderflow.example/dependencies-ready"


def _pod(cluster: K8sCluster, ns: str, name: str) -> Any:
    return cluster.get(f"pod/{name}", "-n", ns)


def _set_gate(cluster: K8sCluster, ns: str, name: str, status: str) -> None:
    # Strategic merge on the status subresource: conditions merge by type, so only the
    # gate condition changes (what the operator does).
    patch = {"status": {"conditions": [{"type": GATE, "status": status, "reason": "Test"}]}}
    cluster.kubectl(
        "patch", f"pod/{name}", "-n", ns, "--subresource=status", "--type=strategic",
        "-p", json.dumps(patch),
    )  # fmt: skip


def test_readiness_gate_controls_ready(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    ns = k8s_namespace
    k8s_cluster.kubectl(
        "apply", "-n", ns, "-f", "-", input=pod("gated", readinessGates=[{"conditionType": GATE}])
    )
    wait_until(
        lambda: condition(_pod(k8s_cluster, ns, "gated"), "ContainersReady") == "True",
        what="containers of the gated pod to be ready",
    )
    assert condition(_pod(k8s_cluster, ns, "gated"), "Ready") == "False"
    # Not just slow: it stays NotReady while the gate condition is absent.
    assert holds_for(
        lambda: condition(_pod(k8s_cluster, ns, "gated"), "Ready") == "False", duration=3
    )

    _set_gate(k8s_cluster, ns, "gated", "False")
    assert holds_for(
        lambda: condition(_pod(k8s_cluster, ns, "gated"), "Ready") == "False", duration=2
    )

    _set_gate(k8s_cluster, ns, "gated", "True")
    k8s_cluster.kubectl("wait", "pod/gated", "-n", ns, "--for=condition=Ready", "--timeout=30s")

    _set_gate(k8s_cluster, ns, "gated", "False")
    k8s_cluster.kubectl(
        "wait", "pod/gated", "-n", ns, "--for=condition=Ready=false", "--timeout=30s"
    )
    final = _pod(k8s_cluster, ns, "gated")
    assert condition(final, GATE) == "False"
    assert condition(final, "ContainersReady") == "True", "only the gate made it NotReady"


def test_all_gates_must_hold(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    ns = k8s_namespace
    gates = [{"conditionType": GATE}, {"conditionType": "orderflow.example/second"}]
    k8s_cluster.kubectl("apply", "-n", ns, "-f", "-", input=pod("two", readinessGates=gates))
    wait_until(
        lambda: condition(_pod(k8s_cluster, ns, "two"), "ContainersReady") == "True",
        what="containers ready",
    )
    _set_gate(k8s_cluster, ns, "two", "True")
    assert holds_for(
        lambda: condition(_pod(k8s_cluster, ns, "two"), "Ready") == "False", duration=3
    ), "one of two gates True must not make the pod Ready"

    patch = {"status": {"conditions": [{"type": "orderflow.example/second", "status": "True"}]}}
    k8s_cluster.kubectl(
        "patch", "pod/two", "-n", ns, "--subresource=status", "--type=strategic",
        "-p", json.dumps(patch),
    )  # fmt: skip
    k8s_cluster.kubectl("wait", "pod/two", "-n", ns, "--for=condition=Ready", "--timeout=30s")


def test_pod_without_gates_becomes_ready(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    # Control for the tests above: NotReady there is the gate, not a stuck node.
    k8s_cluster.kubectl("apply", "-n", k8s_namespace, "-f", "-", input=pod("plain"))
    k8s_cluster.kubectl(
        "wait", "pod/plain", "-n", k8s_namespace, "--for=condition=Ready", "--timeout=30s"
    )
