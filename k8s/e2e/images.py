"""Every image of the end-to-end install, built with the local Docker engine and copied into
the real node's containerd (what ``kind load docker-image`` does).

- the project's own: API, worker and operator (``k8s/base-image/images.sh``, the root
  ``Dockerfile``'s three targets);
- stand-ins for the dependencies the chart pins upstream (``k8s/standins/``).

Tags are derived from the Docker image id (``e2e-<12 hex>``): a rebuilt image gets a new tag,
so ``helm upgrade`` rolls the pods, and an image the node already holds is not copied again.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from k8s.testbed.tools import ensure

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE_DIR = ROOT / "k8s" / "base-image"
STANDINS = ROOT / "k8s" / "standins"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class Image:
    """One image: the chart's values key that selects it, and the reference to use."""

    values_key: str  # e.g. "api.image" (app chart) or "image" (operator chart)
    repository: str
    tag: str

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def _log(message: str) -> None:
    print(f"e2e: {message}", file=sys.stderr, flush=True)


@functools.cache
def docker_client() -> str:
    """The Docker client to build with, as ``k8s/base-image/docker-client.sh`` chooses it for
    ``images.sh`` too (one that can use BuildKit)."""
    chosen = subprocess.run(
        [str(BASE_IMAGE_DIR / "docker-client.sh")], capture_output=True, text=True, check=False
    )
    if chosen.returncode:
        raise RuntimeError(chosen.stderr.strip())
    return chosen.stdout.strip()


def _docker(*args: str, stdin: int | None = None) -> str:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    out = subprocess.run(
        [docker_client(), *args], env=env, capture_output=True, text=True, check=False, stdin=stdin
    )
    if out.returncode:
        raise RuntimeError(f"docker {' '.join(args[:3])} ... failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip()


def retag(source: str, repository: str) -> str:
    """Tag ``source`` as ``repository:e2e-<id>``; returns the tag."""
    image_id = _docker("image", "inspect", "--format", "{{.Id}}", source)
    tag = "e2e-" + image_id.removeprefix("sha256:")[:12]
    _docker("tag", source, f"{repository}:{tag}")
    return tag


def base_image() -> str:
    """The local Debian + Python base (built once, cached; see k8s/base-image/build.sh)."""
    return subprocess.run(
        [str(BASE_IMAGE_DIR / "build.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()


def build_image(dockerfile: Path, context: Path, target: str | None, base: str, ref: str) -> None:
    secret = ["--secret", f"id=cacert,src={CA_BUNDLE}"] if CA_BUNDLE.exists() else []
    _docker(
        "build", "--quiet", "--network", "host", "-f", str(dockerfile),
        *(["--target", target] if target else []),
        "--build-arg", f"BASE_IMAGE={base}", *secret, "-t", ref, str(context),
    )  # fmt: skip


def build_all() -> list[Image]:
    """Build (incrementally: Docker's layer cache) every image the install needs."""
    env = {**os.environ}
    _log("building the API, worker and operator images (k8s/base-image/images.sh)")
    built = subprocess.run(
        [str(BASE_IMAGE_DIR / "images.sh")], capture_output=True, text=True, env=env, check=False
    )
    if built.returncode:
        raise RuntimeError(f"images.sh failed:\n{built.stderr[-3000:]}")
    api_ref, worker_ref, operator_ref = built.stdout.split()
    base = base_image()
    images = [
        Image("api.image", "orderflow-api", retag(api_ref, "orderflow-api")),
        Image("worker.image", "orderflow-worker", retag(worker_ref, "orderflow-worker")),
        Image("image", "orderflow-operator", retag(operator_ref, "orderflow-operator")),
    ]
    for name in ("postgres", "redis"):
        _log(f"building the {name} stand-in (k8s/standins/{name})")
        local = f"orderflow.local/{name}:build"
        build_image(STANDINS / name / "Dockerfile", STANDINS / name, None, base, local)
        key = "postgresql.image" if name == "postgres" else "redis.image"
        images.append(
            Image(key, f"orderflow.local/{name}", retag(local, f"orderflow.local/{name}"))
        )
    _log("building the collector stand-in from the project's otelcol build")
    otelcol = ensure(["otelcol"])["otelcol"]
    with tempfile.TemporaryDirectory() as context:
        shutil.copy2(otelcol.resolve(), Path(context) / "otelcol")
        local = "orderflow.local/otelcol:build"
        build_image(STANDINS / "collector" / "Dockerfile", Path(context), None, base, local)
    images.append(
        Image("collector.image", "orderflow.local/otelcol", retag(local, "orderflow.local/otelcol"))
    )
    return images
