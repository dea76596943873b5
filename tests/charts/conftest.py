"""Fixtures of the chart tests that need the test bed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.charts.chart import REPO
from tests.charts.schemas import cached_schemas

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

CRDS = Path(__file__).with_name("crds")
INSTRUMENTATION = "io.opentelemetry.v1alpha1.Instrumentation"
# The operator chart's CRDs (HealthPolicy, kopf peerings): what its `helm install` puts first.
OPERATOR_CRDS = REPO / "charts" / "orderflow-operator" / "crds"
HEALTH_POLICY = "dev.orderflow.v1alpha1.HealthPolicy"


def _install_crds(cluster: K8sCluster, path: Path, crd: str, definition: str) -> str:
    """Apply CRDs, wait until ``crd`` is Established and ``definition`` is published in the
    OpenAPI v2 document (kubeconform's schemas come from there); return that document."""
    # --force-conflicts: tests/operator applies the same CRDs in the same test bed.
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    deadline = time.monotonic() + 60
    while True:
        openapi = cluster.kubectl("get", "--raw", "/openapi/v2").stdout
        if definition in json.loads(openapi)["definitions"]:
            return openapi
        if time.monotonic() > deadline:
            raise AssertionError(f"{definition} never appeared in /openapi/v2")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def instrumentation_crd(k8s_cluster: K8sCluster) -> str:
    """The stand-in Instrumentation CRD, installed and published in the OpenAPI document."""
    return _install_crds(k8s_cluster, CRDS, "instrumentations.opentelemetry.io", INSTRUMENTATION)


@pytest.fixture(scope="session")
def healthpolicy_crd(k8s_cluster: K8sCluster) -> str:
    """The operator chart's CRDs, installed and published: from here on the cluster serves
    orderflow.dev/v1alpha1/HealthPolicy and the app chart renders its HealthPolicies."""
    return _install_crds(k8s_cluster, OPERATOR_CRDS, "healthpolicies.orderflow.dev", HEALTH_POLICY)


@pytest.fixture(scope="session")
def kubeconform_schemas(instrumentation_crd: str, healthpolicy_crd: str) -> Path:
    cache = Path(os.environ.get("ORDERFLOW_CACHE", Path.home() / ".cache" / "orderflow"))
    # Read after both CRDs are in: the document then describes both kinds.
    openapi = healthpolicy_crd if INSTRUMENTATION in healthpolicy_crd else instrumentation_crd
    return cached_schemas(openapi, cache / "kubeconform-schemas")
