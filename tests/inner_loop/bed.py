"""The test bed with its real node, as Tilt and Skaffold see a development cluster.

The bed (``k8s/testbed``, the real node untainted and alone, as for ``make e2e-up``) comes
with its local registry, advertised by the ``local-registry-hosting`` ConfigMap: Tilt reads it
by itself, Skaffold is given it as ``--default-repo`` (``mk/inner-loop.mk`` does the same).
What the tools cannot build here is supplied the way ``k8s/e2e`` does it, as one extra values
file for the app chart (``values_file``): stand-ins for the upstream PostgreSQL, Redis and
Collector images, copied into the node, and LGTM (which cannot run here) replaced by the host
OTLP sink the in-cluster Collector exports to. The chart's PVCs bind to hostPath volumes,
fresh for every deployment (``fresh_volumes``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from k8s.e2e import images as e2e_images
from k8s.e2e import sink
from k8s.e2e.install import _images_values, _volumes
from k8s.testbed import registry
from k8s.testbed.cluster import Config, TestBed, host_ip
from k8s.testbed.realnode import RealNode
from k8s.testbed.tools import bin_dir

from tests.inner_loop.repo import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator

NAME = "inner-loop"
NAMESPACE = "orderflow-dev"
STANDIN_PREFIX = "orderflow.local/"


@dataclass
class DevCluster:
    bed: TestBed
    registry: str  # host:port, as advertised
    values_file: Path
    base_image: str  # the local Debian + Python base (nothing can be pulled here)

    def env(self, home: Path) -> dict[str, str]:
        """What the tools run with: the bed's kubeconfig, the pinned tools and a Docker
        client that can use BuildKit first on PATH (``DOCKER`` for skaffold.yaml's build
        commands), a HOME of their own (no developer settings, no state left behind)."""
        docker = e2e_images.docker_client()
        docker_dir = str(Path(shutil.which(docker) or docker).parent)
        return {
            **os.environ,
            "KUBECONFIG": str(self.bed.kubeconfig),
            "PATH": os.pathsep.join([str(bin_dir()), docker_dir, os.environ.get("PATH", "")]),
            "DOCKER": docker,
            "DOCKER_BUILDKIT": "1",
            # Read by the Tiltfile and skaffold.yaml's build commands (the Dockerfiles' ARG).
            "BASE_IMAGE": self.base_image,
            "HOME": str(home),
        }

    def fresh_volumes(self) -> None:
        """hostPath PersistentVolumes with empty directories: a new PostgreSQL initialises
        its data with the password of the new deployment (Tilt's and Skaffold's differ)."""
        self.bed.kubectl("delete", "pv", "-l", "orderflow.dev/e2e=true", "--wait=true")
        shutil.rmtree(self.bed.run_dir / "volumes", ignore_errors=True)
        _volumes(self.bed)

    def pods(self) -> list[str]:
        out = self.bed.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name", check=False)
        return out.stdout.split()


def start() -> DevCluster:
    """Build the stand-ins, start the bed with its real node and registry."""
    built = e2e_images.build_all()  # incremental; the project's own images are Tilt's job
    standins = [i for i in built if i.repository.startswith(STANDIN_PREFIX)]
    bed = TestBed(
        Config(name=NAME, nodes=0, real_node=True, real_node_taint=False, tie_to_parent=True)
    )
    bed.start()
    RealNode(bed).load_docker_images([i.ref for i in standins])
    host = registry.discover(bed)
    assert host, "the bed advertises its registry"
    endpoint = sink.start(bed, host_ip())
    values, _ = _images_values(standins)
    values.update(
        lgtm={"enabled": False},
        externalLgtm={"otlpEndpoint": endpoint, "insecure": True},
    )
    values_file = bed.run_dir / "inner-loop-values.yaml"
    values_file.write_text(yaml.safe_dump(values, sort_keys=True))
    return DevCluster(bed, host, values_file, e2e_images.base_image())


def checkout_copy(dest: Path) -> Path:
    """The working tree's files (tracked and new, not ignored) copied to ``dest``: a checkout
    the tests may edit while the tools watch it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        source = REPO / raw.decode()
        if not source.is_file():  # deleted in the working tree
            continue
        target = dest / raw.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return dest


def lines(path: Path) -> Iterator[str]:
    return iter(path.read_text(errors="replace").splitlines()) if path.exists() else iter(())
