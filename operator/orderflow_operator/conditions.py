"""Kubernetes-style conditions (metav1.Condition), merged by type.

Pure functions: the operator owns its HealthPolicy's whole ``status.conditions`` list, so it
computes the merged list here and writes it in one piece. (Pods are different: other
writers own other conditions there, see ``pods.gate_condition_patch``.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

READY = "Ready"
DEPENDENCIES_HEALTHY = "DependenciesHealthy"
PROBES_CONFIGURED = "ProbesConfigured"
PROBE_MISUSE = "ProbeMisuse"

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    *,
    generation: int | None = None,
    now: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Return (new list, whether the status changed). lastTransitionTime moves only when the
    status does: a new message for the same status is not a transition."""
    now = now or now_iso()
    previous = find(conditions, type_)
    changed = previous is None or previous.get("status") != status
    condition: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": previous["lastTransitionTime"] if previous and not changed else now,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    merged = [c for c in conditions if c.get("type") != type_]
    merged.append(condition)
    # A stable order keeps `kubectl get -o yaml` diffs and our own no-op detection simple.
    merged.sort(key=lambda c: _ORDER.get(c["type"], len(_ORDER)))
    return merged, changed


def find(conditions: list[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def status_of(conditions: list[dict[str, Any]], type_: str) -> str:
    found = find(conditions, type_)
    return str(found["status"]) if found else UNKNOWN


_ORDER = {READY: 0, DEPENDENCIES_HEALTHY: 1, PROBES_CONFIGURED: 2, PROBE_MISUSE: 3}
