"""pytest plugin: Kubernetes fixtures for every test suite of the project.

Load it from the root conftest with ``pytest_plugins = ["tests.testbed.plugin"]``.

Which cluster the tests get (they create and delete namespaces, so only one named on
purpose is used; the ambient ``KUBECONFIG`` is deliberately ignored):

1. ``--k8s-kubeconfig-override PATH`` (same option name as pytest-kubernetes), else
2. ``ORDERFLOW_TEST_KUBECONFIG=PATH`` in the environment, else
3. the project's test bed, started for the session (``k8s/testbed``) and stopped after.

Fixtures: ``k8s_cluster`` (session), ``k8s_namespace`` and ``k8s_restricted_namespace``
(function). The tools (kubectl, helm, ...) are always the project's pinned builds, built on
first use and cached: a test never skips because a tool is missing.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from k8s.testbed import realnode
from k8s.testbed.cluster import BINARIES, default_root
from k8s.testbed.nodes import KWOK_ANNOTATION
from k8s.testbed.tools import ensure, kubernetes_version

from tests.testbed.handle import K8sCluster, reap_stale, shared_testbed

if TYPE_CHECKING:
    from collections.abc import Iterator

ENV_KUBECONFIG = "ORDERFLOW_TEST_KUBECONFIG"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("k8s", "Kubernetes test bed")
    group.addoption(
        "--k8s-kubeconfig-override",
        default=None,
        help=f"use this existing cluster instead of the test bed (or set {ENV_KUBECONFIG})",
    )
    group.addoption(
        "--k8s-nodes", type=int, default=3, help="kwok fake nodes on the test bed (default 3)"
    )
    group.addoption(
        "--k8s-real-node",
        action="store_true",
        default=bool(os.environ.get("ORDERFLOW_TESTBED_REAL_NODE")),
        help="also join a real kubelet + containerd node to the test bed (root, Debian packages)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Build the tools before any test runs when Kubernetes tests were collected: a cold
    build takes minutes and must not count against a test's timeout (pytest-timeout
    includes fixture setup). A no-op on a warm machine and under `make test`.

    Real-node tests run only when a real node was asked for: otherwise they are deselected
    (reported as such; not a skip that looks like coverage)."""
    if not config.getoption("--k8s-real-node"):
        deselected = [item for item in items if item.get_closest_marker("real_node")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("real_node")]
    if not any("k8s_cluster" in getattr(item, "fixturenames", ()) for item in items):
        return
    if _named_kubeconfig(config) is not None:
        ensure(["kubectl", "helm"])
    else:
        real = config.getoption("--k8s-real-node")
        ensure([*BINARIES, "kubeconform", *(realnode.BINARIES if real else [])])


def _named_kubeconfig(config: pytest.Config) -> Path | None:
    named = config.getoption("--k8s-kubeconfig-override") or os.environ.get(ENV_KUBECONFIG)
    if not named:
        return None
    path = Path(named).expanduser().resolve()
    if not path.is_file():
        raise pytest.UsageError(f"kubeconfig {path} does not exist")
    return path


@pytest.fixture(scope="session")
def k8s_cluster(request: pytest.FixtureRequest) -> Iterator[K8sCluster]:
    version = kubernetes_version()
    named = _named_kubeconfig(request.config)
    if named is not None:
        ensure(["kubectl", "helm"])
        cluster = K8sCluster(kubeconfig=named, version=version, kwok=False)
        # A named cluster may be a test bed started by `make cluster`: tell by its nodes.
        nodes = cluster.get("nodes")["items"]
        cluster.kwok = any(KWOK_ANNOTATION in n["metadata"].get("annotations", {}) for n in nodes)
        cluster.real_node = cluster.kwok and any(
            n["metadata"]["name"] == realnode.NODE_NAME for n in nodes
        )
        yield cluster
        return
    reap_stale(default_root())
    with shared_testbed(
        nodes=request.config.getoption("--k8s-nodes"),
        real_node=request.config.getoption("--k8s-real-node"),
    ) as bed:
        yield K8sCluster(
            kubeconfig=bed.kubeconfig, version=version, kwok=True, real_node=bed.config.real_node
        )


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
