"""Pod template patching and restoring (pure): what the operator adds, it takes back."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch  # kopf's own dependency
import pytest

from orderflow_operator import pods
from orderflow_operator.crd.models import PolicySpec


def _workload(**container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "api", "resourceVersion": "42"},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "containers": [
                        {"name": "api", "image": "x", **container},
                        {"name": "sidecar", "image": "y"},
                    ],
                    "readinessGates": [{"conditionType": "example.com/other"}],
                },
            },
        },
    }


POLICY = PolicySpec.from_dict(
    {
        "targetRef": {"name": "api"},
        "probes": {
            "liveness": {"path": "/healthz", "port": 8080},
            "readiness": {"path": "/readyz", "port": 8080, "periodSeconds": 5},
        },
    }
)


def _patched(workload: dict[str, Any], policy: PolicySpec = POLICY) -> dict[str, Any]:
    template, original = pods.apply(workload, policy)
    ops = pods.workload_patch(
        workload, template, {pods.OWNER_ANNOTATION: "p", pods.ORIGINAL_ANNOTATION: original}
    )
    result: dict[str, Any] = jsonpatch.apply_patch(workload, ops)
    return result


def _released(workload: dict[str, Any]) -> dict[str, Any]:
    ops = pods.workload_patch(
        workload,
        pods.restore(workload),
        {pods.OWNER_ANNOTATION: None, pods.ORIGINAL_ANNOTATION: None},
    )
    result: dict[str, Any] = jsonpatch.apply_patch(workload, ops)
    return result


def test_apply_sets_probes_and_appends_the_gate() -> None:
    own_liveness = {"exec": {"command": ["true"]}}
    patched = _patched(_workload(livenessProbe=own_liveness))
    spec = patched["spec"]["template"]["spec"]
    api = spec["containers"][0]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080, "scheme": "HTTP"}
    assert "exec" not in api["livenessProbe"], "a probe is replaced whole, never merged"
    assert api["readinessProbe"]["periodSeconds"] == 5
    assert "startupProbe" not in api
    assert "livenessProbe" not in spec["containers"][1]
    assert spec["readinessGates"] == [
        {"conditionType": "example.com/other"},
        {"conditionType": pods.GATE},
    ]
    assert pods.owner(patched) == "p"


def test_apply_is_idempotent() -> None:
    once = _patched(_workload())
    template, original = pods.apply(once, POLICY)
    wanted = {pods.OWNER_ANNOTATION: "p", pods.ORIGINAL_ANNOTATION: original}
    assert pods.workload_patch(once, template, wanted) == []


def test_release_restores_the_apps_own_probes_exactly() -> None:
    own = _workload(
        livenessProbe={"exec": {"command": ["true"]}}, startupProbe={"tcpSocket": {"port": 1}}
    )
    released = _released(_patched(copy.deepcopy(own)))
    assert released["spec"] == own["spec"]
    assert released["metadata"].get("annotations") == {}


def test_changed_policy_is_applied_from_the_original() -> None:
    own = _workload(readinessProbe={"tcpSocket": {"port": 8080}})
    first = _patched(own)
    only_liveness = PolicySpec.from_dict(
        {"targetRef": {"name": "api"}, "probes": {"liveness": {"path": "/livez", "port": 9000}}}
    )
    second = _patched(first, only_liveness)
    api = second["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"] == {"tcpSocket": {"port": 8080}}, "the app's own is back"
    assert api["livenessProbe"]["httpGet"]["path"] == "/livez"
    gates = second["spec"]["template"]["spec"]["readinessGates"]
    assert gates.count({"conditionType": pods.GATE}) == 1


def test_patch_is_a_compare_and_swap_on_resource_version() -> None:
    ops = pods.workload_patch(_workload(), pods.apply(_workload(), POLICY)[0], {})
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    stale = _workload()
    stale["metadata"]["resourceVersion"] = "43"
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(stale, ops)


def test_annotation_keys_are_escaped_as_json_pointers() -> None:
    workload = _workload()
    workload["metadata"]["annotations"] = {"keep": "me"}
    ops = pods.workload_patch(workload, workload["spec"]["template"], {"a.b/c": "v"})
    assert {"op": "add", "path": "/metadata/annotations/a.b~1c", "value": "v"} in ops
    assert jsonpatch.apply_patch(workload, ops)["metadata"]["annotations"] == {
        "keep": "me",
        "a.b/c": "v",
    }


def test_unknown_container_is_an_error() -> None:
    policy = PolicySpec.from_dict({"targetRef": {"name": "api"}, "probes": {"container": "nope"}})
    with pytest.raises(pods.TemplateError, match=r"nope.*api, sidecar"):
        pods.apply(_workload(), policy)


def test_selector_string() -> None:
    selector = {
        "matchLabels": {"app": "api", "tier": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert pods.selector_string(selector) == "app=api,tier=web,env in (a,b),!canary"


def test_gate_condition_patch_touches_only_the_gate() -> None:
    patch = pods.gate_condition_patch("False", "DependencyUnhealthy", "redis down", "t")
    [condition] = patch["status"]["conditions"]
    assert condition["type"] == pods.GATE
    assert (condition["status"], condition["reason"]) == ("False", "DependencyUnhealthy")
    assert json.dumps(pods.gate_removal_patch()) == json.dumps(
        {"status": {"conditions": [{"type": pods.GATE, "$patch": "delete"}]}}
    )
