"""The chart without a cluster — lint, render, hygiene of every workload, the values
schema, the synced copy of otel/, NOTES, the memory budget."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from k8s.testbed.tools import ensure

from tests.charts.chart import (
    CHART,
    RELEASE,
    REPO,
    VALUES_FILES,
    WITH_HEALTH_POLICY,
    container_env,
    find,
    helm,
    hygiene_problems,
    parse,
    pod_labels,
    render,
    render_text,
    steady_memory_requests_mib,
    values_args,
    values_id,
    workloads,
)

# The whole default install (every component bundled) must stay small.
MEMORY_BUDGET_MIB = 1024


@pytest.fixture(scope="module", params=VALUES_FILES, ids=values_id)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Everything the chart renders, including the HealthPolicies and their NetworkPolicies
    (as in a cluster with the operator's CRD); without them the workloads are the same."""
    values: Path | None = request.param
    return render(values, *WITH_HEALTH_POLICY)


@pytest.mark.parametrize("values", VALUES_FILES, ids=values_id)
def test_helm_lint_strict(values: Path | None) -> None:
    proc = helm("lint", "--strict", str(CHART), *values_args(values), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


def test_ci_values_cover_the_required_scenarios() -> None:
    names = {values_id(v) for v in VALUES_FILES}
    assert {
        "default",
        "all-bundled-values",
        "external-values",
        "otel-operator-values",
        "minimal-values",
    } <= names


def test_every_workload_meets_production_hygiene(rendered: list[dict[str, Any]]) -> None:
    assert workloads(rendered), "nothing rendered"
    assert hygiene_problems(rendered) == []


def test_hygiene_check_rejects_a_weaker_workload() -> None:
    """The check itself can fail: a workload missing any piece is reported."""
    objects = render(None)
    weak = copy.deepcopy(find(objects, "Deployment", "api"))
    weak["metadata"]["name"] = "newcomer"
    container = weak["spec"]["template"]["spec"]["containers"][0]
    del container["readinessProbe"]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    container["image"] = "example/newcomer:latest"
    del container["resources"]["limits"]
    weak["spec"]["template"]["spec"]["automountServiceAccountToken"] = True
    del weak["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    problems = "\n".join(hygiene_problems([*objects, weak]))
    for fragment in (
        "newcomer container api: readinessProbe missing",
        "newcomer container api: allowPrivilegeEscalation must be false",
        "newcomer container api: image 'example/newcomer:latest'",
        "newcomer container api: resources.limits.memory missing",
        "Deployment/newcomer: automountServiceAccountToken must be false",
        "Deployment/newcomer: pod template label app.kubernetes.io/component missing",
    ):
        assert fragment in problems


def test_every_object_carries_the_standard_labels(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        labels = obj["metadata"].get("labels", {})
        ref = f"{obj['kind']}/{obj['metadata']['name']}"
        assert labels.get("app.kubernetes.io/instance") == RELEASE, ref
        assert labels.get("app.kubernetes.io/name") == "orderflow", ref
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", ref
        assert labels.get("app.kubernetes.io/part-of") == "orderflow", ref


def test_services_select_a_workload(rendered: list[dict[str, Any]]) -> None:
    pods = [pod_labels(w) for w in workloads(rendered)]
    for svc in (o for o in rendered if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pods), svc["metadata"]["name"]


def test_network_policies_deny_by_default_and_cover_every_pod(
    rendered: list[dict[str, Any]],
) -> None:
    policies = [o for o in rendered if o["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert len(deny) == 1 and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    for workload in workloads(rendered):
        labels = pod_labels(workload)
        selected = [
            p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        assert deny[0] in selected, workload["metadata"]["name"]
        # ... and a policy of its own beyond deny-all and DNS (its exact flows).
        own = [
            p
            for p in selected
            if "app.kubernetes.io/component" in p["spec"]["podSelector"]["matchLabels"]
        ]
        assert own, f"no NetworkPolicy for {workload['metadata']['name']}"


def test_default_flows_are_exactly_the_architecture() -> None:
    objects = render(None, *WITH_HEALTH_POLICY)
    policies = {
        o["metadata"]["name"].removeprefix(f"{RELEASE}-orderflow-"): o["spec"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
    }
    app_policies = {
        "default-deny", "dns", "api", "worker", "postgresql", "redis", "collector", "lgtm",
    }  # fmt: skip
    # The operator's dependency checks (HealthPolicies): its pods -> what it checks, nothing else.
    operator_flows = {"postgresql": 5432, "redis": 6379, "collector": 4318}
    assert set(policies) == app_policies | {f"{c}-from-operator" for c in operator_flows}
    for component, port in operator_flows.items():
        spec = policies[f"{component}-from-operator"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        assert spec["policyTypes"] == ["Ingress"] and "egress" not in spec
        assert spec["ingress"] == [
            {
                "ports": [{"port": port, "protocol": "TCP"}],
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "default"}
                        },
                        "podSelector": {
                            "matchLabels": {"app.kubernetes.io/name": "orderflow-operator"}
                        },
                    }
                ],
            }
        ], component
    # Without the operator's API (no HealthPolicy rendered) no operator flow either.
    without = {
        o["metadata"]["name"].removeprefix(f"{RELEASE}-orderflow-")
        for o in render(None)
        if o["kind"] == "NetworkPolicy"
    }
    assert without == app_policies

    def peers(rules: list[dict[str, Any]], key: str) -> set[tuple[str, int]]:
        found = set()
        for rule in rules:
            for peer in rule.get(key, [{}]):
                component = (
                    (peer.get("podSelector") or {})
                    .get("matchLabels", {})
                    .get("app.kubernetes.io/component", "*")
                )
                for port in rule.get("ports", []):
                    found.add((component, port["port"]))
        return found

    assert peers(policies["postgresql"]["ingress"], "from") == {
        ("api", 5432), ("worker", 5432),
    }  # fmt: skip
    assert peers(policies["redis"]["ingress"], "from") == {
        ("api", 6379), ("worker", 6379),
    }  # fmt: skip
    worker_flows = {("postgresql", 5432), ("redis", 6379), ("collector", 4317), ("collector", 4318)}
    worker_flows.add(("lgtm", 4040))  # profiles to Pyroscope (profiling follows lgtm.enabled)
    assert peers(policies["worker"]["egress"], "to") == worker_flows  # no email provider
    for args, email_flow in (
        (["--set", "app.email.builtinSink=true"], ("api", 8080)),
        (["--set", "app.email.url=https://mail.example/send"], ("*", 443)),
    ):
        worker = find(render(None, *args), "NetworkPolicy", "worker")
        assert peers(worker["spec"]["egress"], "to") == worker_flows | {email_flow}, args
    assert "ingress" not in policies["worker"]  # nobody scrapes it unless configured
    assert peers(policies["api"]["ingress"], "from") == {("*", 8080)}
    assert peers(policies["collector"]["ingress"], "from") == {
        ("api", 4317), ("api", 4318), ("worker", 4317), ("worker", 4318),
    }  # fmt: skip
    # and the operator's metrics, scraped by the collector (the operator's pods: no component)
    assert peers(policies["collector"]["egress"], "to") == {("lgtm", 4317), ("*", 9090)}
    assert peers(policies["lgtm"]["ingress"], "from") == {
        ("collector", 4317), ("api", 4040), ("worker", 4040), ("*", 3000),
    }  # fmt: skip
    assert "egress" not in policies["lgtm"]
    assert "egress" not in policies["postgresql"] and "egress" not in policies["redis"]


def test_api_and_worker_have_hpa_and_pdb_by_default() -> None:
    objects = render(None)
    for component in ("api", "worker"):
        name = f"{RELEASE}-orderflow-{component}"
        kinds = {o["kind"] for o in objects if o["metadata"]["name"] == name}
        assert {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds


def test_default_memory_requests_stay_small() -> None:
    totals = steady_memory_requests_mib(render(None))
    total = sum(totals.values())
    print(f"default memory requests: {total:.0f}Mi {totals}")  # the report's number (-s)
    assert len(totals) == 6, totals  # api, worker, postgresql, redis, collector, lgtm
    assert total <= MEMORY_BUDGET_MIB, totals


def test_migrations_run_in_the_api_pods_not_in_a_hook() -> None:
    """A hook Job cannot be used: `post-install` runs only after `--wait` saw the API Ready,
    which needs the schema (a first install could never finish); `pre-install` would wait
    for a database the release has not created yet."""
    objects = render(None)
    assert not [o for o in objects if o["kind"] == "Job"]
    assert not [o for o in objects if "helm.sh/hook" in o["metadata"].get("annotations", {})]
    api = find(objects, "Deployment", "api")["spec"]["template"]["spec"]
    (init,) = api["initContainers"]
    assert init["name"] == "migrate"
    assert init["args"] == ["migrate", "up", "--wait-seconds", "300", "--seed"]
    assert init["image"] == api["containers"][0]["image"]
    env = {e["name"]: e for e in init["env"]}
    assert env["DATABASE_URL"] == container_env(find(objects, "Deployment", "api"))["DATABASE_URL"]
    # The worker has no init container: it waits for the schema itself.
    worker = find(objects, "Deployment", "worker")["spec"]["template"]["spec"]
    assert "initContainers" not in worker
    minimal = find(render(CHART / "ci" / "minimal-values.yaml"), "Deployment", "api")
    assert minimal["spec"]["template"]["spec"]["initContainers"][0]["args"] == [
        "migrate", "up", "--wait-seconds", "300",
    ]  # fmt: skip
    off = find(render(None, "--set", "migrations.enabled=false"), "Deployment", "api")
    assert "initContainers" not in off["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("args", "enabled", "url"),
    [
        (["-f", str(CHART / "values-dev.yaml")], "true", "http://{prefix}-api:8080/_sink/email"),
        (
            ["--set", "app.email.url=https://mail.example/send"],
            "false",
            "https://mail.example/send",
        ),
    ],
)
def test_email_goes_to_the_configured_provider(args: list[str], enabled: str, url: str) -> None:
    env = container_env(find(render(None, *args), "Deployment", "worker"))
    assert env["EMAIL_SINK_ENABLED"]["value"] == enabled
    assert env["EMAIL_SINK_URL"]["value"] == url.format(prefix=f"{RELEASE}-orderflow")


def test_email_provider_url_from_a_secret() -> None:
    args = ["--set", "app.email.existingSecret=mail", "--set", "app.email.url=ignored"]
    env = container_env(find(render(None, *args), "Deployment", "worker"))
    assert env["EMAIL_SINK_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "mail", "key": "EMAIL_SINK_URL",
    }  # fmt: skip


def test_app_environment_points_at_the_bundled_services() -> None:
    objects = render(None)
    api = find(objects, "Deployment", "api")
    env = container_env(api)
    prefix = f"{RELEASE}-orderflow"
    assert env["DATABASE_URL"]["value"] == (
        f"postgresql://orderflow:$(DATABASE_PASSWORD)@{prefix}-postgresql:5432/orderflow"
    )
    assert env["REDIS_URL"]["value"] == f"redis://:$(REDIS_PASSWORD)@{prefix}-redis:6379/0"
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"{prefix}-redis"
    # No email provider in the shipped values: nothing sent, the public sink stays off.
    assert env["EMAIL_SINK_ENABLED"]["value"] == "false"
    assert "EMAIL_SINK_URL" not in env
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == f"http://{prefix}-collector:4317"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "grpc"
    assert env["OTEL_SERVICE_NAME"]["value"] == "orderflow-api"
    assert env["JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == f"{prefix}-app"
    # $(DATABASE_PASSWORD) expands only if defined earlier in the list.
    names = list(env)
    assert names.index("DATABASE_PASSWORD") < names.index("DATABASE_URL")
    cenv = {
        k: e.get("value")
        for k, e in container_env(find(objects, "Deployment", "collector")).items()
    }
    # otel/collector.yaml exports OTLP/gRPC to host:port.
    assert cenv["LGTM_OTLP_ENDPOINT"] == f"{prefix}-lgtm:4317"
    assert cenv["LGTM_OTLP_INSECURE"] == "true"
    assert cenv["GOMEMLIMIT"] == "460MiB"  # 90% of the 512Mi limit


def test_external_dependencies_replace_the_bundled_ones() -> None:
    objects = render(CHART / "ci" / "external-values.yaml")
    components = {
        w["metadata"]["labels"]["app.kubernetes.io/component"] for w in workloads(objects)
    }
    assert components == {"api", "worker"}
    env = container_env(find(objects, "Deployment", "api"))
    assert "@orderflow-db.example.test:5432/orderflow" in env["DATABASE_URL"]["value"]
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["key"] == "REDIS_URL"
    assert (
        env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"]
        == "http://otel-collector.observability.svc:4318"
    )
    egress_ports = {
        port["port"]
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-api")
        for rule in o["spec"]["egress"]
        for port in rule["ports"]
    }
    assert egress_ports == {5432, 6380, 4318}


def test_operator_injection_annotates_app_pods_and_creates_instrumentation_first() -> None:
    objects = render(CHART / "ci" / "otel-operator-values.yaml")
    instrumentation = next(o for o in objects if o["kind"] == "Instrumentation")
    name = instrumentation["metadata"]["name"]
    assert "pre-install" in instrumentation["metadata"]["annotations"]["helm.sh/hook"]
    assert instrumentation["spec"]["exporter"]["endpoint"].endswith(":4318")
    for workload in workloads(objects):
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        component = workload["metadata"]["labels"]["app.kubernetes.io/component"]
        injected = annotations.get("instrumentation.opentelemetry.io/inject-python")
        assert injected == (name if component in {"api", "worker"} else None), component


def test_generated_secrets_use_lookup() -> None:
    """Generated secrets must survive upgrades: they are taken from the live object."""
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret"' in helpers
    for template in ("app-secret.yaml", "postgresql.yaml"):
        assert "orderflow.keptSecret" in (CHART / "templates" / template).read_text()


def _walk_objects(node: Any, path: str = "#") -> list[str]:
    """Paths of schema nodes describing objects without `additionalProperties: false` (or a
    typed map)."""
    loose: list[str] = []
    if isinstance(node, dict):
        is_object = node.get("type") == "object" or "properties" in node
        extra = node.get("additionalProperties", True)
        if is_object and (extra is True or ("properties" in node and extra is not False)):
            loose.append(path)
        for key, child in node.items():
            loose += _walk_objects(child, f"{path}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            loose += _walk_objects(child, f"{path}/{i}")
    return loose


def test_values_schema_closes_every_object() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _walk_objects(schema) == []
    # The check sees a loose object when there is one.
    assert _walk_objects({"type": "object", "properties": {"a": {"type": "object"}}}) == [
        "#",
        "#/properties/a",
    ]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("api.replicaz=2", "additional properties 'replicaz' not allowed"),
        ("postgresql.auth.usename=x", "additional properties 'usename' not allowed"),
        ("worker.threads=many", "got string, want integer"),
        ("api.image.tag=latest", "/api/image/tag"),
        ("networkPolicy.enable=false", "additional properties 'enable' not allowed"),
    ],
)
def test_wrong_values_fail_with_a_clear_message(setting: str, message: str) -> None:
    proc = helm("template", RELEASE, str(CHART), "--set", setting, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert message in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["postgresql.enabled=false"], "needs externalDatabase.host"),
        (["redis.enabled=false"], "needs externalRedis.url"),
        (["collector.enabled=false"], "needs externalCollector.endpoint"),
        (["lgtm.enabled=false"], "needs externalLgtm.otlpEndpoint"),
    ],
)
def test_incomplete_external_settings_fail_clearly(settings: list[str], message: str) -> None:
    args = [a for s in settings for a in ("--set", s)]
    proc = helm("template", RELEASE, str(CHART), *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_chart_copy_of_the_collector_config_is_in_sync() -> None:
    """Helm reads nothing outside the chart: `make chart-sync` copies the Collector
    configuration in; a stale copy fails here. (The dashboards and rules are written into the
    chart by their generator and checked in tests/dashboards/test_static.py.)"""
    source = REPO / "otel" / "collector.yaml"
    copy_ = CHART / "files" / "otel" / "collector.yaml"
    assert source.is_file(), "otel/collector.yaml is missing"
    assert copy_.is_file() and copy_.read_bytes() == source.read_bytes(), "run `make chart-sync`"


def _chart_copy(tmp_path: Path, dashboards: dict[str, str]) -> Path:
    chart = tmp_path / "orderflow"
    shutil.copytree(CHART, chart)
    folder = chart / "files" / "grafana-dashboards"
    folder.mkdir(parents=True, exist_ok=True)  # git keeps no empty folder
    for old in folder.glob("*.json"):
        old.unlink()
    for name, body in dashboards.items():
        (folder / name).write_text(body)
    return chart


def test_dashboards_are_provisioned_from_the_chart_files(tmp_path: Path) -> None:
    board = json.dumps({"uid": "orders", "title": "Orders", "panels": []})
    objects = render(None, chart=_chart_copy(tmp_path, {"orders.json": board}))
    config = next(o for o in objects if o["metadata"]["name"].endswith("-lgtm-dashboards"))
    assert json.loads(config["data"]["orders.json"])["uid"] == "orders"


def test_zero_dashboards_render_an_empty_folder(tmp_path: Path) -> None:
    objects = render(None, chart=_chart_copy(tmp_path, {}))
    config = next(o for o in objects if o["metadata"]["name"].endswith("-lgtm-dashboards"))
    assert not config.get("data")
    assert hygiene_problems(objects) == []


def test_datasources_link_traces_logs_and_metrics() -> None:
    objects = render(None)
    provisioning = next(o for o in objects if o["metadata"]["name"].endswith("-lgtm-provisioning"))
    datasources = parse(provisioning["data"]["datasources.yaml"])[0]["datasources"]
    by_uid = {d["uid"]: d for d in datasources}
    assert {"prometheus", "tempo", "loki"} <= set(by_uid)
    tempo = by_uid["tempo"]["jsonData"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert tempo["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert tempo["serviceMap"]["datasourceUid"] == "prometheus"
    assert {f["datasourceUid"] for f in by_uid["loki"]["jsonData"]["derivedFields"]} == {"tempo"}
    exemplars = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert exemplars[0]["datasourceUid"] == "tempo"


def test_no_latest_or_floating_image_anywhere() -> None:
    for values in VALUES_FILES:
        text = render_text(values)
        assert ":latest" not in text
        for line in text.splitlines():
            if line.strip().startswith("image:"):
                assert ":" in line.split("image:", 1)[1], line


@pytest.mark.parametrize("values", [None, CHART / "ci" / "all-bundled-values.yaml"], ids=values_id)
def test_collector_config_validates_with_the_charts_environment(
    values: Path | None, tmp_path: Path
) -> None:
    """The rendered ConfigMap, with the environment the chart gives the collector, passes
    `otelcol validate` of the project's pinned collector build (same release as the image)."""
    objects = render(values)
    config = find(objects, "ConfigMap", "collector")["data"]["collector.yaml"]
    (tmp_path / "collector.yaml").write_text(config)
    env = {
        name: e["value"]
        for name, e in container_env(find(objects, "Deployment", "collector")).items()
        if "value" in e
    }
    assert {"LGTM_OTLP_ENDPOINT", "LGTM_OTLP_INSECURE", "GOMEMLIMIT"} <= set(env)
    otelcol = ensure(["otelcol"])["otelcol"]
    proc = subprocess.run(
        [str(otelcol), "validate", f"--config={tmp_path / 'collector.yaml'}"],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # ... and it does fail without the chart's environment.
    bare = subprocess.run(
        [str(otelcol), "validate", f"--config={tmp_path / 'collector.yaml'}"],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bare.returncode != 0


def test_lgtm_prometheus_config_and_rules_pass_promtool(tmp_path: Path) -> None:
    """The Prometheus configuration mounted into LGTM and the rules it loads are valid for the
    pinned promtool; the rules are the chart's files/prometheus-rules (rendered by
    `make dashboards`)."""
    objects = render(None)
    config = find(objects, "ConfigMap", "lgtm-provisioning")["data"]["prometheus.yaml"]
    rules = find(objects, "ConfigMap", "lgtm-rules")["data"]
    assert set(rules) == {p.name for p in (CHART / "files" / "prometheus-rules").glob("*.yaml")}
    assert rules, "no alert rules provisioned"
    (tmp_path / "rules").mkdir()
    for name, body in rules.items():
        (tmp_path / "rules" / name).write_text(body)
    mounted = "/otel-lgtm/orderflow-rules/*.yaml"
    assert mounted in config
    (tmp_path / "prometheus.yaml").write_text(config.replace(mounted, f"{tmp_path}/rules/*.yaml"))
    promtool = ensure(["promtool"])["promtool"]
    proc = subprocess.run(
        [str(promtool), "check", "config", str(tmp_path / "prometheus.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout and "rules found" in proc.stdout, proc.stdout


def test_the_worker_may_wait_for_the_schema_as_long_as_the_migration_may() -> None:
    """The worker serves its probes only once the schema is usable: its startup budget covers
    the migrate init container's wait, or a slow first install restarts it."""
    for wait in (300, 900):
        objects = render(None, "--set", f"migrations.waitSeconds={wait}")
        worker = find(objects, "Deployment", "worker")
        probe = worker["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        assert probe["periodSeconds"] * probe["failureThreshold"] > wait


def test_api_metrics_port_is_open_only_to_the_configured_scrapers() -> None:
    scraper = {"namespaceSelector": {"matchLabels": {"team": "obs"}}}
    objects = render(
        None, "--set", "networkPolicy.metricsIngressFrom[0].namespaceSelector.matchLabels.team=obs"
    )
    policy = find(objects, "NetworkPolicy", "api")["spec"]["ingress"]
    metrics = [r for r in policy if r["ports"] == [{"port": 9464, "protocol": "TCP"}]]
    assert metrics == [{"ports": [{"port": 9464, "protocol": "TCP"}], "from": [scraper]}]
    default = find(render(None), "NetworkPolicy", "api")["spec"]["ingress"]
    assert all(r["ports"] != [{"port": 9464, "protocol": "TCP"}] for r in default)
