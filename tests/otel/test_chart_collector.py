"""The Collector configuration as the chart renders it: ``otel/collector.yaml`` plus, where the
orderflow-operator is installed, the second file that scrapes the operator's metrics. Both are
merged by the Collector (``--config`` twice); the pinned build must accept the result with the
environment the chart sets, and the merge must leave collector.yaml's pipelines as they are."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chart import WITH_HEALTH_POLICY, container_env, find, render
from tests.support.collector import collector_binary


def _collector(*extra: str) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """(files of the ConfigMap, the --config file names in order, the plain environment)."""
    objects = render(None, *extra)
    deployment = find(objects, "Deployment", "collector")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    names = [a.removeprefix("--config=/etc/otelcol/") for a in args if a.startswith("--config=")]
    env = {k: str(e["value"]) for k, e in container_env(deployment).items() if "value" in e}
    return find(objects, "ConfigMap", "collector")["data"], names, env


def test_operator_scrape_only_where_the_operator_is() -> None:
    _, names, _ = _collector()
    assert names == ["collector.yaml"]
    _, names, _ = _collector(*WITH_HEALTH_POLICY)
    assert names == ["collector.yaml", "operator-metrics.yaml"]
    _, names, _ = _collector(
        *WITH_HEALTH_POLICY, "--set", "collector.operatorMetrics.enabled=false"
    )
    assert names == ["collector.yaml"]


def test_rendered_files_validate_together(tmp_path: Path) -> None:
    data, names, env = _collector(*WITH_HEALTH_POLICY)
    args = []
    for name in names:
        (tmp_path / name).write_text(data[name])
        args.append(f"--config={tmp_path / name}")
    result = subprocess.run(
        [str(collector_binary()), "validate", *args],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_operator_file_adds_and_restates_nothing() -> None:
    """Lists are replaced, not merged, by the Collector: the second file must not name a
    pipeline or receiver of collector.yaml, or it would silently override it."""
    data, _, _ = _collector(*WITH_HEALTH_POLICY)
    base: dict[str, Any] = yaml.safe_load(data["collector.yaml"])
    overlay: dict[str, Any] = yaml.safe_load(data["operator-metrics.yaml"])
    assert set(overlay) == {"receivers", "service"}
    assert not set(overlay["receivers"]) & set(base["receivers"])
    assert set(overlay["service"]) == {"pipelines"}
    assert not set(overlay["service"]["pipelines"]) & set(base["service"]["pipelines"])
    pipeline = overlay["service"]["pipelines"]["metrics/operator"]
    # the same processing and destination as the apps' metrics
    assert pipeline["processors"] == base["service"]["pipelines"]["metrics"]["processors"]
    assert pipeline["exporters"] == base["service"]["pipelines"]["metrics"]["exporters"]


@pytest.mark.parametrize(
    ("namespace", "target", "expected"),
    [
        ("", "", "orderflow-operator-metrics.default.svc:9090"),
        ("ops", "", "orderflow-operator-metrics.ops.svc:9090"),
        ("ops", "op.example:9100", "op.example:9100"),
    ],
)
def test_operator_target(namespace: str, target: str, expected: str) -> None:
    data, _, _ = _collector(
        *WITH_HEALTH_POLICY,
        "--set",
        f"healthPolicy.operator.namespace={namespace}",
        "--set",
        f"collector.operatorMetrics.target={target}",
    )
    config = yaml.safe_load(data["operator-metrics.yaml"])
    job = config["receivers"]["prometheus/operator"]["config"]["scrape_configs"][0]
    assert job["static_configs"] == [{"targets": [expected]}]
    assert job["job_name"] == "orderflow-operator"
