"""The object behind the ``k8s_cluster`` fixture, and the test-bed sharing between
pytest-xdist workers (one control plane per test run, not one per worker)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from k8s.testbed.cluster import Config, TestBed, default_root
from k8s.testbed.tools import bin_dir, ensure

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pytest_kubernetes.providers.base import AClusterManager


@dataclass
class K8sCluster:
    """A cluster the tests may use destructively: the test bed or one named explicitly."""

    kubeconfig: Path
    version: str  # the pinned Kubernetes version of the project's tools
    kwok: bool  # True on the test bed (simulated nodes), False on kind or another cluster
    real_node: bool = False  # the test bed also has a real kubelet node (stage 2)
    # The pytest-kubernetes provider behind it (``load_image``, ``port_forwarding``...); None
    # for a handle made by hand (the end-to-end suite's own bed).
    manager: AClusterManager | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bindir = str(bin_dir())
        self.env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def bin(self, name: str) -> Path:
        """Path of a project-built tool; builds it on first use (no-op when cached)."""
        return ensure([name])[name]

    def run(
        self, tool: str, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin(tool)), *args]
        proc = subprocess.run(
            cmd, env=self.env, input=input, capture_output=True, text=True, check=False
        )
        if check and proc.returncode:
            # CalledProcessError hides stderr in the test report; show it.
            raise AssertionError(
                f"{' '.join(cmd)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, check=check, input=input)

    def helm(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, check=check, input=input)

    def get(self, *args: str) -> Any:
        """``kubectl get ... -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


@contextmanager
def _locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Exclusive flock on ``path``; yields False (not held) if ``wait`` is off and it is busy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_lock(root: Path, name: str) -> Path:
    # One lock per test run (its xdist workers share it), so sessions never wait for each
    # other's control plane to start.
    return root / "locks" / f"{name}.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _users(run_dir: Path) -> set[int]:
    path = run_dir / "users.json"
    users = set(json.loads(path.read_text())) if path.exists() else set()
    return {pid for pid in users if _alive(pid)}


def _save_users(run_dir: Path, users: set[int]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "users.json").write_text(json.dumps(sorted(users)))


def reap_stale(root: Path) -> None:
    """Stop test beds of pytest sessions that died without tearing down."""
    for run_dir in root.glob("pytest-*"):
        if not run_dir.is_dir():
            continue
        lock = _run_lock(root, run_dir.name)
        with _locked(lock, wait=False) as held:
            # Busy lock: that session is starting or stopping its bed right now.
            if held and not _users(run_dir):
                TestBed(Config(name=run_dir.name, root=root)).stop(remove=True)
                # Safe to delete while held: run names are unique (pid / xdist run id),
                # so no live session will ever open this lock again.
                lock.unlink(missing_ok=True)


@contextmanager
def shared_testbed(nodes: int = 3, real_node: bool = False) -> Iterator[TestBed]:
    """Start (or join) this test run's test bed; the last user to leave stops it."""
    root = default_root()
    root.mkdir(parents=True, exist_ok=True)
    worker_run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    name = f"pytest-{worker_run[:12]}" if worker_run else f"pytest-{os.getpid()}"
    # Without xdist the daemons die with this process even on SIGKILL; with xdist the
    # first worker may finish before the others, so the users file decides instead.
    config = Config(
        name=name, root=root, nodes=nodes, tie_to_parent=not worker_run, real_node=real_node
    )
    bed = TestBed(config)
    lock = _run_lock(root, name)
    with _locked(lock):
        users = _users(bed.run_dir)
        if not bed.running():
            bed.start()
        else:
            bed.ensure_tools()
        _save_users(bed.run_dir, users | {os.getpid()})
    try:
        yield bed
    finally:
        with _locked(lock):
            users = _users(bed.run_dir) - {os.getpid()}
            if users:
                _save_users(bed.run_dir, users)
            elif os.environ.get("ORDERFLOW_TESTBED_KEEP"):
                # Debugging: keep the run directory (logs, etcd); `make cluster-down`-style
                # cleanup happens through reap_stale on the next session.
                pass
            else:
                bed.stop(remove=True)
                lock.unlink(missing_ok=True)
