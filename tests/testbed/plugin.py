"""pytest plugin: Kubernetes fixtures for every test suite of the project, on pytest-kubernetes.

Load it from the root conftest with ``pytest_plugins = ["tests.testbed.plugin"]``.

Which cluster the tests get (they create and delete namespaces, so only one named on
purpose is used; the ambient ``KUBECONFIG`` is deliberately ignored):

1. pytest-kubernetes' options: ``--k8s-kubeconfig-override PATH`` (or ``--k8s-kubeconfig``)
   attaches to an existing cluster and never deletes it; with ``--k8s-provider kind
   --k8s-cluster-name NAME`` that cluster is kind's ``pytest-NAME`` (images go in with ``kind
   load``); ``--k8s-provider kind`` alone creates a kind cluster for the run;
2. ``ORDERFLOW_TEST_KUBECONFIG=PATH`` in the environment: same as the override;
3. otherwise the project's test bed (``tests/testbed/provider.py``), started for the session.

Fixtures: ``k8s_manager`` (pytest-kubernetes' provider factory, its default the test bed),
``k8s`` (pytest-kubernetes', per test), ``k8s_cluster`` (session: the run's cluster, created or
attached once), ``k8s_namespace`` and ``k8s_restricted_namespace`` (function). Tools are the
project's pinned builds, built before the first test; only those the chosen provider uses.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import TYPE_CHECKING

import pytest
from k8s.testbed import realnode
from k8s.testbed.cluster import default_root
from k8s.testbed.nodes import KWOK_ANNOTATION
from k8s.testbed.tools import bin_dir, ensure, kubernetes_version

from tests.testbed.handle import K8sCluster, reap_stale
from tests.testbed.provider import TestBedManager, choose, named_kubeconfig, tools

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pytest_kubernetes.providers.base import AClusterManager

    ProviderFactory = Callable[[str | None], type[AClusterManager]]

_CHOSEN = pytest.StashKey["type[AClusterManager]"]()
_DESELECTED = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    # pytest-kubernetes' own group: its --k8s-* options and ours in one `pytest --help` block.
    group = parser.getgroup("k8s")
    group.addoption(
        "--k8s-nodes", type=int, default=3, help="kwok fake nodes on the test bed (default 3)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "testbed: a test of the project's own test bed (its tools, its real node), whatever "
        "cluster the other suites get; deselected when another provider is chosen",
    )


def _provider(config: pytest.Config, name: str | None = None) -> type[AClusterManager]:
    """The provider class of this run (or of ``name``, a pytest-kubernetes marker's)."""
    if name is None and _CHOSEN in config.stash:
        return config.stash[_CHOSEN]
    try:
        kubeconfig = named_kubeconfig(
            config.getoption("k8s_kubeconfig_override"),
            config.getoption("k8s_kubeconfig"),
            os.environ,
        )
    except FileNotFoundError as missing:
        raise pytest.UsageError(str(missing)) from None
    chosen = choose(
        name or config.getoption("k8s_provider"),
        kubeconfig,
        cluster_name=config.getoption("k8s_cluster_name"),
        version=config.getoption("k8s_version"),
        nodes=config.getoption("--k8s-nodes"),
    )
    if name is None:
        config.stash[_CHOSEN] = chosen
    return chosen


def _describe(config: pytest.Config) -> str:
    chosen = _provider(config)
    if issubclass(chosen, TestBedManager):
        return "the project's test bed (k8s/testbed, kwok nodes)"
    return f"{chosen.__name__} (pytest-kubernetes)"


def pytest_report_header(config: pytest.Config) -> str:
    return f"kubernetes: {_describe(config)}"


@pytest.hookimpl(trylast=True)  # after conftests have added their markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the test bed's own tests on another cluster (reported, not skipped), then
    build the chosen provider's tools before any test runs: a cold build takes minutes and
    must not count against a test's timeout (pytest-timeout includes fixture setup)."""
    chosen = _provider(config)
    if not issubclass(chosen, TestBedManager):
        deselected = [item for item in items if item.get_closest_marker("testbed")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("testbed")]
            config.stash[_DESELECTED] = len(deselected)
    fixtures = {"k8s_cluster", "k8s"}
    if any(fixtures & set(getattr(item, "fixturenames", ())) for item in items):
        ensure(tools(chosen))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    count = terminalreporter.config.stash.get(_DESELECTED, 0)
    if count:
        terminalreporter.write_line(
            f"kubernetes: {count} test(s) of the project's test bed itself deselected "
            f"(the suites ran on {_describe(terminalreporter.config)})"
        )


@pytest.fixture(scope="session")
def k8s_manager(request: pytest.FixtureRequest) -> Iterator[ProviderFactory]:
    """pytest-kubernetes' provider factory, overridden: the default provider is the test bed,
    never whichever cluster tool happens to be on PATH."""
    config = request.config
    # pytest-kubernetes runs `kubectl` from PATH: make it the pinned build, as K8sCluster.env
    # does for the tests' own subprocesses.
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{bin_dir()}{os.pathsep}{path}"

    def factory(name: str | None = None) -> type[AClusterManager]:
        return _provider(config, name)

    factory.orderflow = True  # type: ignore[attr-defined]  # k8s_cluster checks it is this one

    try:
        yield factory
    finally:
        os.environ["PATH"] = path


@pytest.fixture(scope="session")
def k8s_cluster(
    k8s_manager: ProviderFactory, request: pytest.FixtureRequest
) -> Iterator[K8sCluster]:
    if not getattr(k8s_manager, "orderflow", False):
        # Registered before pytest-kubernetes (`-p tests.testbed.plugin`), this plugin's
        # k8s_manager loses to upstream's, whose default is any cluster tool on PATH.
        raise pytest.UsageError(
            "load tests.testbed.plugin from a conftest's pytest_plugins, not with -p"
        )
    chosen = k8s_manager(None)
    ensure(tools(chosen))  # a no-op after collection built them
    testbed = issubclass(chosen, TestBedManager)
    if testbed:
        reap_stale(default_root())
    manager = chosen(request.config.getoption("k8s_cluster_name"))
    # Creates the cluster, or attaches when its kubeconfig answers (then never deletes it).
    manager.create()
    try:
        if manager.kubeconfig is None:
            raise RuntimeError(f"{type(manager).__name__} gave no kubeconfig")
        cluster = K8sCluster(
            kubeconfig=manager.kubeconfig, version=kubernetes_version(), kwok=testbed,
            manager=manager,
        )  # fmt: skip
        if not testbed:
            # A named cluster may be a test bed started by `make cluster`: tell by its nodes.
            nodes = cluster.get("nodes")["items"]
            cluster.kwok = any(
                KWOK_ANNOTATION in n["metadata"].get("annotations", {}) for n in nodes
            )
            cluster.real_node = cluster.kwok and any(
                n["metadata"]["name"] == realnode.NODE_NAME for n in nodes
            )
        yield cluster
    finally:
        manager.delete()


def _namespace_name(request: pytest.FixtureRequest) -> str:
    # Readable in `kubectl get ns` yet unique across xdist workers and reruns.
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"t-{base}-{uuid.uuid4().hex[:6]}"


def _namespace(
    cluster: K8sCluster, request: pytest.FixtureRequest, labels: dict[str, str]
) -> Iterator[str]:
    name = _namespace_name(request)
    label_lines = "".join(f"    {k}: {v!r}\n" for k, v in labels.items())
    manifest = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    if label_lines:
        manifest += "  labels:\n" + label_lines
    cluster.kubectl("apply", "-f", "-", input=manifest)
    # The ServiceAccount admission plugin rejects pods until the controller-manager has
    # created the namespace's `default` ServiceAccount: wait for it, or tests flake.
    cluster.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    try:
        yield name
    finally:
        # Don't wait: namespace finalization runs in the background while tests go on.
        cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


@pytest.fixture
def k8s_namespace(k8s_cluster: K8sCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _namespace(k8s_cluster, request, {})


@pytest.fixture
def k8s_restricted_namespace(
    k8s_cluster: K8sCluster, request: pytest.FixtureRequest
) -> Iterator[str]:
    yield from _namespace(
        k8s_cluster,
        request,
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    )
