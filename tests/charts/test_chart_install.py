"""Each values file installs with `helm install --wait` into a namespace enforcing the
restricted Pod Security profile; `helm upgrade` with changed values succeeds and keeps the
generated secrets; `helm uninstall` leaves only what the README documents (PVCs); a wrong
value fails `helm install` with a clear message. The same steps as `make up` on kind."""

from __future__ import annotations

import copy
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from orderflow_operator import pods
from orderflow_operator.crd.models import PolicySpec
from tests.charts.chart import CHART, VALUES_FILES, container_env, parse, values_args, values_id
from tests.testbed.wait import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.testbed.handle import K8sCluster

pytestmark = pytest.mark.k8s

RELEASE = "shop"
PREFIX = f"{RELEASE}-orderflow"
# What `helm uninstall` may leave (README, "Uninstalling"): data volumes, the Instrumentation
# hook, and what every namespace has anyway.
LEFT_BY_DESIGN = {"PersistentVolumeClaim", "Instrumentation"}
NAMESPACE_DEFAULTS = {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}


def _claims(cluster: K8sCluster, namespace: str, values: Path | None) -> list[str]:
    """Names of the PVCs the release will create (StatefulSet templates and plain PVCs)."""
    objects = parse(
        cluster.helm("template", RELEASE, str(CHART), "-n", namespace, *values_args(values)).stdout
    )
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
    for sts in (o for o in objects if o["kind"] == "StatefulSet"):
        for template in sts["spec"].get("volumeClaimTemplates", []):
            names += [
                f"{template['metadata']['name']}-{sts['metadata']['name']}-{i}"
                for i in range(sts["spec"].get("replicas", 1))
            ]
    return names


@pytest.fixture
def volumes(k8s_cluster: K8sCluster) -> Iterator[list[str]]:
    """The test bed has no storage provisioner: pre-bound PVs stand in for one."""
    created: list[str] = []
    yield created
    for name in created:
        k8s_cluster.kubectl("delete", "pv", name, "--wait=false", "--ignore-not-found")


def _provide_volumes(
    cluster: K8sCluster, namespace: str, claims: list[str], made: list[str]
) -> None:
    for claim in claims:
        name = f"{namespace}-{claim}"[:63]
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                # Never used: kwok runs no containers. A path no one else writes to.
                "hostPath": {"path": f"/var/lib/orderflow-test-pv/{name}"},
                "claimRef": {"namespace": namespace, "name": claim},
            },
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(pv))
        made.append(name)


def _ready(cluster: K8sCluster, namespace: str) -> dict[str, tuple[int, int]]:
    """kind/name -> (ready, wanted) of every Deployment and StatefulSet."""
    state = {}
    for kind in ("deployments", "statefulsets"):
        for item in cluster.get(kind, "-n", namespace)["items"]:
            wanted = item["spec"]["replicas"]
            state[f"{kind}/{item['metadata']['name']}"] = (
                item["status"].get("readyReplicas", 0),
                wanted,
            )
    return state


def _secret_data(cluster: K8sCluster, namespace: str) -> dict[str, dict[str, str]]:
    items = cluster.get("secrets", "-n", namespace, "-l", f"app.kubernetes.io/instance={RELEASE}")
    return {s["metadata"]["name"]: s["data"] for s in items["items"]}


def _healthpolicies(cluster: K8sCluster, namespace: str) -> set[str]:
    return {
        hp["metadata"]["name"] for hp in cluster.get("healthpolicies", "-n", namespace)["items"]
    }


def _leftovers(cluster: K8sCluster, namespace: str) -> set[tuple[str, str]]:
    kinds = cluster.kubectl(
        "api-resources", "--namespaced", "--verbs=list,delete", "-o", "name"
    ).stdout.split()
    kinds = [k for k in kinds if k not in {"events", "events.events.k8s.io"}]
    listing = cluster.get(",".join(kinds), "-n", namespace, "--ignore-not-found")
    return {(item["kind"], item["metadata"]["name"]) for item in listing.get("items", [])}


def _wait_for(predicate: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


@pytest.mark.parametrize("values", VALUES_FILES, ids=values_id)
def test_install_upgrade_uninstall(
    k8s_cluster: K8sCluster,
    k8s_restricted_namespace: str,
    instrumentation_crd: str,
    healthpolicy_crd: str,
    volumes: list[str],
    values: Path | None,
) -> None:
    # With the operator's CRD on (a fixture, so that every run installs the same objects
    # whatever ran before): the chart creates its HealthPolicies; uninstall removes them.
    ns = k8s_restricted_namespace
    _provide_volumes(k8s_cluster, ns, _claims(k8s_cluster, ns, values), volumes)
    base = [str(CHART), "-n", ns, *values_args(values), "--wait", "--timeout=240s"]

    # Install: admitted under restricted PSS, everything Ready, the migration hook succeeded.
    installed = k8s_cluster.helm("install", RELEASE, *base)
    assert f"kubectl -n {ns} port-forward svc/{PREFIX}-api 8080:8080" in installed.stdout

    def all_ready() -> dict[str, tuple[int, int]] | None:
        ready = _ready(k8s_cluster, ns)
        return ready if ready and all(r == w for r, w in ready.values()) else None

    # `--wait` judged the ReplicaSets; the workloads' own totals follow a moment later.
    wait_until(all_ready, timeout=30, what="every Deployment and StatefulSet ready")
    assert not k8s_cluster.get("jobs", "-n", ns)["items"], "the migration hook Job is cleaned up"
    pods = k8s_cluster.get("pods", "-n", ns, "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]
    for pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, pod["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, pod["metadata"]["name"]
    otel = values is not None and values.stem == "otel-operator-values"
    if otel:
        assert k8s_cluster.get("instrumentations", "-n", ns)["items"]
        inject = "instrumentation.opentelemetry.io/inject-python"
        annotated = [
            p["metadata"]["labels"]["app.kubernetes.io/component"]
            for p in pods
            if inject in p["metadata"].get("annotations", {})
        ]
        assert sorted(set(annotated)) == ["api", "worker"]
    assert _healthpolicies(k8s_cluster, ns) == {f"{PREFIX}-api", f"{PREFIX}-worker"}
    secrets = _secret_data(k8s_cluster, ns)

    # Upgrade with changed values: a fixed API replica count and a chaos setting.
    k8s_cluster.helm(
        "upgrade", RELEASE, *base,
        "--set", "api.autoscaling.enabled=false", "--set", "api.replicas=2",
        "--set", "app.chaos.latencyMs=25",
    )  # fmt: skip

    # `--wait` judged the new ReplicaSet; the Deployment's totals may still count a
    # terminating pod of the old one for a moment.
    def api_settled() -> dict[str, Any] | None:
        api = k8s_cluster.get(f"deployment/{PREFIX}-api", "-n", ns)
        return api if api["status"].get("readyReplicas") == 2 else None

    api = wait_until(api_settled, timeout=30, what="the API Deployment's readyReplicas == 2")
    assert api is not None  # wait_until returns only a truthy value
    assert container_env(api)["CHAOS_LATENCY_MS"]["value"] == "25"
    assert k8s_cluster.kubectl("get", f"hpa/{PREFIX}-api", "-n", ns, check=False).returncode
    assert _secret_data(k8s_cluster, ns) == secrets, "generated secrets must survive upgrades"
    history = json.loads(k8s_cluster.helm("history", RELEASE, "-n", ns, "-o", "json").stdout)
    assert [h["status"] for h in history] == ["superseded", "deployed"]

    # Uninstall: nothing left but what is documented.
    k8s_cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", "--timeout=120s")

    # Objects the chart marks `helm.sh/resource-policy: keep` (the PostgreSQL password Secret,
    # which the kept data volume was initialised with) stay too: README, "Uninstalling".
    kept = {
        (o["kind"], o["metadata"]["name"])
        for o in parse(
            k8s_cluster.helm("template", RELEASE, str(CHART), "-n", ns, *values_args(values)).stdout
        )
        if (o["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
        and o["kind"] != "PersistentVolumeClaim"
    }
    assert set(secrets) >= {name for _, name in kept}, "kept objects were installed"

    def only_documented_left() -> bool:
        rest = _leftovers(k8s_cluster, ns) - NAMESPACE_DEFAULTS - kept
        return all(kind in LEFT_BY_DESIGN for kind, _ in rest)

    _wait_for(only_documented_left, "uninstall to remove everything but PVCs")
    assert kept <= _leftovers(k8s_cluster, ns), "kept objects survive the uninstall"
    rest = _leftovers(k8s_cluster, ns) - NAMESPACE_DEFAULTS - kept
    claims = sorted(name for kind, name in rest if kind == "PersistentVolumeClaim")
    assert claims == sorted(_claims(k8s_cluster, ns, values))
    assert {name for kind, name in rest if kind != "PersistentVolumeClaim"} == (
        {f"{PREFIX}-instrumentation"} if otel else set()
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("api.replicaz=2", "at '/api': additional properties 'replicaz' not allowed"),
        ("redis.enabled=nope", "at '/redis/enabled': got string, want boolean"),
    ],
)
def test_wrong_value_fails_install_clearly(
    k8s_cluster: K8sCluster, k8s_restricted_namespace: str, setting: str, message: str
) -> None:
    ns = k8s_restricted_namespace
    proc = k8s_cluster.helm("install", RELEASE, str(CHART), "-n", ns, "--set", setting, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert json.loads(k8s_cluster.helm("list", "-a", "-n", ns, "-o", "json").stdout) == []
    assert _leftovers(k8s_cluster, ns) <= NAMESPACE_DEFAULTS


def test_install_creates_the_healthpolicies(
    k8s_cluster: K8sCluster,
    k8s_restricted_namespace: str,
    healthpolicy_crd: str,
    volumes: list[str],
) -> None:
    """HealthPolicies end to end, without running the operator (tests/operator does): with the
    operator chart's CRDs in the cluster, `helm install` of the app chart with its default values
    into a restricted namespace creates a HealthPolicy for the API and the worker, accepted by
    the API server (schema, CEL rules, defaults), and the NetworkPolicies admitting the operator."""
    ns = k8s_restricted_namespace
    _provide_volumes(k8s_cluster, ns, _claims(k8s_cluster, ns, None), volumes)
    installed = k8s_cluster.helm(
        "install", RELEASE, str(CHART), "-n", ns, "--wait", "--timeout=240s"
    )
    assert f"kubectl -n {ns} get healthpolicies" in installed.stdout, installed.stdout
    assert "No HealthPolicy was rendered" not in installed.stdout

    items = {
        hp["metadata"]["name"]: hp for hp in k8s_cluster.get("healthpolicies", "-n", ns)["items"]
    }
    assert set(items) == {f"{PREFIX}-api", f"{PREFIX}-worker"}
    deployments = {d["metadata"]["name"] for d in k8s_cluster.get("deployments", "-n", ns)["items"]}
    for name, hp in items.items():
        spec = hp["spec"]
        assert spec["targetRef"] == {"kind": "Deployment", "name": name}
        assert name in deployments
        assert hp["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        deps = {d["name"]: d for d in spec["dependencies"]}
        # Named with their namespace: the operator resolves them from its own.
        assert deps["postgres"]["address"] == f"{PREFIX}-postgresql.{ns}.svc:5432"
        assert deps["redis"]["address"] == f"{PREFIX}-redis.{ns}.svc:6379"
        assert deps["otel-collector"]["address"] == f"http://{PREFIX}-collector.{ns}.svc:4318"
        # critical is the CRD's default (true) except where the chart sets it: the collector,
        # and Redis for the API (which serves without it).
        assert {n: d["critical"] for n, d in deps.items()} == {
            "postgres": True, "redis": name.endswith("-worker"), "otel-collector": False,
        }  # fmt: skip
    api_probes = items[f"{PREFIX}-api"]["spec"]["probes"]
    assert api_probes["readiness"]["path"] == "/readyz"
    assert api_probes["liveness"]["scheme"] == "HTTP"  # a CRD default: the server applied it

    flows = {
        np["metadata"]["name"]: np["spec"]
        for np in k8s_cluster.get("networkpolicies", "-n", ns)["items"]
        if np["metadata"]["name"].endswith("-from-operator")
    }
    assert set(flows) == {
        f"{PREFIX}-{c}-from-operator" for c in ("postgresql", "redis", "collector")
    }
    for spec in flows.values():
        peer = spec["ingress"][0]["from"][0]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": ns}

    # What the operator writes into each target (its own pure functions, applied with kubectl),
    # then `helm upgrade` with the same values: neither undoes the other (no second rollout).
    configured = {}
    for name, hp in items.items():
        before = k8s_cluster.get(f"deployment/{name}", "-n", ns)
        template, original = pods.apply(before, PolicySpec.from_dict(hp["spec"]))
        wanted = {pods.OWNER_ANNOTATION: name, pods.ORIGINAL_ANNOTATION: original}
        ops = pods.workload_patch(before, template, wanted)
        k8s_cluster.kubectl(
            "patch", f"deployment/{name}", "-n", ns, "--type=json", "-p", json.dumps(ops)
        )
        after = k8s_cluster.get(f"deployment/{name}", "-n", ns)
        # The API's declared probes are the chart's: the operator only added the gate.
        expected = copy.deepcopy(before["spec"]["template"])
        expected["spec"]["readinessGates"] = [{"conditionType": pods.GATE}]
        assert after["spec"]["template"] == expected, name
        configured[name] = after
    # No --wait: on the test bed nothing sets the gate condition (the operator is not running).
    k8s_cluster.helm("upgrade", RELEASE, str(CHART), "-n", ns, "--timeout=240s")
    for name, after in configured.items():
        upgraded = k8s_cluster.get(f"deployment/{name}", "-n", ns)
        assert upgraded["spec"]["template"] == after["spec"]["template"], name
        assert upgraded["metadata"]["generation"] == after["metadata"]["generation"], name
        assert pods.owner(upgraded) == name

    k8s_cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", "--timeout=120s")
    _wait_for(lambda: not _healthpolicies(k8s_cluster, ns), "uninstall to delete the policies")
