"""Test bed acceptance: `helm install --wait` of a small chart completes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.testbed.manifests import condition

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

    deployment = k8s_cluster.get("deployment/probe-probe", "-n", ns)
    assert deployment["status"]["readyReplicas"] == 3
    pods = k8s_cluster.get("pods", "-n", ns, "-l", "app.kubernetes.io/instance=probe")["items"]
    assert [condition(p, "Ready") for p in pods] == ["True"] * 3

    endpoints = k8s_cluster.get(
        "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=probe-probe"
    )["items"]
    ready = [e for s in endpoints for e in s.get("endpoints") or [] if e["conditions"].get("ready")]
    assert len(ready) == 3, "the Service routes to the three Ready pods"

    k8s_cluster.helm("uninstall", "probe", "-n", ns, "--wait", "--timeout=60s")
    assert k8s_cluster.kubectl("get", "deployment/probe-probe", "-n", ns, check=False).returncode
