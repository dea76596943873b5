"""Small reads of the running install that several end-to-end tests share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.testbed.manifests import condition

if TYPE_CHECKING:
    from k8s.e2e.install import Install

GATE = "orderflow.dev/dependencies-ready"
__all__ = ["GATE", "condition", "pod_uids", "pods", "restarts"]


def pods(install: Install, component: str | None = None) -> list[dict[str, Any]]:
    selector = ["-l", f"app.kubernetes.io/component={component}"] if component else []
    items: list[dict[str, Any]] = install.get("pods", "-n", install.namespace, *selector)["items"]
    return [p for p in items if p["status"].get("phase") not in {"Succeeded", "Failed"}]


def restarts(install: Install) -> dict[str, int]:
    """Restart count of every container of the release, by pod/container."""
    counts = {}
    for pod in pods(install):
        for status in pod["status"].get("containerStatuses", []):
            counts[f"{pod['metadata']['name']}/{status['name']}"] = status["restartCount"]
    return counts


def pod_uids(install: Install, component: str) -> set[str]:
    return {p["metadata"]["uid"] for p in pods(install, component)}
