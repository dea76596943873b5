"""Fixtures of the chart tests that need the test bed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.charts.schemas import cached_schemas

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

CRDS = Path(__file__).with_name("crds")
INSTRUMENTATION = "io.opentelemetry.v1alpha1.Instrumentation"


@pytest.fixture(scope="session")
def instrumentation_crd(k8s_cluster: K8sCluster) -> str:
    """The stand-in Instrumentation CRD, installed and published in the OpenAPI document."""
    k8s_cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    k8s_cluster.kubectl(
        "wait", "--for=condition=Established", "crd/instrumentations.opentelemetry.io",
        "--timeout=60s",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        openapi = k8s_cluster.kubectl("get", "--raw", "/openapi/v2").stdout
        if INSTRUMENTATION in json.loads(openapi)["definitions"]:
            return openapi
        if time.monotonic() > deadline:
            raise AssertionError("the Instrumentation CRD never appeared in /openapi/v2")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def kubeconform_schemas(instrumentation_crd: str) -> Path:
    cache = Path(os.environ.get("ORDERFLOW_CACHE", Path.home() / ".cache" / "orderflow"))
    return cached_schemas(instrumentation_crd, cache / "kubeconform-schemas")
