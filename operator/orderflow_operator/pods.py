"""What the operator adds to a workload's pod template and to its pods, and how it takes it
back. Pure functions over plain dicts; ``target`` and ``monitor`` do the API calls.

Bookkeeping lives on the workload itself (annotations), so a restarted operator, or the
other replica, knows what to restore without any memory of its own:

- ``orderflow.dev/health-policy``: the policy that owns the gate on this workload.
- ``orderflow.dev/health-policy-original``: the container's probes as they were before the
  policy replaced them (JSON), so deleting the policy restores the app's own probes.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from orderflow_operator.crd.models import ProbeKind

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orderflow_operator.crd.models import PolicySpec

GATE = "orderflow.dev/dependencies-ready"
OWNER_ANNOTATION = "orderflow.dev/health-policy"
ORIGINAL_ANNOTATION = "orderflow.dev/health-policy-original"


class TemplateError(ValueError):
    """The workload cannot carry the policy (e.g. the named container does not exist)."""


def workload_annotations(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload.get("metadata", {}).get("annotations") or {})


def owner(workload: dict[str, Any]) -> str | None:
    return workload_annotations(workload).get(OWNER_ANNOTATION)


def _container_index(template: dict[str, Any], name: str | None) -> int:
    containers = template["spec"]["containers"]
    if name is None:
        return 0
    for index, container in enumerate(containers):
        if container["name"] == name:
            return index
    names = ", ".join(c["name"] for c in containers)
    raise TemplateError(f"container {name!r} not found in the pod template (has: {names})")


def restore(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template without anything a policy added (a copy)."""
    template: dict[str, Any] = copy.deepcopy(workload["spec"]["template"])
    spec = template["spec"]
    gates = [g for g in spec.get("readinessGates") or [] if g.get("conditionType") != GATE]
    if gates:
        spec["readinessGates"] = gates
    else:
        spec.pop("readinessGates", None)
    saved = workload_annotations(workload).get(ORIGINAL_ANNOTATION)
    if saved:
        original = json.loads(saved)
        index = _container_index(template, original["container"])
        container = spec["containers"][index]
        for kind in ProbeKind:
            probe = original["probes"].get(kind.value)
            if probe is None:
                container.pop(kind.value, None)
            else:
                container[kind.value] = probe
    return template


def apply(workload: dict[str, Any], policy: PolicySpec) -> tuple[dict[str, Any], str]:
    """(pod template with the policy's probes and gate, value of the original annotation).

    Always computed from the restored template, so applying twice, or applying a changed
    policy, gives the same result as applying once to the app's own template."""
    template = restore(workload)
    spec = template["spec"]
    index = _container_index(template, policy.probes.container)
    container = spec["containers"][index]
    original = {
        "container": container["name"],
        "probes": {kind.value: container.get(kind.value) for kind in ProbeKind},
    }
    for kind, probe in policy.probes.by_kind().items():
        container[kind.value] = probe.to_container_probe()
    spec["readinessGates"] = [*(spec.get("readinessGates") or []), {"conditionType": GATE}]
    return template, json.dumps(original, sort_keys=True, separators=(",", ":"))


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def workload_patch(
    workload: dict[str, Any], template: dict[str, Any], wanted: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    """JSON patch from ``workload`` to the given template and annotations (None: remove).

    Empty when nothing changes, so a resumed operator does not trigger a rollout. The
    ``test`` on resourceVersion makes it a compare-and-swap: a concurrent edit fails the
    patch (409/422) instead of being overwritten with our stale copy of the template.
    """
    ops: list[dict[str, Any]] = []
    current = workload_annotations(workload)
    for key, value in wanted.items():
        if current.get(key) == value:
            continue
        path = f"/metadata/annotations/{_pointer(key)}"
        if value is None:
            ops.append({"op": "remove", "path": path})
        elif not current:
            # No annotations map yet: create it with everything at once.
            ops = [op for op in ops if not op["path"].startswith("/metadata/annotations")]
            fresh = {k: v for k, v in wanted.items() if v is not None}
            ops.append({"op": "add", "path": "/metadata/annotations", "value": fresh})
            break
        else:
            ops.append({"op": "add", "path": path, "value": value})
    if template != workload["spec"]["template"]:
        ops.append({"op": "replace", "path": "/spec/template", "value": template})
    if not ops:
        return []
    version = workload["metadata"]["resourceVersion"]
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": version}, *ops]


def selector_string(selector: dict[str, Any]) -> str:
    """A workload's LabelSelector as the ``labelSelector`` query parameter."""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


def has_gate(pod: dict[str, Any]) -> bool:
    gates = pod.get("spec", {}).get("readinessGates") or []
    return any(g.get("conditionType") == GATE for g in gates)


def gate_status(pod: dict[str, Any]) -> tuple[str | None, str | None]:
    """(status, reason) of the pod's gate condition; (None, None) when absent."""
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == GATE:
            return cond.get("status"), cond.get("reason")
    return None, None


def gate_condition_patch(status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    """Strategic-merge patch for pods/status: conditions merge by ``type``, so only the gate
    condition changes and the kubelet's (here kwok's) own conditions are left alone. A
    JSON merge patch would replace the whole list."""
    condition = {
        "type": GATE,
        "status": status,
        "reason": reason,
        "message": message,
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    return {"status": {"conditions": [condition]}}


def gate_removal_patch() -> dict[str, Any]:
    return {"status": {"conditions": [{"type": GATE, "$patch": "delete"}]}}
