"""The chart's environment for the app's containers, checked against the settings'
declarations (services/orderflow/settings.py): every variable it sets is one the processes
read (or a standard/helper one listed here), and every literal value parses as the process
would parse it, so a typo or a drifted name fails here instead of being ignored in a pod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orderflow.settings import GROUPS, Settings, SettingsError, declared
from tests.charts.chart import CHART, VALUES_FILES, render, values_id

APP_COMPONENTS = {"api", "worker"}
# Standard OpenTelemetry variables (read by the SDK) and the downward-API/secret helpers the
# chart defines only to expand them into the URLs and resource attributes above.
NOT_SETTINGS = {"DATABASE_PASSWORD", "REDIS_PASSWORD", "K8S_NAMESPACE", "K8S_POD_NAME"}
DECLARED = {var.name for group in GROUPS for _, var, _ in declared(group)}


def _app_env(values: Path | None, *extra: str) -> list[dict[str, Any]]:
    env = []
    for obj in render(values, *extra):
        labels = obj.get("metadata", {}).get("labels", {})
        if obj["kind"] != "Deployment" or labels.get("app.kubernetes.io/component") not in (
            APP_COMPONENTS
        ):
            continue
        spec = obj["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            env.extend(container.get("env", []))
    assert env, "no app containers rendered"
    return env


@pytest.mark.parametrize("values", [*VALUES_FILES, CHART / "values-dev.yaml"], ids=values_id)
def test_the_chart_sets_only_declared_settings(values: Path | None) -> None:
    env = _app_env(values)
    unknown = {
        e["name"]
        for e in env
        if e["name"] not in DECLARED
        and e["name"] not in NOT_SETTINGS
        and not e["name"].startswith("OTEL_")
    }
    assert unknown == set(), "the chart sets variables no process reads"
    literal = {
        e["name"]: e["value"]
        for e in env
        if e["name"] in DECLARED and "value" in e and "$(" not in e["value"]
    }
    base = {"JWT_SECRET": "x" * 40}  # the chart's comes from a Secret
    for name, value in literal.items():
        try:
            Settings.from_env({**base, name: value})
        except SettingsError as exc:
            pytest.fail(f"the chart's {name}={value!r} would stop the process: {exc}")


def test_a_drifted_name_or_value_is_caught() -> None:
    """The check above can fail: a value the process refuses is reported as such."""
    with pytest.raises(SettingsError, match="WORKER_THREADS must be an integer"):
        Settings.from_env({"ENVIRONMENT": "development", "WORKER_THREADS": "four"})
    assert "WORKER_THREADZ" not in DECLARED
