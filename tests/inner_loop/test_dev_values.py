"""charts/orderflow/values-dev.yaml (used by the Tiltfile and skaffold.yaml's `dev` profile)
passes the chart's schema and `helm lint --strict`, and renders what the inner loop needs."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import yaml

from tests.inner_loop.repo import REPO

if TYPE_CHECKING:
    from pathlib import Path

CHART = REPO / "charts" / "orderflow"
DEV_VALUES = CHART / "values-dev.yaml"


def test_lint_strict(tools: dict[str, Path]) -> None:
    proc = subprocess.run(
        [str(tools["helm"]), "lint", "--strict", str(CHART), "--values", str(DEV_VALUES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_one_pod_per_process_in_development(tools: dict[str, Path]) -> None:
    out = subprocess.run(
        [str(tools["helm"]), "template", "dev", str(CHART), "--values", str(DEV_VALUES)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    objects = [doc for doc in yaml.safe_load_all(out) if doc]
    kinds = {o["kind"] for o in objects}
    # No HPA: it would add pods a live update has not reached; nothing to keep available.
    assert "HorizontalPodAutoscaler" not in kinds
    assert "PodDisruptionBudget" not in kinds
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    for name in ("dev-orderflow-api", "dev-orderflow-worker"):
        assert deployments[name]["spec"]["replicas"] == 1
        env = deployments[name]["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "ENVIRONMENT", "value": "development"} in env
    # The telemetry stack stays: the walkthrough ends in Grafana.
    assert "dev-orderflow-lgtm" in deployments
    assert "dev-orderflow-collector" in deployments
