"""Access to the project's pinned Go tools (tools/gotool.py) from Python."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@functools.cache
def gotool() -> Any:
    """tools/gotool.py as a module. It is loaded by path because it is a stdlib-only
    script (usable before the venv exists), not an installed package."""
    spec = importlib.util.spec_from_file_location("orderflow_gotool", REPO / "tools" / "gotool.py")
    if spec is None or spec.loader is None:
        raise ImportError("tools/gotool.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules["orderflow_gotool"] = module
    spec.loader.exec_module(module)
    return module


def ensure(names: list[str]) -> dict[str, Path]:
    """Build what is missing (no-op when warm); binary name -> path."""
    return {k: Path(v) for k, v in gotool().ensure(names).items()}


def kubernetes_version() -> str:
    """The pinned Kubernetes version (``v1.36.4``), from tools/go/kubernetes/tool.toml."""
    return str(gotool().load_all()["kube-apiserver"].version)


def bin_dir() -> Path:
    return Path(gotool().bin_dir())
