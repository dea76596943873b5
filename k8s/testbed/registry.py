"""The test bed's local image registry, for beds with a real node.

``crane registry serve`` (go-containerregistry, built by tools/: ``tools/go/registry``) on a
loopback port, blobs on disk in the run directory. It lives and dies with the bed:

- the local Docker engine pushes to ``localhost:<port>`` (Docker treats 127.0.0.0/8
  registries as insecure, i.e. plain HTTP, without configuration);
- the real node's containerd pulls from it: a ``hosts.toml`` for ``localhost:<port>`` in the
  node's registry config directory (``RealNode.registry_config_dir``) says plain HTTP;
- the cluster advertises it the standard way (the ``local-registry-hosting`` ConfigMap in
  ``kube-public``, KEP-1755), which Tilt reads by itself: no per-machine configuration.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import yaml
from k8s.testbed import cluster  # at call time only: cluster.py imports this module
from k8s.testbed.procs import free_port

if TYPE_CHECKING:
    from k8s.testbed.cluster import TestBed
    from k8s.testbed.realnode import RealNode

PROCESS = "registry"
BINARY = "crane"
CONFIGMAP = "local-registry-hosting"
CONFIGMAP_NAMESPACE = "kube-public"
HELP = "docs/inner-loop.md (the test bed's local registry)"


def start(bed: TestBed, node: RealNode) -> str:
    """Start the registry, point the node's containerd at it and advertise it; returns its
    host (``localhost:<port>``)."""
    port = free_port()
    storage = bed.run_dir / "registry"
    storage.mkdir(parents=True, exist_ok=True)
    argv = [
        str(bed.bins[BINARY]),
        "registry",
        "serve",
        f"--address=127.0.0.1:{port}",
        f"--disk={storage}",
    ]
    bed.sup.start(PROCESS, argv, tie_to_parent=bed.config.tie_to_parent)
    bed._wait(lambda: cluster.http_ok(f"http://127.0.0.1:{port}/v2/"), "the local registry")
    host = f"localhost:{port}"
    hosts_dir = node.registry_config_dir / host
    hosts_dir.mkdir(parents=True, exist_ok=True)
    # containerd reads this directory on every pull: no restart needed.
    (hosts_dir / "hosts.toml").write_text(f'server = "http://127.0.0.1:{port}"\n')
    advertise(bed, host)
    return host


def advertise(bed: TestBed, host: str) -> None:
    """The ``local-registry-hosting`` ConfigMap: the same address from the host (where the
    tools push) and from the container runtime (the node's containerd runs on the host)."""
    hosting = {"host": host, "hostFromContainerRuntime": host, "help": HELP}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": CONFIGMAP_NAMESPACE},
        "data": {"localRegistryHosting.v1": yaml.safe_dump(hosting, sort_keys=True)},
    }
    bed.kubectl("apply", "-f", "-", input=json.dumps(configmap))


def discover(bed: TestBed) -> str | None:
    """The advertised registry host as a tool reads it, or None."""
    out = bed.kubectl(
        "get", "configmap", CONFIGMAP, "-n", CONFIGMAP_NAMESPACE, "-o", "json", check=False
    )
    if out.returncode:
        return None
    data = json.loads(out.stdout)["data"]["localRegistryHosting.v1"]
    host = yaml.safe_load(data).get("host")
    return str(host) if host else None
