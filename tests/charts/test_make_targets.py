"""`make up` (kind, cannot run here) takes the same steps as the install tests, `make
chart-sync` keeps the chart's copy of otel/ current and `make dashboards` writes the chart's
dashboards and rules."""

from __future__ import annotations

import subprocess

from tests.charts.chart import REPO


def _dry_run(target: str) -> str:
    proc = subprocess.run(
        ["make", "-n", target, "KIND=kind"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_up_matches_the_tested_install_path() -> None:
    steps = _dry_run("up")
    for step in (
        "kind create cluster --name orderflow --config k8s/kind-config.yaml",
        "k8s/base-image/images.sh | xargs kind load docker-image --name orderflow",
        "pod-security.kubernetes.io/enforce=restricted",
        "upgrade --install orderflow charts/orderflow -n orderflow --wait",
        "port-forward svc/orderflow-lgtm 3000:3000",
    ):
        assert step in steps, step
    assert "kind delete cluster --name orderflow" in _dry_run("down")


def test_make_images_uses_the_tested_script() -> None:
    assert "k8s/base-image/images.sh" in _dry_run("images")


def test_make_dashboards_writes_the_chart_files_in_one_step() -> None:
    """One command regenerates: the generator writes into the chart; chart-sync copies only
    the Collector configuration."""
    assert ".venv/bin/python -m orderflow_dashboards\n" in _dry_run("dashboards")
    assert "orderflow_dashboards --check" in _dry_run("dashboards-check")
    assert "dashboards" not in _dry_run("chart-sync")
