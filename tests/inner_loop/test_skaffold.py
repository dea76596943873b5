"""skaffold.yaml, checked by the project's pinned skaffold: `skaffold diagnose` accepts every
profile, and an offline `skaffold render` gives exactly the charts' own `helm template`
rendering for the same values.

Normalisation before comparing (and why):
- the values of Secrets' `data` are replaced by their keys: the chart generates random
  passwords (`randAlphaNum`, kept across upgrades by `lookup` on a live cluster), so two
  renderings never agree on them, whoever renders. This is the only difference seen with
  skaffold v2.16.1 (same documents, same order, no added labels offline);
- documents are compared as a map keyed by (apiVersion, kind, namespace, name), so a
  Skaffold release changing how it concatenates the releases would not matter;
- labels whose key starts with `skaffold.dev/` would be dropped: Skaffold's post-renderer
  adds its run-id label when it deploys (not in an offline render today).
"""

from __future__ import annotations

import copy
import os
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.inner_loop.repo import DEV_DIR, REPO, SKAFFOLD, mirror, skaffold_config

if TYPE_CHECKING:
    from pathlib import Path

PROFILES = [[], ["dev"], ["minimal"], ["dev", "minimal"]]
DEV_VALUES = "charts/orderflow/values-dev.yaml"
MINIMAL_VALUES = "charts/orderflow/ci/minimal-values.yaml"

Key = tuple[str, str, str, str]


def profile_id(profiles: list[str]) -> str:
    return "+".join(profiles) or "default"


@pytest.fixture(scope="module")
def env(tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("skaffold-home")
    environ = {
        **os.environ,
        "PATH": f"{tools['helm'].parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),  # ~/.skaffold/config: nothing from the developer's own
        "KUBECONFIG": str(home / "no-kubeconfig"),  # offline: no cluster may be needed
        "SKAFFOLD_UPDATE_CHECK": "false",
        "SKAFFOLD_INTERACTIVE": "false",
    }
    # No usage metrics upload attempt at exit (it would wait on an unreachable endpoint).
    subprocess.run(
        [str(tools["skaffold"]), "config", "set", "--global", "collect-metrics", "false"],
        capture_output=True,
        check=True,
        env=environ,
    )
    return environ


def render(tools: dict[str, Path], env: dict[str, str], profiles: list[str], tmp: Path) -> str:
    """`skaffold render`, offline, no build (images as the manifests name them). The manifests
    go to a file: stdout also carries Skaffold's messages."""
    out = tmp / f"render-{profile_id(profiles)}.yaml"
    proc = skaffold(
        tools,
        env,
        "render",
        "--offline=true",
        "--digest-source=none",
        "--output",
        str(out),
        profiles=profiles,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out.read_text()


def skaffold(
    tools: dict[str, Path], env: dict[str, str], *args: str, profiles: list[str]
) -> subprocess.CompletedProcess[str]:
    cmd = [str(tools["skaffold"]), *args, "--filename", str(SKAFFOLD)]
    if profiles:
        cmd += ["--profile", ",".join(profiles)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO, env=env)


def helm_template(tools: dict[str, Path], *args: str) -> str:
    proc = subprocess.run(
        [str(tools["helm"]), "template", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _key(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def _strip_skaffold_labels(node: Any) -> None:
    if isinstance(node, dict):
        labels = node.get("labels")
        if isinstance(labels, dict):
            for key in [k for k in labels if k.startswith("skaffold.dev/")]:
                del labels[key]
        for value in node.values():
            _strip_skaffold_labels(value)
    elif isinstance(node, list):
        for value in node:
            _strip_skaffold_labels(value)


def normalise(text: str) -> dict[Key, dict[str, Any]]:
    objects: dict[Key, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        obj = copy.deepcopy(doc)
        _strip_skaffold_labels(obj.get("metadata"))
        _strip_skaffold_labels(obj.get("spec"))
        if obj["kind"] == "Secret":
            obj["data"] = sorted(obj.get("data", {}))
        key = _key(obj)
        assert key not in objects, f"rendered twice: {key}"
        objects[key] = obj
    return objects


def expected_render(tools: dict[str, Path], profiles: list[str]) -> str:
    """Both charts rendered by helm alone, with the values skaffold.yaml gives each release."""
    values = ["charts/orderflow/values.yaml",
              *([DEV_VALUES] if "dev" in profiles else []),
              *([MINIMAL_VALUES] if "minimal" in profiles else [])]  # fmt: skip
    app = helm_template(
        tools,
        "orderflow",
        "charts/orderflow",
        "--namespace",
        "orderflow-dev",
        *(arg for v in values for arg in ("--values", v)),
    )
    operator = helm_template(
        tools,
        "orderflow-operator",
        "charts/orderflow-operator",
        "--namespace",
        "orderflow-dev",
        "--set",
        "replicas=1",
    )
    # skaffold.yaml lists the operator first (its CRD before the app chart's HealthPolicies).
    return operator + "\n---\n" + app


def test_skaffold_is_the_pinned_build(tools: dict[str, Path], env: dict[str, str]) -> None:
    proc = subprocess.run(
        [str(tools["skaffold"]), "version"], capture_output=True, text=True, env=env, check=True
    )
    assert proc.stdout.strip() == "v2.16.1"


@pytest.mark.parametrize("profiles", PROFILES, ids=profile_id)
def test_diagnose(tools: dict[str, Path], env: dict[str, str], profiles: list[str]) -> None:
    proc = skaffold(tools, env, "diagnose", profiles=profiles)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for image in ("orderflow-api", "orderflow-worker", "orderflow-operator"):
        assert f"Artifact {image}" in proc.stdout or image in proc.stdout, proc.stdout


@pytest.mark.parametrize("profiles", PROFILES, ids=profile_id)
def test_offline_render_equals_helm_template(
    tools: dict[str, Path], env: dict[str, str], profiles: list[str], tmp_path: Path
) -> None:
    rendered = normalise(render(tools, env, profiles, tmp_path))
    expected = normalise(expected_render(tools, profiles))
    assert sorted(rendered) == sorted(expected)
    for key, obj in expected.items():
        assert rendered[key] == obj, key


def test_profiles_select_the_values(
    tools: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    """The profiles change what is deployed the intended way (not a vacuous equality)."""

    def kinds(profiles: list[str]) -> set[tuple[str, str]]:
        return {(k[1], k[3]) for k in normalise(render(tools, env, profiles, tmp_path))}

    default, dev, minimal = kinds([]), kinds(["dev"]), kinds(["minimal"])
    assert ("HorizontalPodAutoscaler", "orderflow-api") in default
    assert ("HorizontalPodAutoscaler", "orderflow-api") not in dev
    assert ("Deployment", "orderflow-lgtm") in dev
    assert ("Deployment", "orderflow-lgtm") not in minimal
    assert ("Deployment", "orderflow-operator") in minimal


def test_dev_profile_syncs_python_sources_and_restarts(tools: dict[str, Path]) -> None:
    config = skaffold_config()
    dev = next(p for p in config["profiles"] if p["name"] == "dev")
    assert dev["activation"] == [{"command": "dev"}]
    artifacts = {a["image"]: a for a in dev["build"]["artifacts"]}
    assert set(artifacts) == {"orderflow-api", "orderflow-worker", "orderflow-operator"}
    for image, source, package in [
        ("orderflow-api", "services/orderflow", "orderflow"),
        ("orderflow-worker", "services/orderflow", "orderflow"),
        ("orderflow-operator", "operator/orderflow_operator", "orderflow_operator"),
    ]:
        artifact = artifacts[image]
        (rule,) = artifact["sync"]["manual"]
        assert rule == {
            "src": f"{source}/**/*.py",
            "dest": f"{DEV_DIR}/{package}",
            "strip": f"{source}/",
        }
        assert (REPO / source / "__init__.py").is_file()
        assert source in artifact["custom"]["dependencies"]["paths"]
        for path in artifact["custom"]["dependencies"]["paths"]:
            assert (REPO / path).exists(), path
        hooks = artifact["sync"]["hooks"]["after"]
        assert hooks == [{"container": {"command": ["sh", "-c", "kill -HUP 1"]}}]


def test_port_forwards_and_releases() -> None:
    config = skaffold_config()
    forwards = {(f["resourceName"], f["port"], f["localPort"]) for f in config["portForward"]}
    assert forwards == {("orderflow-api", 8080, 8080), ("orderflow-lgtm", 3000, 3000)}
    releases = {r["name"]: r for r in config["deploy"]["helm"]["releases"]}
    assert releases["orderflow"]["chartPath"] == "charts/orderflow"
    assert releases["orderflow-operator"]["chartPath"] == "charts/orderflow-operator"


def test_a_broken_config_fails(tools: dict[str, Path], env: dict[str, str], tmp_path: Path) -> None:
    """diagnose and render really read the file: a values file that does not exist fails."""
    root = mirror(
        tmp_path,
        {"skaffold.yaml": SKAFFOLD.read_text().replace(DEV_VALUES, "charts/orderflow/nope.yaml")},
    )
    cmd = [str(tools["skaffold"]), "render", "--offline=true", "--digest-source=none"]
    proc = subprocess.run(
        [*cmd, "--filename", str(root / "skaffold.yaml"), "--profile", "dev"],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        env=env,
    )
    assert proc.returncode != 0
    assert "nope.yaml" in proc.stdout + proc.stderr


def test_the_operator_release_deploys_before_the_app() -> None:
    """Skaffold installs releases in list order; the app chart renders its HealthPolicies only
    when the operator's CRD is already served."""
    releases = skaffold_config()["deploy"]["helm"]["releases"]
    assert [r["name"] for r in releases] == ["orderflow-operator", "orderflow"]
    assert releases[0]["createNamespace"] is True
