"""Probe misuse detection on pod templates (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow_operator.misuse import find_misuse


def _http(path: str, port: int = 8080) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}}


def _template(
    *containers: dict[str, Any], init: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init is not None:
        spec["initContainers"] = init
    return {"spec": spec}


def test_process_only_liveness_is_fine() -> None:
    template = _template(
        {"name": "api", "livenessProbe": _http("/healthz"), "readinessProbe": _http("/readyz")}
    )
    assert find_misuse(template) == []


def test_liveness_same_as_readiness() -> None:
    template = _template(
        {"name": "api", "livenessProbe": _http("/health"), "readinessProbe": _http("/health")}
    )
    [finding] = find_misuse(template)
    assert finding.code == "LivenessSameAsReadiness"
    assert finding.container == "api"
    assert "/health" in finding.message


def test_same_path_on_another_port_is_not_the_same_endpoint() -> None:
    template = _template(
        {"name": "api", "livenessProbe": _http("/health", 9000), "readinessProbe": _http("/health")}
    )
    assert find_misuse(template) == []


@pytest.mark.parametrize(
    "path", ["/readyz", "/ready", "/api/health", "/health/ready", "/v1/readiness"]
)
def test_liveness_on_a_dependency_checking_path(path: str) -> None:
    [finding] = find_misuse(_template({"name": "worker", "livenessProbe": _http(path)}))
    assert finding.code == "LivenessChecksDependencies"
    assert path in finding.message


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/health", "/ping", "/api/healthy-cats"])
def test_process_paths_are_not_flagged(path: str) -> None:
    assert find_misuse(_template({"name": "api", "livenessProbe": _http(path)})) == []


def test_exec_liveness_talking_to_a_database() -> None:
    probe = {"exec": {"command": ["sh", "-c", "pg_isready -h postgres"]}}
    [finding] = find_misuse(_template({"name": "api", "livenessProbe": probe}))
    assert finding.code == "LivenessChecksDependencies"
    assert "pg_isready" in finding.message


def test_init_container_waiting_with_nc() -> None:
    wait = {
        "name": "wait-db",
        "command": ["sh", "-c", "until nc -z postgres 5432; do sleep 1; done"],
    }
    [finding] = find_misuse(_template({"name": "api"}, init=[wait]))
    assert finding.code == "InitContainerWaitsForDependency"
    assert finding.container == "wait-db"


def test_native_sidecars_and_ordinary_init_containers_are_fine() -> None:
    sidecar = {"name": "proxy", "restartPolicy": "Always", "command": ["nc", "-l", "9000"]}
    migrate = {"name": "migrate", "command": ["orderflow", "migrate"]}
    assert find_misuse(_template({"name": "api"}, init=[sidecar, migrate])) == []


def test_findings_from_several_containers() -> None:
    template = _template(
        {"name": "api", "livenessProbe": _http("/readyz")},
        {"name": "sidecar", "livenessProbe": _http("/x"), "readinessProbe": _http("/x")},
    )
    assert {(f.container, f.code) for f in find_misuse(template)} == {
        ("api", "LivenessChecksDependencies"),
        ("sidecar", "LivenessSameAsReadiness"),
    }
