"""Paths and helpers shared by the inner-loop tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]

SKAFFOLD = REPO / "skaffold.yaml"
# Where the dev layer of the Tiltfile and skaffold.yaml puts the live package (in the pod's
# /tmp emptyDir): a path inside the container, not a temporary file of the tests.
DEV_DIR = "/tmp/dev"  # noqa: S108


def skaffold_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(SKAFFOLD.read_text())
    return config


def dev_layer_from_skaffold() -> str:
    """The dev layer Dockerfile of skaffold.yaml's `dev` profile (the heredoc of its custom
    build command, shared by the three artifacts through a YAML anchor)."""
    dev = next(p for p in skaffold_config()["profiles"] if p["name"] == "dev")
    commands = {a["custom"]["buildCommand"] for a in dev["build"]["artifacts"]}
    assert len(commands) == 1, "the three images share one build command"
    command = str(commands.pop())
    start = command.index("<<'DEVLAYER'\n") + len("<<'DEVLAYER'\n")
    return command[start : command.index("\nDEVLAYER\n", start)]


def mirror(tmp: Path, replace: dict[str, str]) -> Path:
    """A directory whose top-level entries are symlinks to the repository's, except the files
    in `replace` (name -> new content). Lets a tool evaluate a modified Tiltfile or
    skaffold.yaml with every relative path intact, without writing into the checkout."""
    root = tmp / "mirror"
    root.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in replace and entry.name != ".git":
            (root / entry.name).symlink_to(entry)
    for name, content in replace.items():
        (root / name).write_text(content)
    return root
