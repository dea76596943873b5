"""The Tiltfile, evaluated by the project's pinned tilt without a cluster
(`tilt alpha tiltfile-result`): the images it builds, their live updates, the Helm-rendered
workloads, labels, port forwards and buttons."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from orderflow.cli import build_parser
from orderflow_operator.pods import GATE
from tests.inner_loop.repo import DEV_DIR, REPO, dev_layer_from_skaffold, mirror

if TYPE_CHECKING:
    from pathlib import Path

NAMESPACE = "orderflow-dev"
# image -> (Dockerfile, target, package directory in the repo, package name)
IMAGES = {
    "orderflow-api": ("Dockerfile", "api", "services/orderflow", "orderflow"),
    "orderflow-worker": ("Dockerfile", "worker", "services/orderflow", "orderflow"),
    "orderflow-operator": (
        "Dockerfile",
        "operator",
        "operator/orderflow_operator",
        "orderflow_operator",
    ),
}


def tiltfile_result(
    tools: dict[str, Path], tmp_path: Path, tiltfile: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # The project's helm for helm(); a kubeconfig that does not exist: nothing may need a
        # cluster to evaluate the Tiltfile (and the ambient one is never touched).
        "PATH": f"{tools['helm'].parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "HOME": str(tmp_path),  # tilt's own state and analytics settings go here
    }
    cmd = [str(tools["tilt"]), "alpha", "tiltfile-result", "--file", str(tiltfile)]
    if args:
        cmd += ["--", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO, env=env)


@pytest.fixture(scope="module")
def result(tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    proc = tiltfile_result(tools, tmp_path_factory.mktemp("tilt"), REPO / "Tiltfile")
    assert proc.returncode == 0, proc.stderr
    parsed: dict[str, Any] = json.loads(proc.stdout)
    assert parsed["Error"] is None
    return parsed


@pytest.fixture(scope="module")
def manifests(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["Name"]: m for m in result["Manifests"]}


def _images(manifests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        target["selector"]: target
        for manifest in manifests.values()
        for target in manifest.get("ImageTargets") or []
    }


def _objects(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest["DeployTarget"]["yaml"]) if doc]


def _all_objects(manifests: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every object Tilt applies, across resources (buttons and local resources have none)."""
    return [
        o for m in manifests.values() if m.get("DeployTarget", {}).get("yaml") for o in _objects(m)
    ]


def test_tilt_is_the_pinned_build(tools: dict[str, Path]) -> None:
    out = subprocess.run(
        [str(tools["tilt"]), "version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("v0.33.21"), out


def test_images_and_their_dockerfiles(manifests: dict[str, dict[str, Any]]) -> None:
    images = _images(manifests)
    assert set(images) == {*IMAGES, *(f"{name}-base" for name in IMAGES)}
    for name, (dockerfile, target, _, _) in IMAGES.items():
        base = images[f"{name}-base"]["BuildDetails"]
        assert base["context"] == str(REPO)
        assert base["dockerfileContents"] == (REPO / dockerfile).read_text()
        assert base.get("target", "") == target
        if target:
            assert re.search(rf"^FROM \S+ AS {target}$", base["dockerfileContents"], re.M)
        dev = images[name]["BuildDetails"]
        # The dev layer sits on the image built from the project's Dockerfile.
        assert f"\nFROM {name}-base\n" in dev["dockerfileContents"]
        assert 'ENTRYPOINT ["/opt/dev-layer/run"]' in dev["dockerfileContents"]


def test_dev_layer_is_the_same_as_skaffolds(manifests: dict[str, dict[str, Any]]) -> None:
    tilt = _images(manifests)["orderflow-api"]["BuildDetails"]["dockerfileContents"]
    tilt = tilt.replace("FROM orderflow-api-base\n", "FROM ${BASE}\n").strip()
    assert tilt == dev_layer_from_skaffold().replace("ARG BASE\n", "", 1).strip()


def test_live_update_syncs_repo_sources_into_the_dev_package(
    manifests: dict[str, dict[str, Any]],
) -> None:
    images = _images(manifests)
    for name, (_, _, source, package) in IMAGES.items():
        spec = images[name]["LiveUpdateSpec"]
        assert images[name]["LiveUpdateReconciler"] is True
        assert spec["basePath"] == str(REPO)
        syncs = [(s["localPath"], s["containerPath"]) for s in spec["syncs"]]
        assert syncs == [(source, f"{DEV_DIR}/{package}")]
        for local, _ in syncs:
            assert (REPO / local / "__init__.py").is_file(), f"{local} is not a package"
        # Dependency changes rebuild the image; then the process restarts (dev layer PID 1).
        assert spec["stopPaths"] == ["pyproject.toml", "uv.lock", "operator/pyproject.toml"]
        for path in spec["stopPaths"]:
            assert (REPO / path).is_file()
        assert [e["args"] for e in spec["execs"]] == [["sh", "-c", "kill -HUP 1"]]
        # The base images have no live update of their own.
        assert not images[f"{name}-base"]["LiveUpdateSpec"].get("syncs")


def test_the_synced_package_is_what_the_image_installs() -> None:
    # The Dockerfile installs each package non-editable into its own virtualenv
    # (/opt/orderflow, /opt/orderflow-operator); the dev layer tells them apart by the
    # operator's virtualenv and finds the package directory by import.
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY services/orderflow ./services/orderflow" in dockerfile
    assert "COPY operator/orderflow_operator ./operator/orderflow_operator" in dockerfile
    assert dockerfile.count("--no-editable") == 4
    assert "UV_PROJECT_ENVIRONMENT=/opt/orderflow-operator" in dockerfile
    assert "[ -x /opt/orderflow-operator/bin/python ]" in (REPO / "Tiltfile").read_text()


def test_helm_workloads_labels_and_dependencies(manifests: dict[str, dict[str, Any]]) -> None:
    expected = {
        "api": ("Deployment", "orderflow-api", "app"),
        "worker": ("Deployment", "orderflow-worker", "app"),
        "postgresql": ("StatefulSet", "orderflow-postgresql", "data"),
        "redis": ("Deployment", "orderflow-redis", "data"),
        "collector": ("Deployment", "orderflow-collector", "observability"),
        "grafana": ("Deployment", "orderflow-lgtm", "observability"),
        "operator": ("Deployment", "orderflow-operator", "operator"),
    }
    for resource, (kind, name, label) in expected.items():
        manifest = manifests[resource]
        assert manifest["Labels"] == {label: label}
        workloads = [o for o in _objects(manifest) if o["kind"] == kind]
        assert [w["metadata"]["name"] for w in workloads] == [name], resource
        assert workloads[0]["metadata"]["namespace"] == NAMESPACE
    assert manifests["api"]["ResourceDependencies"] == ["postgresql", "redis"]
    # Migrations are the API pod's init container (no Job resource): a live update restarts
    # only the main process, so a save never re-runs them.
    assert "migrations" not in manifests
    api = next(o for o in _objects(manifests["api"]) if o["kind"] == "Deployment")
    assert [c["name"] for c in api["spec"]["template"]["spec"]["initContainers"]] == ["migrate"]


def test_workloads_run_the_built_images(manifests: dict[str, dict[str, Any]]) -> None:
    for resource, image in [
        ("api", "orderflow-api"),
        ("worker", "orderflow-worker"),
        ("operator", "orderflow-operator"),
    ]:
        assert manifests[resource]["DeployTarget"]["imageMaps"] == [image]
        containers = [
            c["image"]
            for o in _objects(manifests[resource])
            if o["kind"] in {"Deployment", "Job"}
            for c in [
                *o["spec"]["template"]["spec"]["containers"],
                *o["spec"]["template"]["spec"].get("initContainers", []),
            ]
        ]
        assert containers
        assert all(c.split(":")[0] == image for c in containers), containers


def test_dev_values_and_fixed_credentials(manifests: dict[str, dict[str, Any]]) -> None:
    """Chart rendered with values-dev.yaml; no chart-generated (random) secret: the Tiltfile's
    development credentials are used, so a Tiltfile reload changes nothing."""
    everything = _all_objects(manifests)
    kinds = {o["kind"] for o in everything}
    assert "HorizontalPodAutoscaler" not in kinds
    assert "PodDisruptionBudget" not in kinds
    secrets = [o["metadata"]["name"] for o in everything if o["kind"] == "Secret"]
    assert secrets == ["orderflow-dev-credentials"]
    namespaces = [o for o in everything if o["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACE]
    assert namespaces[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )
    api = next(o for o in _objects(manifests["api"]) if o["kind"] == "Deployment")
    env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ENVIRONMENT"]["value"] == "development"
    assert env["JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "orderflow-dev-credentials"
    assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "orderflow-dev-credentials",
        "key": "password",
    }
    operator = next(o for o in _objects(manifests["operator"]) if o["kind"] == "Deployment")
    assert operator["spec"]["replicas"] == 1


def test_port_forwards(manifests: dict[str, dict[str, Any]]) -> None:
    def forwards(resource: str) -> list[tuple[int, int]]:
        spec = manifests[resource]["DeployTarget"].get("portForwardTemplateSpec") or {}
        return [(f["localPort"], f["containerPort"]) for f in spec.get("forwards", [])]

    assert forwards("api") == [(8080, 8080)]
    assert forwards("grafana") == [(3000, 3000)]
    # The forwarded container ports are the ones the chart's containers declare.
    for resource, port in [("api", 8080), ("grafana", 3000)]:
        deployment = next(o for o in _objects(manifests[resource]) if o["kind"] == "Deployment")
        declared = {
            p["containerPort"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        assert port in declared, (resource, declared)


def test_buttons(manifests: dict[str, dict[str, Any]]) -> None:
    exec_api = ["kubectl", "--namespace", NAMESPACE, "exec", "deploy/orderflow-api", "--"]
    for name, command in [
        ("migrate", ["orderflow", "migrate", "up"]),
        ("traffic", ["orderflow", "traffic"]),
    ]:
        manifest = manifests[name]
        assert manifest["Labels"] == {"tasks": "tasks"}
        args = manifest["DeployTarget"]["UpdateCmdSpec"]["args"]
        assert args[: len(exec_api) + len(command)] == exec_api + command
        assert manifest["ResourceDependencies"] == ["api"]
        # The command after `--` parses with the real CLI (options exist, values are valid).
        build_parser().parse_args(args[len(exec_api) + 1 :])


def test_gates_waits_for_the_operators_gated_rollouts(manifests: dict[str, dict[str, Any]]) -> None:
    """`gates` is Ready only after each Deployment a HealthPolicy targets carries the
    operator's readiness gate and has rolled it out, so `tilt ci` does not exit on pods that
    rollout is about to replace."""
    targets = [
        o["spec"]["targetRef"]["name"]
        for o in _all_objects(manifests)
        if o["kind"] == "HealthPolicy"
    ]
    assert sorted(targets) == ["orderflow-api", "orderflow-worker"]
    # The chart renders no gate of its own, so the operator's is readinessGates[0].
    for resource in ("api", "worker"):
        deployment = next(o for o in _objects(manifests[resource]) if o["kind"] == "Deployment")
        assert "readinessGates" not in deployment["spec"]["template"]["spec"]
    gates = manifests["gates"]
    assert gates["Labels"] == {"operator": "operator"}
    assert gates["ResourceDependencies"] == ["operator", "api", "worker"]
    script = gates["DeployTarget"]["UpdateCmdSpec"]["args"][-1]
    kubectl = f"kubectl --namespace {NAMESPACE}"
    for name in targets:
        wait = (
            f"{kubectl} wait deployment/{name} --timeout=300s --for=jsonpath="
            "'{.spec.template.spec.readinessGates[0].conditionType}'=" + GATE
        )
        rollout = f"{kubectl} rollout status deployment/{name} --timeout=300s"
        assert f"{wait} && {rollout}" in script, script
    assert script.index("deployment/orderflow-api") < script.index("deployment/orderflow-worker")


def test_namespace_option(tools: dict[str, Path], tmp_path: Path) -> None:
    proc = tiltfile_result(tools, tmp_path, REPO / "Tiltfile", "--namespace=elsewhere")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    api = next(m for m in result["Manifests"] if m["Name"] == "api")
    assert "namespace: elsewhere" in api["DeployTarget"]["yaml"]
    assert f"namespace: {NAMESPACE}" not in api["DeployTarget"]["yaml"]


def test_a_workload_the_chart_does_not_render_fails(tools: dict[str, Path], tmp_path: Path) -> None:
    """The evaluation is a real check against the real chart rendering: a resource naming a
    workload helm() did not render makes tilt fail."""
    text = (REPO / "Tiltfile").read_text()
    replacement = ('k8s_resource("orderflow-lgtm"', 'k8s_resource("orderflow-x"')
    assert replacement[0] in text
    root = mirror(tmp_path, {"Tiltfile": text.replace(*replacement)})
    proc = tiltfile_result(tools, tmp_path, root / "Tiltfile")
    assert proc.returncode == 5, proc.stdout[-500:] + proc.stderr
    assert "orderflow-x" in proc.stderr


def test_health_policies_are_deployed_with_the_workloads(
    manifests: dict[str, dict[str, Any]],
) -> None:
    """The Tiltfile deploys the operator's CRD itself, so the app chart is rendered with the
    HealthPolicy API declared: both policies reach the cluster (helm() alone renders none)."""
    deployed = [m for m in manifests.values() if m.get("DeployTarget", {}).get("yaml")]
    policies = [
        o for manifest in deployed for o in _objects(manifest) if o["kind"] == "HealthPolicy"
    ]
    assert sorted(p["metadata"]["name"] for p in policies) == [
        "orderflow-api",
        "orderflow-worker",
    ]
    crds = [
        o["metadata"]["name"]
        for manifest in deployed
        for o in _objects(manifest)
        if o["kind"] == "CustomResourceDefinition"
    ]
    assert "healthpolicies.orderflow.dev" in crds
