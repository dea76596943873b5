"""Start, probe and stop local processes: the one runner behind the test bed's daemons and the
tests' servers (Collector, Prometheus, Alertmanager, ``orderflow`` entry points, the operator).

``spawn`` starts a binary with its output appended to a log file; ``Process`` owns one child of
this Python process (wait until a probe says ready, stop with SIGTERM then SIGKILL on its
process group); ``Supervisor`` owns daemons that outlive the process that started them (pids in
the run directory, so that a later ``stop``, e.g. ``make cluster-down``, ends exactly them).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self

import httpx
from k8s.testbed.wait import poll

from orderflow.devservices import free_port

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Process", "ProcessError", "Supervisor", "free_port", "http_ok", "spawn"]

_PR_SET_PDEATHSIG = 1


class ProcessError(RuntimeError):
    """A process exited before it was ready, or was not ready in time."""


def _die_with(sig: int) -> Callable[[], None]:
    def prctl() -> None:
        # Runs in the child before exec (prctl only, no locks taken: safe between fork and
        # exec): the kernel sends ``sig`` when the parent (pytest) dies, so a killed session
        # leaves nothing behind.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return prctl


def spawn(
    argv: list[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    own_session: bool = True,
    parent_death_signal: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` (stdin closed, stdout and stderr appended to ``log_path``).

    ``own_session``: its own session and process group, so that a Ctrl-C meant for pytest or
    ``make`` does not reach it before its owner stops it. ``parent_death_signal``: what the
    kernel sends it when this process dies. ``env`` replaces the environment (None: inherit).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=own_session,
            preexec_fn=None if parent_death_signal is None else _die_with(parent_death_signal),  # noqa: PLW1509
        )


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness probe: ``url`` answers 200."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


@dataclass
class Process:
    """One child process: ``argv`` with ``env`` added to this process's environment, its output
    in ``log_path``."""

    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    own_session: bool = True
    parent_death_signal: int | None = None
    stop_timeout: float = 20.0  # seconds between the stop signal and SIGKILL
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(
        self,
        ready: Callable[[], object] | None = None,
        *,
        timeout: float = 30.0,
        interval: float = 0.1,
        error: type[Exception] = ProcessError,
    ) -> Self:
        """Start, then (with ``ready``) wait until the probe is truthy; ``error`` (with the log's
        tail) if the process exits first or the probe stays falsy for ``timeout`` seconds."""
        self.popen = spawn(
            self.argv,
            self.log_path,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            own_session=self.own_session,
            parent_death_signal=self.parent_death_signal,
        )
        if ready is not None:
            try:
                self.wait_ready(ready, timeout=timeout, interval=interval, error=error)
            except BaseException:
                self.stop()  # not left running behind a failed start
                raise
        return self

    def wait_ready(
        self,
        ready: Callable[[], object],
        *,
        timeout: float = 30.0,
        interval: float = 0.1,
        error: type[Exception] = ProcessError,
    ) -> None:
        name = Path(self.argv[0]).name

        def probe() -> object:
            if not self.running:
                code = self.popen.returncode if self.popen else None
                raise error(f"{name} exited at start-up ({code}):\n{self.log()[-4000:]}")
            return ready()

        if not poll(probe, timeout=timeout, interval=interval):
            raise error(f"{name} not ready after {timeout}s:\n{self.log()[-4000:]}")

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def send(self, sig: int) -> None:
        """``sig`` to its process group (its own session) or to it alone."""
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError):
            if self.own_session:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float | None = None) -> int | None:
        """``sig``, then SIGKILL after ``timeout`` (default ``stop_timeout``) seconds; the exit
        code (None if not started)."""
        timeout = self.stop_timeout if timeout is None else timeout
        popen = self.popen
        if popen is None:
            return None
        if popen.poll() is None:
            self.send(sig)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.send(signal.SIGKILL)
                popen.wait()
        self.popen = None
        return popen.returncode


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
        # Own session: Ctrl-C in the shell that ran `make cluster` must not kill it. SIGKILL on
        # the parent's death, not SIGTERM: a terminated apiserver whose etcd is already gone
        # hangs in graceful shutdown.
        proc = spawn(
            argv,
            self.log_dir / f"{name}.log",
            env=env,
            cwd=self.run_dir,
            parent_death_signal=signal.SIGKILL if tie_to_parent else None,
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
    if not poll(lambda: not _is_ours(pid, run_dir), timeout=timeout, interval=0.1):
        os.kill(pid, signal.SIGKILL)
        poll(lambda: not _is_ours(pid, run_dir), timeout=5, interval=0.1)
    _reap(pid)


def _reap(pid: int) -> None:
    # Our own children would linger as zombies until reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
