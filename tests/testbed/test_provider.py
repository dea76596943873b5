"""The fixture layer: which pytest-kubernetes provider a run gets, which tools it builds, and
the test bed as a provider shared by pytest-kubernetes' ``k8s`` fixture and ``k8s_cluster``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from k8s.testbed.tools import gotool
from pytest_kubernetes.providers import select_provider_manager
from pytest_kubernetes.providers.base import AClusterManager
from pytest_kubernetes.providers.external import ExternalManagerBase
from pytest_kubernetes.providers.kind import KindManagerBase

from tests.testbed.provider import (
    CLIENT_TOOLS,
    CONTROL_PLANE,
    ENV_KUBECONFIG,
    TestBedManager,
    choose,
    named_kubeconfig,
    prebuild,
    real_node_tools,
    tools,
)

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    return path


@pytest.fixture
def kind_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `kind` executable on PATH that records its calls (in ``kind.calls``) and fails."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    kind = bindir / "kind"
    kind.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "kind.calls"}\nexit 1\n')
    kind.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_the_ambient_kubeconfig_and_a_cluster_tool_on_path_never_choose(
    kubeconfig: Path, kind_on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv(ENV_KUBECONFIG, raising=False)
    # pytest-kubernetes alone would create a cluster with whatever tool is on PATH ...
    assert select_provider_manager(None, {}).get_binary_name() in {"k3d", "kind", "minikube"}
    # ... the project's choice is its test bed, whatever KUBECONFIG says.
    named = named_kubeconfig(None, None, os.environ)
    assert named is None
    assert issubclass(choose(None, named), TestBedManager)


@pytest.mark.parametrize("how", ["override", "kubeconfig", "environment"])
def test_a_named_kubeconfig_attaches_with_the_external_provider(kubeconfig: Path, how: str) -> None:
    named = named_kubeconfig(
        str(kubeconfig) if how == "override" else None,
        str(kubeconfig) if how == "kubeconfig" else None,
        {ENV_KUBECONFIG: str(kubeconfig)} if how == "environment" else {},
    )
    chosen = choose(None, named)
    assert issubclass(chosen, ExternalManagerBase)
    manager = chosen("pytest")
    assert manager.kubeconfig == kubeconfig
    # pytest-kubernetes' own delete() unlinks the kubeconfig of a manager never create()d.
    manager.delete()
    assert kubeconfig.is_file()


def test_a_missing_kubeconfig_is_an_error_not_the_test_bed(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        named_kubeconfig(None, None, {ENV_KUBECONFIG: str(tmp_path / "nope")})


def test_kind_with_a_kubeconfig_attaches_to_that_kind_cluster(
    kubeconfig: Path, kind_on_path: None, tmp_path: Path
) -> None:
    """What .github/workflows/kind.yaml asks for: kind's provider (images go in with `kind
    load`) on the cluster the workflow made, named as pytest-kubernetes names its clusters."""
    chosen = choose("kind", kubeconfig, cluster_name="pytest-orderflow")
    assert issubclass(chosen, KindManagerBase)
    manager = chosen("pytest-orderflow")
    assert manager.cluster_name == "pytest-orderflow"
    assert manager.kubeconfig == kubeconfig
    # A cluster it did not make is never deleted (pytest-kubernetes' own delete() would run
    # `kind delete cluster` here: its manager was not create()d).
    manager.delete()
    assert not (tmp_path / "kind.calls").exists()


def test_testbed_is_a_provider_name_too() -> None:
    chosen = choose("testbed", None, nodes=5)
    assert issubclass(chosen, TestBedManager)
    assert chosen.nodes == 5
    with pytest.raises(ValueError, match="own kubeconfig"):
        choose("testbed", None)("pytest", None, Path("/elsewhere"))


def test_only_the_test_bed_needs_the_control_plane(kubeconfig: Path, kind_on_path: None) -> None:
    assert {"kube-apiserver", "etcd", "kwok"} <= set(CONTROL_PLANE)
    assert set(CONTROL_PLANE) <= set(tools(choose(None, None)))
    for other in (choose(None, kubeconfig), choose("kind", kubeconfig), choose("kind", None)):
        assert tools(other) == CLIENT_TOOLS
        assert not set(tools(other)) & set(CONTROL_PLANE)


def test_the_real_node_tools_build_ahead_only_for_the_test_bed(kubeconfig: Path) -> None:
    ahead = real_node_tools([], {})
    assert {"kubelet", "otel-operator", "tilt", "skaffold", "crane"} <= set(ahead)
    optional = {b for b in gotool().load_all() if b not in gotool().default_binaries()}
    assert set(ahead) <= optional  # the default ones are built before pytest anyway
    assert real_node_tools(["--k8s-provider", "kind"], {}) == []
    assert real_node_tools([], {ENV_KUBECONFIG: str(kubeconfig)}) == []


def test_make_test_prebuilds_the_control_plane_only_for_the_test_bed(kubeconfig: Path) -> None:
    every = gotool().default_binaries()
    assert prebuild([], {}) == every
    without = [b for b in every if b not in CONTROL_PLANE]
    assert {"otelcol", "prometheus", "kubectl", "helm"} <= set(without)
    for args, env in [
        (["--k8s-kubeconfig-override", str(kubeconfig)], {}),
        ([f"--k8s-kubeconfig-override={kubeconfig}", "-x", "tests/k8s"], {}),
        (["--k8s-provider", "kind"], {}),
        ([], {ENV_KUBECONFIG: str(kubeconfig)}),
    ]:
        assert prebuild(args, env) == without, args
    # The Makefile's entry point prints the same list.
    out = subprocess.run(
        [sys.executable, "-m", "tests.testbed.provider", "tools", "--k8s-provider", "kind"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == without
    # ... and `make test` builds through it, with the run's pytest arguments.
    dry = subprocess.run(
        ["make", "-n", "test", "PYTEST_ARGS=--k8s-provider kind"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-m tests.testbed.provider tools --k8s-provider kind" in dry
    assert "tools/gotool.py build $names" in dry


@pytest.mark.k8s
def test_pytest_kubernetes_k8s_fixture_gets_the_session_cluster(
    k8s_cluster: K8sCluster, k8s: AClusterManager, k8s_namespace: str
) -> None:
    """The ``k8s`` fixture and ``k8s_cluster`` are one cluster; on the test bed a second
    manager joining and leaving (here, ``k8s``) leaves the bed running for the session."""
    assert k8s_cluster.manager is not None
    assert type(k8s) is type(k8s_cluster.manager)
    k8s.create()
    assert k8s.kubeconfig == k8s_cluster.kubeconfig
    namespace = k8s.kubectl(["get", "namespace", k8s_namespace])
    assert isinstance(namespace, dict)
    assert namespace["metadata"]["name"] == k8s_namespace
    k8s.delete()
    assert k8s_cluster.kubeconfig.is_file()
    assert k8s_cluster.manager.ready(timeout=5)
    k8s_cluster.kubectl("get", "serviceaccount", "default", "-n", k8s_namespace)


INNER = """
import os

import pytest


def test_on_the_named_cluster(k8s_cluster, k8s, k8s_namespace):
    assert type(k8s_cluster.manager).__name__ == "ExternalManager"
    assert type(k8s) is type(k8s_cluster.manager)  # the plugin's provider, not upstream's
    assert str(k8s_cluster.kubeconfig) == os.environ["EXPECTED_KUBECONFIG"]
    k8s_cluster.kubectl("get", "serviceaccount", "default", "-n", k8s_namespace)
    assert k8s.kubectl(["get", "namespace", k8s_namespace])["metadata"]["name"] == k8s_namespace


@pytest.mark.testbed
def test_of_the_bed_itself(k8s_cluster):
    raise AssertionError("runs only on the test bed")
"""


@pytest.mark.k8s
def test_an_existing_cluster_run_builds_and_starts_no_control_plane(
    k8s_cluster: K8sCluster, tmp_path: Path
) -> None:
    """A pytest run pointed at an existing cluster (here: this session's) with a tool cache
    that holds only the client tools and a Go that cannot download anything: building any
    control-plane component would fail the run, starting a bed would leave a run directory."""
    cache = tmp_path / "cache"
    for name in CLIENT_TOOLS:
        real = Path(gotool().installed_path(name))
        assert real.is_file(), f"{name} is built by the outer session"
        mirrored = cache / "tools" / real.parent.name / name
        mirrored.parent.mkdir(parents=True, exist_ok=True)
        mirrored.symlink_to(real)
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER))
    # Loaded as tests/conftest.py loads it: after pytest-kubernetes, so its fixtures win.
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.testbed.plugin"]\n')
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", ENV_KUBECONFIG)},
        "ORDERFLOW_CACHE": str(cache),
        "GOPROXY": "off",
        "GOMODCACHE": str(tmp_path / "gomod"),
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("", "services", "operator")),
        "EXPECTED_KUBECONFIG": str(k8s_cluster.kubeconfig.resolve()),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_TESTRUNUID", None)
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "-q",
            "-p", "no:cacheprovider", "-p", "no:xdist",
            str(tmp_path / "test_inner.py"),
            "--k8s-kubeconfig-override", str(k8s_cluster.kubeconfig),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=240,
    )  # fmt: skip
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "1 passed, 1 deselected" in report
    assert (
        "1 test(s) of the project's test bed itself deselected "
        "(the suites ran on ExternalManager (pytest-kubernetes))"
    ) in report
    built = {p.name for p in (cache / "tools").glob("*/*")}
    assert built == set(CLIENT_TOOLS)
    assert not (cache / "testbed").exists(), "a test bed was started"
    # The cluster it attached to is left as it was (pytest-kubernetes' own external provider
    # unlinks the kubeconfig of a manager it never create()d, as the `k8s` fixture's is).
    assert k8s_cluster.kubeconfig.is_file()
    k8s_cluster.kubectl("get", "namespace", "default")
