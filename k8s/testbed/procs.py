"""Start and stop the test bed's daemons; their pids live in the run directory so that a
later ``stop`` (another process, e.g. ``make cluster-down``) can end exactly them."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child before exec: the kernel sends SIGKILL when the parent (pytest)
    # dies, so a killed test session leaves no daemons behind. SIGKILL, not SIGTERM: a
    # terminated apiserver whose etcd is already gone hangs in graceful shutdown.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Supervisor:
    """Owns the daemons of one run directory (pids recorded in ``pids.json``)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.pid_file = run_dir / "pids.json"
        self.log_dir = run_dir / "logs"

    def _pids(self) -> dict[str, int]:
        if not self.pid_file.exists():
            return {}
        data: dict[str, int] = json.loads(self.pid_file.read_text())
        return data

    def _save(self, pids: dict[str, int]) -> None:
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids, indent=1))
        tmp.replace(self.pid_file)

    def start(
        self, name: str, argv: list[str], *, tie_to_parent: bool, env: dict[str, str] | None = None
    ) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                env=env,
                # Own session: Ctrl-C in the shell that ran `make cluster` must not kill it.
                start_new_session=True,
                # prctl only, no locks taken: safe between fork and exec.
                preexec_fn=_die_with_parent if tie_to_parent else None,  # noqa: PLW1509
            )
        pids = self._pids()
        pids[name] = proc.pid
        self._save(pids)
        return proc.pid

    def alive(self, name: str) -> bool:
        pid = self._pids().get(name)
        return pid is not None and _is_ours(pid, self.run_dir)

    def status(self) -> dict[str, bool]:
        return {name: _is_ours(pid, self.run_dir) for name, pid in self._pids().items()}

    def stop(self, name: str, timeout: float = 15.0) -> None:
        pids = self._pids()
        if name in pids:
            _terminate(pids.pop(name), self.run_dir, timeout)
            self._save(pids)

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stop in reverse start order: clients before the apiserver, etcd last."""
        pids = self._pids()
        for name in reversed(list(pids)):
            _terminate(pids[name], self.run_dir, timeout)
            del pids[name]
            self._save(pids)


def _is_ours(pid: int, run_dir: Path) -> bool:
    """True if ``pid`` is alive and is one of our daemons (guards against pid reuse)."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return cwd == str(run_dir) and state != "Z"


def _terminate(pid: int, run_dir: Path, timeout: float) -> None:
    if not _is_ours(pid, run_dir):
        _reap(pid)
        return
    os.kill(pid, signal.SIGTERM)
    if not _wait(lambda: not _is_ours(pid, run_dir), timeout):
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: not _is_ours(pid, run_dir), 5)
    _reap(pid)


def _reap(pid: int) -> None:
    # Our own children would linger as zombies until reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.1)
    return done()
