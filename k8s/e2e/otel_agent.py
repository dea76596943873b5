"""The Python agent image for the OpenTelemetry Operator's injection (``k8s/otel-python-agent``),
built for this app: the app image's base (Python 3.11, glibc) and exactly the OpenTelemetry
packages of ``uv.lock``, so the packages the operator puts first on ``PYTHONPATH`` are the ones
the app already has (the Dockerfile says why that matters).

    python -m k8s.e2e.otel_agent requirements   # the pinned, hashed requirements, on stdout
    python -m k8s.e2e.otel_agent build          # build the image; prints its reference
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from k8s.e2e import images
from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "uv.lock"
DOCKERFILE = ROOT / "k8s" / "otel-python-agent" / "Dockerfile"
REPOSITORY = "orderflow-otel-python"
PREFIX = "opentelemetry-"
# The injected agent exports OTLP over HTTP only; gRPC's native wheels are the app's business.
LEFT_OUT = {"opentelemetry-exporter-otlp-proto-grpc"}


def _applies(dependency: dict[str, Any]) -> bool:
    # Evaluated for the running interpreter: the venv's Python 3.11 on Linux, as in the image.
    marker = dependency.get("marker")
    return marker is None or Marker(marker).evaluate()


def closure(lock: dict[str, Any]) -> list[dict[str, Any]]:
    """uv.lock's opentelemetry-* packages (minus LEFT_OUT) and everything they depend on, with
    the extras they are asked for, as the lock's package entries, sorted by name."""
    packages = {p["name"]: p for p in lock["package"]}
    wanted = [n for n in packages if n.startswith(PREFIX) and n not in LEFT_OUT]
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        package = packages[name]
        deps = list(package.get("dependencies", []))
        for dep in package.get("dependencies", []):
            for extra in dep.get("extra", []):
                deps += packages[dep["name"]].get("optional-dependencies", {}).get(extra, [])
        wanted += [d["name"] for d in deps if _applies(d)]
    return [packages[n] for n in sorted(seen)]


def requirements(lock_file: Path = LOCK) -> str:
    """``name==version --hash=...`` lines for pip's hash-checking mode (wheels and sdist)."""
    lock = tomllib.loads(lock_file.read_text())
    lines = []
    for package in closure(lock):
        artifacts = [
            *package.get("wheels", []),
            *([package["sdist"]] if "sdist" in package else []),
        ]
        hashes = " ".join(f"--hash={a['hash']}" for a in artifacts)
        lines.append(f"{package['name']}=={package['version']} {hashes}")
    return "\n".join(lines) + "\n"


def build() -> images.Image:
    """Build (Docker's layer cache makes a rebuild with an unchanged lock a no-op); the image is
    tagged ``e2e-<id>`` like every image of the end-to-end install."""
    base = images.base_image()
    with tempfile.TemporaryDirectory() as context:
        shutil.copy2(DOCKERFILE, Path(context) / "Dockerfile")
        (Path(context) / "requirements.txt").write_text(requirements())
        local = f"{REPOSITORY}:build"
        images.build_image(Path(context) / "Dockerfile", Path(context), None, base, local)
    return images.Image("otelOperator.pythonImage", REPOSITORY, images.retag(local, REPOSITORY))


def main(argv: list[str]) -> int:
    if argv == ["requirements"]:
        sys.stdout.write(requirements())
        return 0
    if argv == ["build"]:
        print(build().ref)
        return 0
    print("usage: python -m k8s.e2e.otel_agent requirements|build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
