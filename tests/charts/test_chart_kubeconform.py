"""Every rendered object validates strictly against the test bed's own API schemas."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.charts.chart import REPO, VALUES_FILES, WITH_HEALTH_POLICY, render_text, values_id
from tests.charts.schemas import SCHEMA_LOCATION

if TYPE_CHECKING:
    from pathlib import Path

    from tests.testbed.handle import K8sCluster

pytestmark = pytest.mark.k8s


def _kubeconform(
    cluster: K8sCluster, schemas: Path, manifests: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(cluster.bin("kubeconform")), "-strict", "-summary", "-output", "text",
            "-schema-location", f"{schemas}/{SCHEMA_LOCATION}", "-",
        ],
        input=manifests, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("values", VALUES_FILES, ids=values_id)
def test_rendered_objects_validate_strictly(
    k8s_cluster: K8sCluster, kubeconform_schemas: Path, values: Path | None
) -> None:
    """Everything, including the HealthPolicies (the operator's CRD is on the test bed)."""
    manifests = render_text(values, *WITH_HEALTH_POLICY)
    assert "kind: HealthPolicy" in manifests
    proc = _kubeconform(k8s_cluster, kubeconform_schemas, manifests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in proc.stdout, proc.stdout


def test_kubeconform_checks_healthpolicies_strictly(
    k8s_cluster: K8sCluster, kubeconform_schemas: Path
) -> None:
    """The HealthPolicy schema comes from the real CRD: a misspelled field fails."""
    manifests = render_text(None, *WITH_HEALTH_POLICY, "-s", "templates/healthpolicies.yaml")
    bad = manifests.replace("intervalSeconds:", "intervalSecs:", 1)
    proc = _kubeconform(k8s_cluster, kubeconform_schemas, bad)
    assert proc.returncode != 0
    assert "HealthPolicy" in proc.stdout and "'intervalSecs' not allowed" in proc.stdout, (
        proc.stdout
    )


def test_kubeconform_rejects_unknown_fields_and_kinds(
    k8s_cluster: K8sCluster, kubeconform_schemas: Path
) -> None:
    """The generated schemas are strict: a misspelled field or an unknown kind fails."""
    bad = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
        "spec: {ports: [{port: 80, targetPortt: 8080}]}\n"
        "---\napiVersion: example.test/v1\nkind: Gadget\nmetadata: {name: y}\n"
    )
    proc = _kubeconform(k8s_cluster, kubeconform_schemas, bad)
    assert proc.returncode != 0
    assert "additional properties 'targetPortt' not allowed" in proc.stdout, proc.stdout
    assert "Gadget" in proc.stdout, proc.stdout


def test_instrumentation_sample_validates(
    k8s_cluster: K8sCluster, kubeconform_schemas: Path
) -> None:
    sample = (REPO / "k8s" / "instrumentation.yaml").read_text()
    proc = _kubeconform(k8s_cluster, kubeconform_schemas, sample)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Valid: 1, Invalid: 0" in proc.stdout, proc.stdout
