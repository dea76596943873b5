"""Test bed acceptance: a warm machine rebuilds nothing; every tool is the pinned build."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from k8s.testbed.cluster import BINARIES
from k8s.testbed.tools import gotool as _gotool

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

# The test bed's own tools: deselected when the suites run on another cluster (kind), which
# then builds no control-plane component.
pytestmark = [pytest.mark.k8s, pytest.mark.testbed]


def test_warm_cache_builds_nothing(
    k8s_cluster: K8sCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    gotool = _gotool()
    names = [*BINARIES, "kubeconform"]
    gotool.ensure(names)  # whatever was missing is built now (a no-op under `make test`)

    def no_build(*args: Any, **kwargs: Any) -> float:
        raise AssertionError(f"rebuilt on a warm cache: {args}")

    # Same content, same toolchain: the cache key is stable, so nothing is built again.
    monkeypatch.setattr(gotool, "_build", no_build)
    paths = gotool.ensure(names)
    assert set(paths) == set(names)
    for path in paths.values():
        assert path.is_file()
        assert str(path).startswith(str(gotool.cache_root())), "binaries live outside the repo"


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("helm", ["version", "--short"]),
        ("kubeconform", ["-v"]),
        ("kwok", ["--version"]),
        ("etcd", ["--version"]),
        ("kube-apiserver", ["--version"]),
        ("kube-scheduler", ["--version"]),
        ("kube-controller-manager", ["--version"]),
    ],
)
def test_tool_reports_pinned_version(k8s_cluster: K8sCluster, tool: str, args: list[str]) -> None:
    # The version ldflags in tools/go/*/tool.toml reach the binary.
    pinned = _gotool().load_all()[tool].version.removeprefix("v")
    out = subprocess.run(
        [str(k8s_cluster.bin(tool)), *args], capture_output=True, text=True, check=True
    )
    assert pinned in out.stdout + out.stderr
