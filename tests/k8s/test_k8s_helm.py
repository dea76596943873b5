"""Test bed acceptance: `helm install --wait` of a small chart completes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.testbed.manifests import condition
from tests.testbed.wait import wait_until

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

pytestmark = pytest.mark.k8s

CHART = Path(__file__).with_name("charts") / "probe"


def test_helm_install_wait_completes(
    k8s_cluster: K8sCluster, k8s_restricted_namespace: str
) -> None:
    ns = k8s_restricted_namespace  # the chart is restricted-PSS clean, like ours must be
    k8s_cluster.helm(
        "install", "probe", str(CHART), "-n", ns, "--wait", "--timeout=120s",
        "--set", "replicas=3",
    )  # fmt: skip
    status = json.loads(k8s_cluster.helm("status", "probe", "-n", ns, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"

    # `--wait` judged the ReplicaSet; the Deployment's totals and the EndpointSlices are
    # written by other controllers a moment later.
    def ready_replicas() -> bool:
        deployment = k8s_cluster.get("deployment/probe-probe", "-n", ns)
        return bool(deployment["status"].get("readyReplicas") == 3)

    wait_until(ready_replicas, timeout=30, what="the Deployment's readyReplicas == 3")
    pods = k8s_cluster.get("pods", "-n", ns, "-l", "app.kubernetes.io/instance=probe")["items"]
    assert [condition(p, "Ready") for p in pods] == ["True"] * 3

    def ready_endpoints() -> int:
        slices = k8s_cluster.get(
            "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=probe-probe"
        )["items"]
        return len(
            [e for s in slices for e in s.get("endpoints") or [] if e["conditions"].get("ready")]
        )

    wait_until(lambda: ready_endpoints() == 3, timeout=30, what="three ready endpoints")

    k8s_cluster.helm("uninstall", "probe", "-n", ns, "--wait", "--timeout=60s")
    assert k8s_cluster.kubectl("get", "deployment/probe-probe", "-n", ns, check=False).returncode
