"""Local container images for the real-node stage, built without any registry.

- base image: a Debian root filesystem from ``debootstrap`` (mirror taken from the host's
  apt sources, so the same reachable mirror/proxy is used), packed as an OCI archive;
- pause image: the Kubernetes ``pause.c`` from the pinned k8s.io/kubernetes module, compiled
  statically (containerd needs a sandbox image and cannot pull one).

Images are cached under ``${ORDERFLOW_CACHE}/images`` and imported with ``ctr images import``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from k8s.testbed.tools import gotool

SUITE = "bookworm"
BASE_IMAGE = f"orderflow.local/debian-base:{SUITE}"
PAUSE_IMAGE = "orderflow.local/pause:3.10"


def images_dir() -> Path:
    return Path(gotool().cache_root()) / "images"


def apt_mirror() -> str:
    """The Debian mirror URI the host's apt uses (never hard-coded here)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for stanza in sources.read_text().split("\n\n"):
            if "-security" in stanza:
                continue
            match = re.search(r"^URIs:\s*(\S+)", stanza, re.MULTILINE)
            if match:
                return match.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "security" not in parts[1]:
                return parts[1]
    raise RuntimeError("no Debian mirror found in the apt sources")


def debootstrap_rootfs() -> Path:
    """A minbase Debian root filesystem, made once per machine."""
    target = images_dir() / f"rootfs-{SUITE}-minbase"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["debootstrap", "--variant=minbase", SUITE, str(target), apt_mirror()]
    print(f"image: {' '.join(cmd)}", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)
    # Smaller layer; apt lists and caches are useless inside a test image.
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (target / junk).glob("*"):
            if item.is_file():
                item.unlink()
    (target / ".complete").touch()
    return target


def pause_rootfs() -> Path:
    target = images_dir() / "rootfs-pause"
    binary = target / "pause"
    if binary.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    k8s = gotool().load_all()["kube-apiserver"]
    source = _module_dir(k8s.path, "k8s.io/kubernetes") / "build" / "pause" / "linux" / "pause.c"
    subprocess.run(
        ["gcc", "-Os", "-static", "-DVERSION=v3.10-orderflow", "-o", str(binary), str(source)],
        check=True,
    )
    subprocess.run(["strip", str(binary)], check=True)
    return target


def _module_dir(module_dir: Path, module: str) -> Path:
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", module],
        cwd=module_dir,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    return Path(out.stdout.strip())


def oci_archive(rootfs: Path, ref: str, config: dict[str, object]) -> Path:
    """Pack ``rootfs`` as a one-layer OCI image archive that ``ctr images import`` takes."""
    safe = re.sub(r"[^a-zA-Z0-9.-]+", "_", ref)
    archive = images_dir() / f"{safe}.oci.tar"
    if archive.exists():
        return archive
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        layer = Path(tmp) / "layer.tar"
        # Uncompressed layer: its digest is its diff_id; the archive never leaves the host.
        subprocess.run(
            [
                "tar",
                "--numeric-owner",
                "--exclude=./.complete",
                "-C",
                str(rootfs),
                "-cf",
                str(layer),
                ".",
            ],
            check=True,
        )
        layer_digest, layer_size = _digest(layer)
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
        blobs: dict[str, bytes] = {}
        config_bytes = json.dumps(image_config).encode()
        config_digest = _add(blobs, config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        }
        manifest_bytes = json.dumps(manifest).encode()
        manifest_digest = _add(blobs, manifest_bytes)
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest_bytes),
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1],
                    },
                }
            ],
        }
        partial = archive.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
            _add_bytes(tar, "index.json", json.dumps(index).encode())
            for digest, data in blobs.items():
                _add_bytes(tar, f"blobs/sha256/{digest.removeprefix('sha256:')}", data)
            tar.add(layer, arcname=f"blobs/sha256/{layer_digest.removeprefix('sha256:')}")
        partial.replace(archive)
    return archive


def _digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}", path.stat().st_size


def _add(blobs: dict[str, bytes], data: bytes) -> str:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    blobs[digest] = data
    return digest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def build_images() -> dict[str, Path]:
    """Both archives (built once, cached): image reference -> OCI archive."""
    path_env = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {
        PAUSE_IMAGE: oci_archive(pause_rootfs(), PAUSE_IMAGE, {"Entrypoint": ["/pause"]}),
        BASE_IMAGE: oci_archive(
            debootstrap_rootfs(), BASE_IMAGE, {"Cmd": ["/bin/bash"], "Env": [path_env]}
        ),
    }


if __name__ == "__main__":
    for ref, path in build_images().items():
        print(f"{ref}\t{path}")
