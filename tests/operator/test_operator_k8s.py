"""Operator acceptance: the real operator on the test bed, gating real pods on real PostgreSQL
and Redis (started here), running with the chart's ServiceAccount and RBAC.
"""

from __future__ import annotations

import base64
import json
import math
import ssl
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import httpx
import pytest

from tests.operator.conftest import CHART, PEERING, OperatorProcess
from tests.testbed.manifests import IMAGE, RESTRICTED_SECURITY, condition
from tests.testbed.wait import holds_for, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from orderflow.devservices import Postgres, Redis
    from tests.operator.conftest import OperatorBed
    from tests.testbed.handle import K8sCluster

pytestmark = pytest.mark.k8s

GATE = "orderflow.dev/dependencies-ready"
T = TypeVar("T")
INTERVAL = 2  # seconds between checks of Redis in the scenario


def _until(
    probe: Callable[[], T | Literal[False] | None], *, timeout: float = 60.0, what: str
) -> T:
    """``wait_until`` for probes that answer "not yet" with None/False, typed as the value."""
    return cast("T", wait_until(probe, timeout=timeout, what=what))


def _deployment(name: str, replicas: int = 2, **container: Any) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [
                            {
                                "name": "app",
                                "image": IMAGE,
                                "securityContext": RESTRICTED_SECURITY,
                                **container,
                            }
                        ],
                    },
                },
            },
        }
    )


def _policy(name: str, spec: dict[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": "orderflow.dev/v1alpha1",
            "kind": "HealthPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def _pods(cluster: K8sCluster, ns: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.get("pods", "-n", ns, "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _gated(cluster: K8sCluster, ns: str, app: str) -> list[dict[str, Any]]:
    return [
        p
        for p in _pods(cluster, ns, app)
        if {"conditionType": GATE} in (p["spec"].get("readinessGates") or [])
    ]


def _gate_time(pod: dict[str, Any]) -> str:
    for cond in pod["status"]["conditions"]:
        if cond["type"] == GATE:
            return str(cond["lastTransitionTime"])
    raise AssertionError(f"pod {pod['metadata']['name']} has no gate condition")


def _all(pods: list[dict[str, Any]], count: int, **wanted: str) -> list[dict[str, Any]] | None:
    """The pods, if there are `count` of them and every one has the wanted conditions."""
    if len(pods) != count:
        return None
    for pod in pods:
        for kind, status in wanted.items():
            if condition(pod, GATE if kind == "gate" else kind) != status:
                return None
    return pods


def _status(cluster: K8sCluster, ns: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = cluster.get(f"healthpolicy/{name}", "-n", ns).get("status") or {}
    return status


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def _events(cluster: K8sCluster, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    selector = f"involvedObject.kind=HealthPolicy,involvedObject.name={name},reason={reason}"
    events: list[dict[str, Any]] = cluster.get("events", "-n", ns, "--field-selector", selector)[
        "items"
    ]
    return events


def _restarts(pods: list[dict[str, Any]]) -> list[int]:
    return [s["restartCount"] for p in pods for s in p["status"].get("containerStatuses") or []]


def _template(cluster: K8sCluster, ns: str, name: str) -> dict[str, Any]:
    deployment = cluster.get(f"deployment/{name}", "-n", ns)
    template: dict[str, Any] = deployment["spec"]["template"]
    template["annotations"] = deployment["metadata"].get("annotations") or {}
    return template


def _epoch(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())


def test_gate_follows_real_dependencies(
    operator_bed: OperatorBed, postgres: Postgres, redis_server: Redis
) -> None:
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    cluster.kubectl(
        "create", "secret", "generic", "shop-db", "-n", ns, f"--from-literal=dsn={postgres.url}"
    )
    # Opted in to health checks (the operator reads no other Secret), this key only.
    cluster.kubectl("label", "secret/shop-db", "-n", ns, "orderflow.dev/health-check=true")
    cluster.kubectl("annotate", "secret/shop-db", "-n", ns, "orderflow.dev/health-check-keys=dsn")
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("shop"))
    cluster.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=_policy(
            "shop",
            {
                "targetRef": {"kind": "Deployment", "name": "shop"},
                "probes": {
                    "liveness": {"path": "/healthz", "port": 8080},
                    "readiness": {"path": "/readyz", "port": 8080, "periodSeconds": 5},
                },
                "dependencies": [
                    {
                        "name": "postgres",
                        "type": "postgres",
                        "secretRef": {"name": "shop-db", "key": "dsn"},
                        "intervalSeconds": 1,
                        "timeoutSeconds": 1,
                    },
                    {
                        "name": "redis",
                        "type": "redis",
                        "address": f"127.0.0.1:{redis_server.port}",
                        "intervalSeconds": INTERVAL,
                        "timeoutSeconds": 1,
                    },
                ],
            },
        ),
    )

    # 1. The pods get the probes and the gate, and become Ready while both are up.
    pods = _until(
        lambda: _all(_gated(cluster, ns, "shop"), 2, gate="True", Ready="True"),
        timeout=90,
        what="2 gated pods Ready",
    )
    container = pods[0]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    status = _until(
        lambda: (s := _status(cluster, ns, "shop")).get("healthy") == "2/2" and s,
        what="status 2/2 healthy",
    )
    conds = _conditions(status)
    assert {t: c["status"] for t, c in conds.items()} == {
        "Ready": "True",
        "DependenciesHealthy": "True",
        "ProbesConfigured": "True",
        "ProbeMisuse": "False",
    }
    assert status["observedGeneration"] == 1
    deps = {d["name"]: d for d in status["dependencies"]}
    assert deps["postgres"]["address"] == "secret shop-db/dsn", "never the DSN itself"
    assert all(d["healthy"] and d["latencyMs"] >= 0 and d["lastCheck"] for d in deps.values())
    uids = {p["metadata"]["uid"] for p in pods}

    # 2. Redis goes down: every gate turns False within two check intervals, pods NotReady.
    redis_server.stop(remove=False)
    stopped_at = math.floor(time.time())
    closed = _until(
        lambda: _all(_gated(cluster, ns, "shop"), 2, gate="False"),
        timeout=30,
        what="gates False after the Redis outage",
    )
    delays = [_epoch(_gate_time(p)) - stopped_at for p in closed]
    print(f"gate closed {delays} s after Redis stopped (interval {INTERVAL} s)")
    assert max(delays) <= 2 * INTERVAL + 1, delays  # +1: timestamps have 1 s resolution
    down = _until(lambda: _all(_pods(cluster, ns, "shop"), 2, Ready="False"), what="pods NotReady")
    assert {p["metadata"]["uid"] for p in down} == uids, "no pod was replaced"
    assert _restarts(down) == [0, 0], "no container was restarted"
    assert all(condition(p, "ContainersReady") == "True" for p in down), "only the gate"
    status = _until(
        lambda: (s := _status(cluster, ns, "shop")).get("healthy") == "1/2" and s,
        what="status 1/2",
    )
    redis = next(d for d in status["dependencies"] if d["name"] == "redis")
    assert redis["healthy"] is False
    assert str(redis_server.port) in redis["lastError"]
    conds = _conditions(status)
    assert conds["DependenciesHealthy"]["status"] == "False"
    assert "redis" in conds["DependenciesHealthy"]["message"]
    assert conds["Ready"]["status"] == "False"
    [event] = _until(
        lambda: _events(cluster, ns, "shop", "DependencyUnhealthy"),
        what="DependencyUnhealthy event",
    )
    assert event["type"] == "Warning"
    assert "redis" in event["message"]
    assert _events(cluster, ns, "shop", "GateClosed")
    metrics = operator_bed.operator.metrics()
    assert 'orderflow_operator_dependency_up{dependency="redis",' in metrics
    assert f'namespace="{ns}",policy="shop",type="redis"}} 0.0' in metrics

    # A pod created during the outage (scale-up, rollout) starts gated: it does not join.
    cluster.kubectl("scale", "deployment/shop", "--replicas=3", "-n", ns)
    _until(lambda: _all(_gated(cluster, ns, "shop"), 3, gate="False"), what="new pod gated")
    assert holds_for(lambda: bool(_all(_pods(cluster, ns, "shop"), 3, Ready="False")), duration=2)

    # 3. Redis is back: Ready again, same pods, still no restarts.
    redis_server.start()
    back = _until(
        lambda: _all(_pods(cluster, ns, "shop"), 3, gate="True", Ready="True"),
        timeout=30,
        what="pods Ready after Redis is back",
    )
    assert uids < {p["metadata"]["uid"] for p in back}, "the first two pods were kept"
    assert _restarts(back) == [0, 0, 0]
    assert _until(
        lambda: _events(cluster, ns, "shop", "DependencyHealthy"), what="DependencyHealthy event"
    )

    # 4. An operator restart resumes without flapping: no gate moves, no new rollout.
    generation = cluster.get("deployment/shop", "-n", ns)["metadata"]["generation"]
    times = {p["metadata"]["name"]: _gate_time(p) for p in back}
    operator_bed.operator.stop()
    operator_bed.operator.start()
    assert holds_for(
        lambda: (
            {p["metadata"]["name"]: _gate_time(p) for p in _pods(cluster, ns, "shop")} == times
            and all(condition(p, "Ready") == "True" for p in _pods(cluster, ns, "shop"))
        ),
        duration=3 * INTERVAL,
    ), "gates flapped after the operator restarted"
    assert cluster.get("deployment/shop", "-n", ns)["metadata"]["generation"] == generation

    # 5. Traces of the checks reached the OTLP endpoint, failures marked as errors.
    spans = [s for s in operator_bed.receiver.spans if s.name == "dependency.check"]
    assert {s.service for s in spans} == {"orderflow-operator"}
    redis_spans = [s for s in spans if s.attributes.get("orderflow.dependency.name") == "redis"]
    assert any(s.status_code == 2 for s in redis_spans), "failed checks have status ERROR"
    assert any(s.attributes.get("orderflow.dependency.healthy") for s in redis_spans)

    # 6. Deleting the policy removes the gate and the probes (finalizer).
    cluster.kubectl("delete", "healthpolicy/shop", "-n", ns, "--timeout=60s")
    template = _until(
        lambda: (t := _template(cluster, ns, "shop"))["spec"].get("readinessGates") is None and t,
        what="gate removed from the template",
    )
    container = template["spec"]["containers"][0]
    assert "livenessProbe" not in container and "readinessProbe" not in container
    assert not any(k.startswith("orderflow.dev/health-policy") for k in template["annotations"])
    _until(
        lambda: (
            len(pods := _pods(cluster, ns, "shop")) == 3
            and all(condition(p, GATE) is None and condition(p, "Ready") == "True" for p in pods)
        ),
        timeout=60,
        what="pods without the gate condition, Ready",
    )


def test_probe_misuse_is_warned(operator_bed: OperatorBed) -> None:
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    probe = {"httpGet": {"path": "/readyz", "port": 8080}}
    cluster.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=_deployment("misused", replicas=1, livenessProbe=probe, readinessProbe=probe),
    )
    # No probes declared: the target's own (bad) liveness stays and is reported.
    cluster.kubectl(
        "apply", "-n", ns, "-f", "-", input=_policy("misused", {"targetRef": {"name": "misused"}})
    )
    misuse = _until(
        lambda: _conditions(_status(cluster, ns, "misused")).get("ProbeMisuse"),
        what="ProbeMisuse condition",
    )
    assert misuse["status"] == "True"
    assert misuse["reason"] == "LivenessSameAsReadiness"
    assert "container app" in misuse["message"] and "/readyz" in misuse["message"]
    [event] = _until(
        lambda: _events(cluster, ns, "misused", "ProbeMisuse"), what="ProbeMisuse event"
    )
    assert event["type"] == "Warning"
    # A warning, not a failure: without critical dependencies the gate is open.
    _until(
        lambda: _all(_gated(cluster, ns, "misused"), 1, gate="True", Ready="True"),
        timeout=60,
        what="gated pod Ready",
    )
    cluster.kubectl("delete", "healthpolicy/misused", "-n", ns, "--timeout=60s")


def test_statefulset_target(operator_bed: OperatorBed, postgres: Postgres) -> None:
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    workload = json.loads(_deployment("ledger", replicas=1))
    workload["kind"] = "StatefulSet"
    workload["spec"]["serviceName"] = "ledger"
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(workload))
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_policy("ledger", {
        "targetRef": {"kind": "StatefulSet", "name": "ledger"},
        "dependencies": [{"name": "postgres", "type": "postgres",
                          "address": f"127.0.0.1:{postgres.port}", "intervalSeconds": 1,
                          "timeoutSeconds": 1}],
    }))  # fmt: skip
    _until(lambda: _all(_gated(cluster, ns, "ledger"), 1, gate="True", Ready="True"),
           timeout=90, what="gated StatefulSet pod Ready")  # fmt: skip
    cluster.kubectl("delete", "healthpolicy/ledger", "-n", ns, "--timeout=60s")
    statefulset = cluster.get("statefulset/ledger", "-n", ns)
    assert "readinessGates" not in statefulset["spec"]["template"]["spec"]


def _invalid(dependency: dict[str, Any] | None = None, **probes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetRef": {"name": "x"}}
    if dependency is not None:
        spec["dependencies"] = [{"name": "d", **dependency}]
    if probes:
        spec["probes"] = probes
    return spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            _invalid({"type": "mysql", "address": "db:3306"}),
            'spec.dependencies[0].type: Unsupported value: "mysql"',
            id="unknown-type",
        ),
        pytest.param(
            _invalid(liveness={"path": "/healthz", "port": 70000}),
            "spec.probes.liveness.port: Invalid value: 70000",
            id="bad-probe-port",
        ),
        pytest.param(
            _invalid({"type": "postgres", "address": "db:99999"}),
            "port from 1 to 65535",
            id="bad-address-port",
        ),
        pytest.param(
            _invalid({"type": "redis"}),
            "spec.dependencies[0].address: Invalid value: address is required unless "
            "secretRef is set",
            id="missing-address",
        ),
        pytest.param(
            _invalid({"type": "http", "address": "api:8080"}),
            "an http dependency needs an http:// or https:// URL",
            id="http-not-url",
        ),
        pytest.param(
            _invalid({"type": "tcp", "address": "db:1", "timeoutSeconds": 9, "intervalSeconds": 5}),
            "timeoutSeconds must not exceed intervalSeconds",
            id="timeout-too-long",
        ),
    ],
)
def test_invalid_policy_is_rejected(
    operator_bed: OperatorBed, spec: dict[str, Any], message: str
) -> None:
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    result = cluster.kubectl("apply", "-n", ns, "-f", "-", input=_policy("bad", spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert cluster.kubectl("get", "healthpolicy/bad", "-n", ns, check=False).returncode != 0


def test_targetref_is_immutable(operator_bed: OperatorBed) -> None:
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    cluster.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=_policy("pinned", {"targetRef": {"name": "nothing-yet"}}),
    )
    result = cluster.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        check=False,
        input=_policy("pinned", {"targetRef": {"name": "other"}}),
    )
    assert result.returncode != 0
    assert "targetRef is immutable" in result.stderr

    # The missing target is reported, and the policy can still be deleted.
    def configured_reason() -> str | None:
        found = _conditions(_status(cluster, ns, "pinned")).get("ProbesConfigured")
        return found["reason"] if found else None

    reason = _until(configured_reason, what="ProbesConfigured reason")
    assert reason == "TargetNotFound"
    cluster.kubectl("delete", "healthpolicy/pinned", "-n", ns, "--timeout=60s")


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("list", "pods", True),
        ("patch", "pods/status", True),
        ("patch", "deployments.apps", True),
        ("get", "secrets", True),
        ("create", "events", True),
        ("patch", "healthpolicies.orderflow.dev/status", True),
        ("patch", "pods", False),
        ("delete", "pods", False),
        ("create", "pods/exec", False),
        ("create", "deployments.apps", False),
        ("delete", "deployments.apps", False),
        ("list", "secrets", False),
        ("watch", "secrets", False),
        ("create", "healthpolicies.orderflow.dev", False),
        ("patch", "configmaps", False),
    ],
)
def test_service_account_rights_in_served_namespace(
    operator_bed: OperatorBed, verb: str, resource: str, allowed: bool
) -> None:
    cluster = operator_bed.cluster
    name, _, sub = resource.partition("/")
    args = [
        "auth",
        "can-i",
        verb,
        name,
        "-n",
        operator_bed.app_namespace,
        f"--as={operator_bed.service_account}",
    ]
    if sub:
        args.append(f"--subresource={sub}")
    answer = cluster.kubectl(*args, check=False).stdout.strip()
    assert answer == ("yes" if allowed else "no")


@pytest.mark.parametrize(
    ("verb", "resource", "namespace"),
    [
        ("get", "secrets", "default"),
        ("patch", "deployments.apps", "default"),
        ("list", "pods", "kube-system"),
        ("list", "namespaces", ""),
        ("list", "nodes", ""),
        ("list", "customresourcedefinitions.apiextensions.k8s.io", ""),
        ("create", "clusterroles.rbac.authorization.k8s.io", ""),
        ("create", "rolebindings.rbac.authorization.k8s.io", "OPS"),
    ],
)
def test_service_account_has_nothing_elsewhere(
    operator_bed: OperatorBed, verb: str, resource: str, namespace: str
) -> None:
    ns = operator_bed.ops_namespace if namespace == "OPS" else namespace
    scope = ["-n", ns] if ns else []
    answer = operator_bed.cluster.kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        *scope,
        f"--as={operator_bed.service_account}",
        check=False,
    ).stdout.strip()
    assert answer == "no"


def test_clusterwide_rbac(operator_bed: OperatorBed) -> None:
    """`watch.clusterWide=true`: the same rules in a ClusterRole, peering cluster-wide."""
    cluster, ns = operator_bed.cluster, operator_bed.ops_namespace
    name = f"op-cw-{ns.rsplit('-', 1)[1]}"
    rendered = cluster.helm(
        "template", "cw", str(CHART), "--namespace", ns, "--set", "watch.clusterWide=true",
        "--set", f"fullnameOverride={name}",
        "--show-only", "templates/rbac.yaml", "--show-only", "templates/serviceaccount.yaml",
    ).stdout  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=rendered)
    try:
        who = f"--as=system:serviceaccount:{ns}:{name}"

        def can(*args: str) -> bool:
            answer = cluster.kubectl("auth", "can-i", *args, who, check=False).stdout.strip()
            return answer == "yes"

        assert can("watch", "healthpolicies.orderflow.dev", "--all-namespaces")
        assert can("patch", "pods", "--subresource=status", "-n", "default")
        assert can("list", "clusterkopfpeerings.kopf.dev")
        assert can("patch", f"clusterkopfpeerings.kopf.dev/{PEERING}")
        assert not can("patch", "clusterkopfpeerings.kopf.dev/another")
        assert not can("delete", "pods", "-n", "default")
        assert not can("list", "secrets", "-n", "default")
        assert not can("list", "namespaces")
        assert not can("create", "deployments.apps", "-n", "default")
    finally:
        cluster.kubectl("delete", "clusterrole", name, "--ignore-not-found")
        cluster.kubectl("delete", "clusterrolebinding", name, "--ignore-not-found")


def test_real_requests_with_the_operator_token_are_forbidden(operator_bed: OperatorBed) -> None:
    """Not only the authorizer's opinion: real calls with the operator's own token."""
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    as_operator = ["--kubeconfig", str(operator_bed.sa_kubeconfig)]
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("victim", replicas=1))
    _until(lambda: _pods(cluster, ns, "victim"), what="victim pod")
    # Allowed: what the operator does.
    assert cluster.kubectl(*as_operator, "get", "pods", "-n", ns, check=False).returncode == 0
    # Forbidden: everything else, answered 403 by the API server.
    for args in (
        ["delete", "pods", "-l", "app=victim", "-n", ns],
        ["get", "secrets", "-n", ns],  # list
        ["scale", "deployment/victim", "--replicas=0", "-n", ns],
        ["get", "pods", "-n", "kube-system"],
        ["get", "nodes"],
        ["create", "namespace", "should-not-exist"],
    ):
        result = cluster.kubectl(*as_operator, *args, check=False)
        assert result.returncode != 0, args
        assert "Forbidden" in result.stderr or "forbidden" in result.stderr, result.stderr
    # Also via impersonation by the admin, the way `kubectl auth can-i` asks.
    result = cluster.kubectl(
        "delete", "deployment/victim", "-n", ns, f"--as={operator_bed.service_account}", check=False
    )
    assert result.returncode != 0 and "forbidden" in result.stderr.lower()
    assert len(_pods(cluster, ns, "victim")) == 1
    cluster.kubectl("delete", "deployment/victim", "-n", ns)


def test_operator_identity_may_change_probes_and_its_gate_only(operator_bed: OperatorBed) -> None:
    """RBAC's `patch` on a Deployment covers every field; the chart's admission policy holds
    the operator's ServiceAccount to probes, its readiness gate and its own annotations."""
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    as_operator = ["--kubeconfig", str(operator_bed.sa_kubeconfig)]
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("guarded", replicas=1))

    def patch(*ops: dict[str, Any], who: list[str] = as_operator) -> Any:
        return cluster.kubectl(
            *who, "patch", "deployment/guarded", "-n", ns, "--type=json", "-p", json.dumps(ops),
            check=False,
        )  # fmt: skip

    container = "/spec/template/spec/containers/0"
    for ops in (
        {"op": "replace", "path": f"{container}/image", "value": "evil:1"},
        {"op": "add", "path": f"{container}/command", "value": ["sh", "-c", "exfiltrate"]},
        {"op": "add", "path": f"{container}/env", "value": [{"name": "X", "value": "1"}]},
        {"op": "add", "path": "/spec/template/spec/hostNetwork", "value": True},
        {"op": "add", "path": "/spec/template/spec/serviceAccountName", "value": "admin"},
        {"op": "add", "path": "/spec/template/metadata/annotations", "value": {"a": "b"}},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/metadata/annotations/other.io~1x", "value": "1"},
        {"op": "add", "path": "/spec/template/spec/readinessGates", "value": [
            {"conditionType": "someone.else/gate"}
        ]},
    ):  # fmt: skip
        result = patch(ops)
        assert result.returncode != 0, ops
        assert "orderflow-operator may" in result.stderr, (ops, result.stderr)
    # What the operator does is admitted (the whole module proves it too: configure/release).
    probe = {"httpGet": {"path": "/readyz", "port": 8080}}
    allowed = patch(
        {"op": "add", "path": f"{container}/readinessProbe", "value": probe},
        {"op": "add", "path": "/spec/template/spec/readinessGates", "value": [
            {"conditionType": "orderflow.dev/dependencies-ready"}
        ]},
        {"op": "add", "path": "/metadata/annotations/orderflow.dev~1health-policy", "value": "x"},
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    # Only the operator's identity is held: the admin changes the image as before.
    admin = patch({"op": "replace", "path": f"{container}/image", "value": "other:1"}, who=[])
    assert admin.returncode == 0, admin.stderr
    cluster.kubectl("delete", "deployment/guarded", "-n", ns)


def test_operator_identity_may_set_only_its_gate_condition(operator_bed: OperatorBed) -> None:
    """`patch` on pods/status would let a stolen operator token mark any pod Ready or not
    through the kubelet's conditions or another controller's gate: the admission policy
    leaves it its own condition only."""
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("statusguard", replicas=1))
    [pod] = _until(lambda: _pods(cluster, ns, "statusguard"), what="the pod")
    name = pod["metadata"]["name"]

    # The operator's own request, as it sends it: a PATCH of pods/status with its token (kubectl
    # would GET the subresource first, which the operator is not granted).
    config = json.loads(operator_bed.sa_kubeconfig.read_text())
    cluster_info = config["clusters"][0]["cluster"]
    ca = (
        ssl.create_default_context(
            cadata=base64.b64decode(cluster_info["certificate-authority-data"]).decode()
        )
        if "certificate-authority-data" in cluster_info
        else ssl.create_default_context(cafile=cluster_info["certificate-authority"])
    )
    token = config["users"][0]["user"]["token"]

    def set_condition(kind: str, status: str) -> httpx.Response:
        return httpx.patch(
            f"{cluster_info['server']}/api/v1/namespaces/{ns}/pods/{name}/status",
            json={"status": {"conditions": [{"type": kind, "status": status}]}},
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/strategic-merge-patch+json",
            },
            verify=ca,
            timeout=10,
        )

    for kind in ("Ready", "ContainersReady", "someone.else/gate"):
        refused = set_condition(kind, "False")
        assert refused.status_code in (403, 422), (kind, refused.text)
        assert "orderflow-operator may set only" in refused.text, refused.text
    allowed = set_condition(GATE, "False")
    assert allowed.status_code == 200, allowed.text
    cluster.kubectl("delete", "deployment/statusguard", "-n", ns)


def test_chart_operator_pods_pass_restricted_pod_security(operator_bed: OperatorBed) -> None:
    """The chart's Deployment, applied into a namespace enforcing `restricted`, gets its pods."""
    cluster, ns = operator_bed.cluster, operator_bed.ops_namespace

    def admitted() -> list[dict[str, Any]] | None:
        selector = "app.kubernetes.io/name=orderflow-operator"
        items: list[dict[str, Any]] = cluster.get("pods", "-n", ns, "-l", selector)["items"]
        return items if len(items) == 2 else None

    pods = _until(admitted, what="2 operator pods admitted")
    security = pods[0]["spec"]["containers"][0]["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pods[0]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_two_replicas_one_active(operator_bed: OperatorBed, tmp_path: Path) -> None:
    """kopf peering: with a second operator process, exactly one runs the checks; when it
    stops, the standby takes over. (Last in the module: it may restart the module's
    operator.)"""
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    first = operator_bed.operator
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("takeover", replicas=1))
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_policy("takeover", {
        "targetRef": {"name": "takeover"},
        "dependencies": [{"name": "api", "type": "tcp",
                          "address": f"127.0.0.1:{first.liveness_port}", "intervalSeconds": 1,
                          "timeoutSeconds": 1}],
    }))  # fmt: skip
    _until(lambda: first.checks_done(ns, "takeover") > 0, what="the policy checked")
    second = OperatorProcess(
        kubeconfig=operator_bed.sa_kubeconfig,
        namespace=ns,
        log_path=tmp_path / "second.log",
        otlp_endpoint=operator_bed.receiver.endpoint,
    ).start()
    try:
        peering = f"kopfpeering/{PEERING}"
        _until(lambda: len(cluster.get(peering, "-n", ns).get("status") or {}) == 2,
               what="two peers in the KopfPeering")  # fmt: skip

        def checking(*processes: OperatorProcess) -> list[OperatorProcess]:
            """The processes whose check count grows over a few check intervals."""
            processes = processes or (first, second)
            before = [p.checks_done(ns, "takeover") for p in processes]
            time.sleep(3)
            after = [p.checks_done(ns, "takeover") for p in processes]
            return [p for p, b, a in zip(processes, before, after, strict=True) if a > b]

        # Right after the join both may run briefly; then exactly one, and it stays so.
        [active] = _until(lambda: len(c := checking()) == 1 and c, what="one active operator")
        assert checking() == [active], "the active operator changed without a reason"
        standby = second if active is first else first

        # The standby takes over: it checks, and handles the deletion (the finalizer).
        active.stop()
        _until(lambda: checking(standby), what="the standby taking over")
        cluster.kubectl("delete", "healthpolicy/takeover", "-n", ns, "--timeout=60s")
        template = cluster.get("deployment/takeover", "-n", ns)["spec"]["template"]
        assert "readinessGates" not in template["spec"]
    finally:
        if first.process is None:
            first.start()
        second.stop()
