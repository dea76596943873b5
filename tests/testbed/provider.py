"""The project's test bed as a pytest-kubernetes provider, and the choice of provider.

pytest-kubernetes is the fixture layer of every Kubernetes suite: its providers create or
attach to a cluster (kind, k3d, minikube, or an ``external`` kubeconfig) behind one interface,
``AClusterManager``. ``TestBedManager`` adds the project's own cluster (``k8s/testbed``: etcd,
kube-apiserver, kube-controller-manager, kube-scheduler and kwok nodes, built from pinned Go
modules), which CI machines need because they have no Docker registry and no kind.

``choose`` decides which provider a run gets, and ``tools`` which pinned tools it builds, so
``make test`` against kind builds no control-plane component (``python -m
tests.testbed.provider tools [PYTEST ARGS]`` prints that list for the Makefile).
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from k8s.testbed.cluster import BINARIES
from k8s.testbed.tools import gotool
from pytest_kubernetes.options import ClusterOptions
from pytest_kubernetes.providers import select_provider_manager
from pytest_kubernetes.providers.base import AClusterManager
from pytest_kubernetes.providers.external import ExternalManagerBase

from tests.testbed.handle import shared_testbed

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from k8s.testbed.cluster import TestBed

TESTBED = "testbed"
# Names a cluster on purpose (besides pytest-kubernetes' --k8s-kubeconfig[-override]); the
# ambient KUBECONFIG never does: these suites create and delete namespaces.
ENV_KUBECONFIG = "ORDERFLOW_TEST_KUBECONFIG"
# What the suites run against any cluster: the client tools.
CLIENT_TOOLS = ["kubectl", "helm", "kubeconform"]
# What only the test bed runs: its control plane and fake nodes.
CONTROL_PLANE = [b for b in BINARIES if b not in CLIENT_TOOLS]
# Optional tools only the suites on the test bed's real node use (tests/e2e, tests/inner_loop's
# live tests): `make test` builds them in the background while the first suites run.
REAL_NODE_TOOLS = ["kubelet", "kube-proxy", "coredns", "crane", "otel-operator", "tilt", "skaffold"]


@dataclass
class _Lease:
    stack: ExitStack
    bed: TestBed
    holders: int


# One bed per process, however many managers hold it: `shared_testbed` counts processes
# (pytest-xdist workers), so a second manager of the same process leaving must not stop it.
_lease: _Lease | None = None


def _join(nodes: int) -> TestBed:
    global _lease  # noqa: PLW0603 -- process-wide by design (see above)
    if _lease is None:
        stack = ExitStack()
        bed = stack.enter_context(shared_testbed(nodes=nodes))
        _lease = _Lease(stack, bed, 0)
    _lease.holders += 1
    return _lease.bed


def _leave() -> None:
    global _lease
    if _lease is None:
        return
    _lease.holders -= 1
    if _lease.holders == 0:
        lease, _lease = _lease, None
        lease.stack.close()


class TestBedManager(AClusterManager):
    """The test bed (kwok nodes: scheduling, controllers, admission and readiness gates are
    real; no container runs), started for the run and shared by its xdist workers."""

    __test__ = False  # not a test class despite the name
    nodes: ClassVar[int] = 3

    def __init__(
        self,
        cluster_name: str | None = None,
        provider_config: str | None = None,
        kubeconfig: Path | None = None,
    ) -> None:
        # A kubeconfig names another cluster: that is the external provider's job.
        if kubeconfig is not None:
            raise ValueError("the test bed makes its own kubeconfig")
        super().__init__(cluster_name, provider_config, None)
        self.bed: TestBed | None = None

    @classmethod
    def get_binary_name(cls) -> str:
        return "kube-apiserver"

    @classmethod
    def tools(cls) -> list[str]:
        return [*CONTROL_PLANE, *CLIENT_TOOLS]

    def _ensure_executable(self) -> None:
        """The control plane is the project's pinned build, made by ``create`` (gotool), not
        looked up on PATH as the other providers' binaries are."""

    def create(
        self, cluster_options: ClusterOptions | None = None, timeout: int = 60, **kwargs: Any
    ) -> None:
        # Not the base class's "reuse whatever answers at the kubeconfig path": joining a
        # running bed is the lease's decision, and every join is paired with a leave.
        if cluster_options:
            self._cluster_options = self._cluster_options | cluster_options
        self._on_create(self._cluster_options, **kwargs)
        if not self.ready(timeout):
            raise RuntimeError(f"test bed {self.bed.run_dir if self.bed else '?'} is not ready")

    def _on_create(self, cluster_options: ClusterOptions, **kwargs: Any) -> None:
        if self.bed is None:
            self.bed = _join(self.nodes)
        cluster_options.kubeconfig_path = self.bed.kubeconfig

    def _on_delete(self) -> None:
        if self.bed is not None:
            self.bed = None
            _leave()

    def delete(self) -> None:
        # The base class would unlink the kubeconfig, which other workers still use.
        self._on_delete()
        self._cluster_options.kubeconfig_path = None

    def load_image(self, image: str) -> None:
        """Nothing to load: kwok nodes run no container, so no image is ever pulled."""


class _DeletesOnlyWhatItMade(AClusterManager):
    """pytest-kubernetes' ``delete()`` removes any cluster its manager did not find ready
    within two seconds, or never ``create()``d: ``kind delete cluster`` for kind, the
    kubeconfig file for an external cluster. Only what this manager made is deleted here."""

    _made = False

    def create(
        self, cluster_options: ClusterOptions | None = None, timeout: int = 20, **kwargs: Any
    ) -> None:
        super().create(cluster_options, timeout, **kwargs)
        # The base class clears `_created` when the cluster was there already. An external
        # cluster is never made here, whatever its readiness said.
        self._made = self._created and not isinstance(self, ExternalManagerBase)

    def delete(self) -> None:
        if self._made:
            super().delete()
            self._made = False


def bed_provider(nodes: int = 3) -> type[TestBedManager]:
    """``TestBedManager`` with its node count (pytest-kubernetes makes classes per run too)."""
    return type("TestBedManager", (TestBedManager,), {"nodes": nodes})


def named_kubeconfig(
    override: str | None, kubeconfig: str | None, env: Mapping[str, str]
) -> Path | None:
    """The cluster named on purpose, if any: ``--k8s-kubeconfig-override``, else
    ``--k8s-kubeconfig``, else ``ORDERFLOW_TEST_KUBECONFIG``. Never ``KUBECONFIG``."""
    named = override or kubeconfig or env.get(ENV_KUBECONFIG)
    if not named:
        return None
    path = Path(named).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"kubeconfig {path} does not exist")
    return path


def choose(
    provider: str | None,
    kubeconfig: Path | None,
    *,
    cluster_name: str | None = None,
    version: str | None = None,
    nodes: int = 3,
) -> type[AClusterManager]:
    """The provider class for a run. The test bed unless a provider or a kubeconfig is
    named: pytest-kubernetes alone would pick whichever of k3d, kind or minikube is on PATH,
    and create a cluster nobody asked for."""
    if (provider or "").lower() == TESTBED or (provider is None and kubeconfig is None):
        return bed_provider(nodes)
    options = {
        "provider": provider,
        "cluster_name": cluster_name,
        "version": version,
        "kubeconfig_override": str(kubeconfig) if kubeconfig else None,
    }
    upstream = select_provider_manager(provider, options)
    return type(upstream.__name__, (_DeletesOnlyWhatItMade, upstream), {})


def tools(manager: type[AClusterManager]) -> list[str]:
    """The pinned tools a run on ``manager``'s clusters uses."""
    if issubclass(manager, TestBedManager):
        return manager.tools()
    return list(CLIENT_TOOLS)


def prebuild(args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Every default tool of ``tools/gotool.py`` less the control plane when the pytest
    arguments (or the environment) name another cluster: what ``make test`` builds first."""
    parser = argparse.ArgumentParser(add_help=False)
    for option in ("--k8s-provider", "--k8s-kubeconfig-override", "--k8s-kubeconfig"):
        parser.add_argument(option)
    known, _ = parser.parse_known_args(list(args))
    kubeconfig = named_kubeconfig(known.k8s_kubeconfig_override, known.k8s_kubeconfig, env)
    skipped = set(CONTROL_PLANE) - set(tools(choose(known.k8s_provider, kubeconfig)))
    return [b for b in gotool().default_binaries() if b not in skipped]


def real_node_tools(args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The real node's optional tools when the run is on the test bed; none on another cluster
    (its suites there are deselected)."""
    return [] if set(CONTROL_PLANE) - set(prebuild(args, env)) else list(REAL_NODE_TOOLS)


def main(argv: Sequence[str]) -> int:
    commands = {"tools": prebuild, "real-node-tools": real_node_tools}
    if not argv or argv[0] not in commands:
        usage = "usage: python -m tests.testbed.provider tools|real-node-tools [PYTEST ARGS]"
        print(usage, file=sys.stderr)
        return 2
    print(" ".join(commands[argv[0]](argv[1:], os.environ)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
