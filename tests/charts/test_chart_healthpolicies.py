"""HealthPolicies in the app chart: one for the API and the worker, enabled by default,
rendered only where the operator's CRD is served, plus the NetworkPolicies that let the
operator's checks reach the bundled dependencies. Rendering here; the install on the test bed
is in test_chart_install.py."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.charts.chart import (
    CHART,
    HEALTH_POLICY_API,
    RELEASE,
    VALUES_FILES,
    WITH_HEALTH_POLICY,
    container_env,
    find,
    helm,
    render,
    values_id,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.testbed.handle import K8sCluster

PREFIX = f"{RELEASE}-orderflow"
# helm template without -n renders into "default".
NS = "default"
EXTERNAL = CHART / "ci" / "external-values.yaml"
MINIMAL = CHART / "ci" / "minimal-values.yaml"
PROBE_TIMING = ("periodSeconds", "timeoutSeconds", "failureThreshold")


def _sets(*settings: str) -> list[str]:
    return [arg for s in settings for arg in ("--set", s)]


def policies(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """HealthPolicy specs by name without the release prefix (api, worker)."""
    return {
        o["metadata"]["name"].removeprefix(f"{PREFIX}-"): o["spec"]
        for o in objects
        if o["kind"] == "HealthPolicy"
    }


def operator_policies(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The operator's NetworkPolicies by the component they admit it to."""
    return {
        o["metadata"]["name"].removeprefix(f"{PREFIX}-").removesuffix("-from-operator"): o["spec"]
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-from-operator")
    }


def dependencies(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in spec["dependencies"]}


@pytest.mark.parametrize("values", VALUES_FILES, ids=values_id)
def test_nothing_is_rendered_without_the_operators_api(values: Path | None) -> None:
    """A cluster without the CRD: the chart installs as before, with no policy at all."""
    objects = render(values)
    assert policies(objects) == {}
    assert operator_policies(objects) == {}
    # The guard is the API, not the group/version alone (another kind of it is not enough).
    grouped = render(values, "--api-versions", "orderflow.dev/v1alpha1")
    assert policies(grouped) == {}
    # With the API: both policies.
    assert set(policies(render(values, *WITH_HEALTH_POLICY))) == {"api", "worker"}


def test_policies_for_the_default_values() -> None:
    objects = render(None, *WITH_HEALTH_POLICY)
    found = [o for o in objects if o["kind"] == "HealthPolicy"]
    assert {o["apiVersion"] for o in found} == {HEALTH_POLICY_API.rsplit("/", 1)[0]}
    for obj in found:
        assert obj["metadata"]["labels"]["app.kubernetes.io/component"] == "healthpolicy"
    specs = policies(objects)
    assert specs["api"]["targetRef"] == {"kind": "Deployment", "name": f"{PREFIX}-api"}
    assert specs["worker"]["targetRef"] == {"kind": "Deployment", "name": f"{PREFIX}-worker"}
    # Each target exists and is a Deployment of this release.
    for component in ("api", "worker"):
        find(objects, "Deployment", component)
    assert "probes" not in specs["worker"]  # the worker keeps its own probes
    expected = [
        {"name": "postgres", "type": "postgres", "address": f"{PREFIX}-postgresql.{NS}.svc:5432",
         "intervalSeconds": 10, "timeoutSeconds": 3},
        {"name": "redis", "type": "redis", "address": f"{PREFIX}-redis.{NS}.svc:6379",
         "intervalSeconds": 10, "timeoutSeconds": 3},
        {"name": "otel-collector", "type": "otlp",
         "address": f"http://{PREFIX}-collector.{NS}.svc:4318",
         "critical": False, "intervalSeconds": 10, "timeoutSeconds": 3},
    ]  # fmt: skip
    assert specs["worker"]["dependencies"] == expected
    # The API serves without Redis (database reads, outbox): reported, never gating it.
    api_expected = [dict(d, critical=False) if d["name"] == "redis" else d for d in expected]
    assert specs["api"]["dependencies"] == api_expected
    # The collector the app exports to (over OTLP/gRPC), probed on its OTLP/HTTP port and
    # qualified with the namespace: the operator resolves it from its own namespace.
    env = container_env(find(objects, "Deployment", "api"))
    app_endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"]
    assert expected[2]["address"] == app_endpoint.replace(":4317", f".{NS}.svc:4318")


def test_api_probes_are_the_deployments_own() -> None:
    """The operator writes the policy's probes into the pod template: they must be exactly the
    chart's, or every `helm upgrade` and the operator would undo each other (two rollouts)."""
    objects = render(None, *WITH_HEALTH_POLICY, *_sets("api.port=9000"))
    probes = policies(objects)["api"]["probes"]
    deployment = find(objects, "Deployment", "api")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert probes["container"] == containers[0]["name"] == "api"
    for kind in ("startup", "liveness", "readiness"):
        declared = probes[kind]
        own = containers[0][f"{kind}Probe"]
        assert own["httpGet"] == {"path": declared["path"], "port": declared["port"]}, kind
        assert declared["port"] == 9000
        for key in PROBE_TIMING:
            assert own[key] == declared[key], f"{kind}.{key}"
        assert set(declared) == {"path", "port", *PROBE_TIMING}
    assert probes["liveness"]["path"] == "/healthz" and probes["readiness"]["path"] == "/readyz"


def test_external_postgresql_and_redis_from_the_apps_secret() -> None:
    objects = render(EXTERNAL, *WITH_HEALTH_POLICY)
    for component in ("api", "worker"):
        deps = dependencies(policies(objects)[component])
        assert deps["postgres"]["address"] == "orderflow-db.example.test:5432"
        # The Redis URL may carry a password: the same Secret key the app reads.
        assert "address" not in deps["redis"]
        assert deps["redis"]["secretRef"] == {"name": f"{PREFIX}-app", "key": "REDIS_URL"}
        assert deps["otel-collector"]["address"] == "http://otel-collector.observability.svc:4318"
    app_ref = container_env(find(objects, "Deployment", "api"))["REDIS_URL"]["valueFrom"]
    assert app_ref["secretKeyRef"] == deps["redis"]["secretRef"]
    secret = find(objects, "Secret", "app")
    assert "REDIS_URL" in secret["data"]
    # Nothing bundled: no NetworkPolicy for the operator.
    assert operator_policies(objects) == {}


def test_external_redis_from_an_existing_secret() -> None:
    settings = _sets(
        "postgresql.enabled=false", "externalDatabase.host=db.example.test",
        "externalDatabase.port=6543", "externalDatabase.existingSecret=db-creds",
        "redis.enabled=false", "externalRedis.existingSecret=redis-creds",
        "externalRedis.existingSecretKey=dsn",
    )  # fmt: skip
    objects = render(None, *WITH_HEALTH_POLICY, *settings)
    deps = dependencies(policies(objects)["worker"])
    assert deps["postgres"]["address"] == "db.example.test:6543"
    assert deps["redis"]["secretRef"] == {"name": "redis-creds", "key": "dsn"}
    app_ref = container_env(find(objects, "Deployment", "worker"))["REDIS_URL"]["valueFrom"]
    assert app_ref["secretKeyRef"] == deps["redis"]["secretRef"]
    # Only the bundled collector is left to admit the operator to.
    assert set(operator_policies(objects)) == {"collector"}


def test_minimal_values_check_no_collector() -> None:
    """telemetry.enabled=false: the app exports nothing, so the collector is no dependency."""
    objects = render(MINIMAL, *WITH_HEALTH_POLICY)
    for spec in policies(objects).values():
        assert set(dependencies(spec)) == {"postgres", "redis"}
    assert set(operator_policies(objects)) == {"postgresql", "redis"}
    # Telemetry off with the bundled collector kept: still no collector dependency or flow.
    objects = render(None, *WITH_HEALTH_POLICY, *_sets("telemetry.enabled=false"))
    assert set(dependencies(policies(objects)["api"])) == {"postgres", "redis"}
    assert set(operator_policies(objects)) == {"postgresql", "redis"}


def test_values_shape_the_policies_and_the_operator_flows() -> None:
    settings = _sets(
        "healthPolicy.intervalSeconds=30", "healthPolicy.timeoutSeconds=5",
        "healthPolicy.otlpCritical=true", "healthPolicy.operator.namespace=orderflow-system",
        "healthPolicy.operator.podLabels.team=platform",
    )  # fmt: skip
    objects = render(None, *WITH_HEALTH_POLICY, *settings)
    for spec in policies(objects).values():
        for dep in spec["dependencies"]:
            assert (dep["intervalSeconds"], dep["timeoutSeconds"]) == (30, 5), dep["name"]
        assert dependencies(spec)["otel-collector"]["critical"] is True
    for component, spec in operator_policies(objects).items():
        peer = spec["ingress"][0]["from"][0]
        assert peer["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "orderflow-system"
        }, component
        assert peer["podSelector"]["matchLabels"] == {
            "app.kubernetes.io/name": "orderflow-operator", "team": "platform",
        }  # fmt: skip


def test_disabled_renders_nothing_even_with_the_api() -> None:
    objects = render(None, *WITH_HEALTH_POLICY, *_sets("healthPolicy.enabled=false"))
    assert policies(objects) == {} and operator_policies(objects) == {}


def test_network_policies_off_means_no_operator_flows() -> None:
    objects = render(None, *WITH_HEALTH_POLICY, *_sets("networkPolicy.enabled=false"))
    assert set(policies(objects)) == {"api", "worker"}
    assert not [o for o in objects if o["kind"] == "NetworkPolicy"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("healthPolicy.intervalSeconds=0", "at '/healthPolicy/intervalSeconds'"),
        ("healthPolicy.intervalSeconds=3601", "at '/healthPolicy/intervalSeconds'"),
        ("healthPolicy.timeoutSeconds=61", "at '/healthPolicy/timeoutSeconds'"),
        ("healthPolicy.intervalSecs=5", "additional properties 'intervalSecs' not allowed"),
        ("healthPolicy.operator.namespaces=x", "additional properties 'namespaces' not allowed"),
        ("healthPolicy.otlpCritical=maybe", "got string, want boolean"),
    ],
)
def test_wrong_health_policy_values_fail_clearly(setting: str, message: str) -> None:
    proc = helm("template", RELEASE, str(CHART), "--set", setting, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr
    assert message in proc.stderr, proc.stderr


def test_timeout_longer_than_interval_fails_clearly() -> None:
    """The CRD would reject it at apply time (a CEL rule); the chart says so before."""
    settings = _sets("healthPolicy.intervalSeconds=5", "healthPolicy.timeoutSeconds=10")
    proc = helm("template", RELEASE, str(CHART), *settings, check=False)
    assert proc.returncode != 0
    assert "healthPolicy.timeoutSeconds (10) must not exceed healthPolicy.intervalSeconds (5)" in (
        proc.stderr
    ), proc.stderr


# --- Against the real CRD on the test bed ------------------------------------------------------


def _server_dry_run(cluster: K8sCluster, namespace: str, objects: list[dict[str, Any]]) -> Any:
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-o", "yaml", "-f", "-",
        input=yaml.safe_dump_all(objects), check=False,
    )  # fmt: skip


@pytest.mark.k8s
@pytest.mark.parametrize("values", VALUES_FILES, ids=values_id)
def test_rendered_policies_pass_the_api_servers_validation(
    k8s_cluster: K8sCluster, healthpolicy_crd: str, k8s_namespace: str, values: Path | None
) -> None:
    """`kubectl apply --dry-run=server`: the CRD's structural schema and CEL rules accept what
    the chart renders (kubeconform covers the schema only)."""
    objects = [o for o in render(values, *WITH_HEALTH_POLICY) if o["kind"] == "HealthPolicy"]
    assert len(objects) == 2
    proc = _server_dry_run(k8s_cluster, k8s_namespace, objects)
    assert proc.returncode == 0, proc.stderr
    accepted = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    items = accepted[0].get("items", accepted) if len(accepted) == 1 else accepted
    assert sorted(o["metadata"]["name"] for o in items) == [f"{PREFIX}-api", f"{PREFIX}-worker"]
    for obj in items:
        # The server's defaults: dependencies are critical unless the chart says otherwise.
        api = obj["metadata"]["name"].endswith("-api")
        for dep in obj["spec"]["dependencies"]:
            optional = dep["type"] == "otlp" or (api and dep["type"] == "redis")
            assert dep["critical"] is not optional, dep


@pytest.mark.k8s
def test_server_side_validation_would_catch_a_broken_policy(
    k8s_cluster: K8sCluster, healthpolicy_crd: str, k8s_namespace: str
) -> None:
    """The dry run above is a real check: a policy the CRD forbids is refused."""
    policy = copy.deepcopy(find(render(None, *WITH_HEALTH_POLICY), "HealthPolicy", "api"))
    policy["spec"]["dependencies"][0]["address"] = f"{PREFIX}-postgresql:70000"
    proc = _server_dry_run(k8s_cluster, k8s_namespace, [policy])
    assert proc.returncode != 0
    assert "address must be host:port with a port from 1 to 65535" in proc.stderr, proc.stderr
