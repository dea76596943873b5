"""Security defaults of both charts, from what `helm template` renders and real servers.

- No generated Secret has a fixed value: two renders with default values differ in every key.
- Every generated credential has an `existingSecret` switch that removes it from the release.
- The bundled Redis requires a password: the chart's own start command, run with the host's
  redis-server, refuses anonymous clients and keeps the password off the command line; the
  app's clients connect with the URL the chart gives them.
- The PostgreSQL password Secret outlives `helm uninstall` (the data volume does).
- No pinned image is in the committed known-vulnerable table (docs/security/).
- The operator chart: a NetworkPolicy that keeps checks away from link-local/metadata
  addresses unless allowed, and RBAC that can be narrowed to named workloads.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError

from orderflow.devservices import free_port, wait_for_port
from orderflow.settings import normalize_redis_url
from tests.charts.chart import CHART, REPO, container_env, pod_spec, render

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.testbed.handle import K8sCluster

OPERATOR_CHART = REPO / "charts" / "orderflow-operator"
TABLE = REPO / "docs" / "security" / "known-vulnerable-images.yaml"
PREFIX = "of-orderflow"  # tests/charts/chart.py renders release "of"
OPERATOR = "of-orderflow-operator"


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _secrets(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {n: s.get("data") or {} for n, s in _by_kind(objects, "Secret").items()}


# --- generated credentials ------------------------------------------------------------------------


def test_no_secret_has_a_fixed_default_value() -> None:
    first, second = _secrets(render(None)), _secrets(render(None))
    assert first, "the default install generates its credentials"
    for name, data in first.items():
        for key, value in data.items():
            if re.search(r"(?i)(^|[-_])user(name)?$", key):
                continue  # an account name (Grafana's admin-user) is not a credential
            assert value != second[name][key], f"Secret {name} key {key} is the same every time"
            assert len(base64.b64decode(value)) >= 32, f"{name}/{key} is short"


def test_every_generated_credential_can_come_from_an_existing_secret() -> None:
    generated = _secrets(render(None))
    assert set(generated) >= {f"{PREFIX}-app", f"{PREFIX}-postgresql", f"{PREFIX}-redis"}
    objects = render(
        None,
        "--set", "app.jwt.existingSecret=mine-jwt",
        "--set", "postgresql.auth.existingSecret=mine-pg",
        "--set", "redis.auth.existingSecret=mine-redis",
        "--set", "redis.auth.existingSecretKey=pw",
        "--set", "lgtm.grafana.admin.existingSecret=mine-grafana",
    )  # fmt: skip
    assert _secrets(objects) == {}, "every credential is the user's own"
    api = _by_kind(objects, "Deployment")[f"{PREFIX}-api"]
    env = container_env(api)
    assert env["JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "mine-jwt"
    assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mine-pg"
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mine-redis", "key": "pw"}
    redis = _by_kind(objects, "Deployment")[f"{PREFIX}-redis"]
    assert container_env(redis)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "mine-redis",
        "key": "pw",
    }


def test_postgresql_password_secret_is_kept_on_uninstall() -> None:
    secret = _by_kind(render(None), "Secret")[f"{PREFIX}-postgresql"]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    off = _by_kind(render(None, "--set", "postgresql.auth.keepSecretOnUninstall=false"), "Secret")
    assert "annotations" not in off[f"{PREFIX}-postgresql"]["metadata"]


def test_app_secret_opts_only_the_redis_url_in_to_health_checks() -> None:
    default = _by_kind(render(None), "Secret")[f"{PREFIX}-app"]
    assert "orderflow.dev/health-check" not in default["metadata"]["labels"], "JWT only"
    external = _by_kind(
        render(None, "--set", "redis.enabled=false", "--set", "externalRedis.url=redis://r:6379/0"),
        "Secret",
    )[f"{PREFIX}-app"]
    assert external["metadata"]["labels"]["orderflow.dev/health-check"] == "true"
    assert external["metadata"]["annotations"]["orderflow.dev/health-check-keys"] == "REDIS_URL"
    assert "JWT_SECRET" in external["data"]


# --- the bundled Redis requires its password -----------------------------------------------------


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of env values."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)


@pytest.fixture
def chart_redis(tmp_path: Path) -> Iterator[tuple[int, str, int]]:
    """The chart's Redis container command, run by the host's redis-server: (port, pw, pid)."""
    deployment = _by_kind(render(None), "Deployment")[f"{PREFIX}-redis"]
    container = pod_spec(deployment)["containers"][0]
    password = "pw" + os.urandom(12).hex()
    env = {"REDIS_PASSWORD": password}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = _expand(item["value"], env)
    assert env["REDISCLI_AUTH"] == password, "the probes' redis-cli authenticates"
    port = free_port()
    # The container's command with the pod's paths mapped onto this machine.
    script = container["command"][2].replace("--dir /data", f"--dir {tmp_path} --port {port}")
    assert shutil.which("redis-server"), "redis-server: run `make system-deps`"
    process = subprocess.Popen(
        [*container["command"][:2], script],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        yield port, password, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def _cli(port: int, *args: str, password: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    if password:
        env["REDISCLI_AUTH"] = password
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_bundled_redis_refuses_anonymous_clients(chart_redis: tuple[int, str, int]) -> None:
    port, password, pid = chart_redis
    assert _cli(port, "ping").startswith("NOAUTH")
    assert _cli(port, "set", "poison", "x").startswith("NOAUTH")
    assert _cli(port, "ping", password=password) == "PONG"
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert b"redis-server" in cmdline, "exec: redis-server is the container's PID 1"
    assert password.encode() not in cmdline, "the password is not in the process list"


def test_the_app_connects_with_the_url_the_chart_gives_it(
    chart_redis: tuple[int, str, int],
) -> None:
    port, password, _ = chart_redis
    api = _by_kind(render(None), "Deployment")[f"{PREFIX}-api"]
    env = container_env(api)
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{PREFIX}-redis",
        "key": "password",
    }
    url = _expand(env["REDIS_URL"]["value"], {"REDIS_PASSWORD": password})
    url = url.replace(f"{PREFIX}-redis:6379", f"127.0.0.1:{port}")
    assert url == f"redis://:{password}@127.0.0.1:{port}/0"
    client = Redis.from_url(normalize_redis_url(url))  # how the API and the worker connect
    try:
        assert client.ping() is True
        client.lpush("dramatiq:default", "x")
    finally:
        client.close()
    wrong = Redis.from_url(url.replace(password, "wrong"))
    try:
        with pytest.raises((AuthenticationError, ResponseError)):
            wrong.ping()
    finally:
        wrong.close()


# --- pinned images ------------------------------------------------------------------------------


def _version(tag: str) -> tuple[int, ...] | None:
    match = re.match(r"^v?(\d+(?:\.\d+){0,2})", tag)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _vulnerable(image: str, tag: str, table: list[dict[str, Any]]) -> list[str]:
    version = _version(tag)
    if version is None:
        return []
    return [
        ", ".join(e["cves"])
        for e in table
        if e["image"] == image and _version(e["from"]) <= version <= _version(e["to"])  # type: ignore[operator]
    ]


def _image_blocks(node: Any, where: str = "") -> Iterator[tuple[str, str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("repository"), str) and isinstance(node.get("tag"), str):
            yield where, node["repository"].rsplit("/", 1)[-1], node["tag"]
        for key, value in node.items():
            yield from _image_blocks(value, f"{where}.{key}")


def _table() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(TABLE.read_text())["entries"]
    return entries


def test_the_table_is_usable() -> None:
    table = _table()
    for entry in table:
        assert entry["sources"] and all(s.startswith("https://") for s in entry["sources"])
        assert entry["cves"] and _version(entry["from"]) and _version(entry["to"])
    # The comparison itself: the tags the charts pinned before are caught, the bumps are not.
    assert _vulnerable("redis", "7.4.5-bookworm", table)
    assert _vulnerable("redis", "7.4.0", table)
    assert _vulnerable("postgres", "17.6-bookworm", table)
    assert not _vulnerable("redis", "7.4.6-bookworm", table)
    assert not _vulnerable("redis", "7.4.10-bookworm", table), "numeric, not text, comparison"
    assert not _vulnerable("postgres", "17.7-bookworm", table)
    assert not _vulnerable("postgres", "16.6", table)


def _values_files() -> list[Path]:
    return [
        *sorted(REPO.glob("charts/*/values*.yaml")),
        *sorted(REPO.glob("charts/*/ci/*.yaml")),
    ]


@pytest.mark.parametrize("values", _values_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_pinned_image_is_known_vulnerable(values: Path) -> None:
    table = _table()
    found = [
        f"{where}: {image}:{tag} ({cves})"
        for where, image, tag in _image_blocks(yaml.safe_load(values.read_text()) or {})
        for cves in _vulnerable(image, tag, table)
    ]
    assert not found, f"pinned images with known vulnerabilities: {found}"


def test_the_default_pins_are_in_view() -> None:
    """The values files the scan reads do pin Redis and PostgreSQL (a moved key would
    silently empty the scan)."""
    pinned = {
        image for _, image, _ in _image_blocks(yaml.safe_load((CHART / "values.yaml").read_text()))
    }
    assert {"redis", "postgres"} <= pinned


# --- the operator chart -------------------------------------------------------------------------


def _operator(*extra: str) -> list[dict[str, Any]]:
    return render(None, "--namespace", "ops", *extra, chart=OPERATOR_CHART)


def test_operator_networkpolicy_keeps_checks_off_metadata_addresses() -> None:
    [policy] = _by_kind(_operator(), "NetworkPolicy").values()
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "orderflow-operator"
    [metrics] = spec["ingress"]
    assert metrics["ports"] == [{"port": 9090, "protocol": "TCP"}], "metrics only"
    blocks = [peer["ipBlock"] for rule in spec["egress"] for peer in rule.get("to", [])]
    assert blocks, "egress names its destinations"
    for block in blocks:
        if block["cidr"] == "0.0.0.0/0":
            assert "169.254.0.0/16" in block["except"]
        if block["cidr"] == "::/0":
            assert "fd00:ec2::254/128" in block["except"] and "fe80::/10" in block["except"]
    container = pod_spec(_by_kind(_operator(), "Deployment")[OPERATOR])["containers"][0]
    assert "--allow-link-local" not in container["args"]

    allowed = _operator("--set", "checks.allowLinkLocal=true")
    [open_policy] = _by_kind(allowed, "NetworkPolicy").values()
    assert all(
        "except" not in peer["ipBlock"]
        for rule in open_policy["spec"]["egress"]
        for peer in rule.get("to", [])
    )
    deployment = _by_kind(allowed, "Deployment")[OPERATOR]
    assert "--allow-link-local" in pod_spec(deployment)["containers"][0]["args"]


def test_operator_networkpolicy_narrows_to_named_cidrs() -> None:
    objects = _operator(
        "--set", "networkPolicy.checkCIDRs={10.0.0.0/8}",
        "--set", "networkPolicy.apiServer.cidrs={172.18.0.2/32}",
    )  # fmt: skip
    [policy] = _by_kind(objects, "NetworkPolicy").values()
    egress = policy["spec"]["egress"]
    assert egress[1]["to"] == [{"ipBlock": {"cidr": "172.18.0.2/32"}}]
    assert egress[2] == {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}
    assert not _by_kind(_operator("--set", "networkPolicy.enabled=false"), "NetworkPolicy")


def test_operator_rbac_is_minimal_and_narrows_to_named_workloads() -> None:
    [role] = _by_kind(_operator(), "Role").values()
    verbs = {(tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]}
    assert (("healthpolicies",), ("list", "watch", "patch")) in verbs
    assert (("healthpolicies/status",), ("patch",)) in verbs
    assert (("secrets",), ("get",)) in verbs
    assert not any(
        "delete" in v or "update" in v or ("create" in v and r != ("events",)) for r, v in verbs
    )
    named = _operator("--set", "rbac.targets.names={orderflow-api,orderflow-worker}")
    [role] = _by_kind(named, "Role").values()
    [workloads] = [r for r in role["rules"] if "deployments" in r["resources"]]
    assert workloads["resourceNames"] == ["orderflow-api", "orderflow-worker"]
    assert workloads["verbs"] == ["get", "patch"]


# --- uninstall and reinstall with the kept data volume (test bed) -------------------------------


@pytest.mark.k8s
def test_reinstall_finds_the_postgresql_password_the_volume_was_initialised_with(
    k8s_cluster: K8sCluster, k8s_restricted_namespace: str
) -> None:
    """`helm uninstall` keeps the PVC and (annotation `keep`) the password Secret; a reinstall
    under the same name adopts the Secret and `lookup` keeps its value, so the database the kept
    volume holds accepts the password the new pods get."""
    ns, release = k8s_restricted_namespace, "keep"
    secret = f"{release}-orderflow-postgresql"
    minimal = str(CHART / "ci" / "minimal-values.yaml")

    def password() -> str:
        data: dict[str, str] = k8s_cluster.get(f"secret/{secret}", "-n", ns)["data"]
        return data["password"]

    k8s_cluster.helm("install", release, str(CHART), "-n", ns, "-f", minimal)
    first = password()
    k8s_cluster.helm("uninstall", release, "-n", ns, "--wait", "--timeout=120s")
    assert password() == first, "the Secret outlived the uninstall"
    k8s_cluster.helm("install", release, str(CHART), "-n", ns, "-f", minimal)
    assert password() == first, "the reinstall kept the password"
    statefulset = k8s_cluster.get(f"statefulset/{secret}", "-n", ns)
    ref = container_env(statefulset)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": secret, "key": "password"}
    k8s_cluster.helm("uninstall", release, "-n", ns, "--wait", "--timeout=120s")


def test_operator_admission_policy_binds_the_operator_identity_in_served_namespaces() -> None:
    objects = _operator("--set", "watch.namespaces={shop,blog}")
    policies = _by_kind(objects, "ValidatingAdmissionPolicy")
    bindings = _by_kind(objects, "ValidatingAdmissionPolicyBinding")
    # Cluster-scoped: named after the release namespace. One for workloads, one for pods/status.
    assert set(policies) == set(bindings) == {f"{OPERATOR}-ops", f"{OPERATOR}-ops-pods"}
    resources = {
        n: p["spec"]["matchConstraints"]["resourceRules"][0]["resources"]
        for n, p in policies.items()
    }
    assert resources == {
        f"{OPERATOR}-ops": ["deployments", "statefulsets"],
        f"{OPERATOR}-ops-pods": ["pods/status"],
    }
    for name, policy in policies.items():
        [condition] = policy["spec"]["matchConditions"]
        assert condition["expression"] == (
            f'request.userInfo.username == "system:serviceaccount:ops:{OPERATOR}"'
        )
        assert policy["spec"]["failurePolicy"] == "Fail"
        binding = bindings[name]
        assert binding["spec"]["policyName"] == name
        assert binding["spec"]["validationActions"] == ["Deny"]
        [expression] = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
        assert expression["values"] == ["shop", "blog"]
    off = _operator("--set", "admissionPolicy.enabled=false")
    assert not _by_kind(off, "ValidatingAdmissionPolicy")
