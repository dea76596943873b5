"""Run the real ``orderflow`` entry points as child processes, the way a pod would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from k8s.testbed.procs import Process, free_port, http_ok

from tests.testbed.wait import wait_until as poll


class ServiceProcess(Process):
    """One ``orderflow <command>`` process with its own environment and log file.

    Not in its own session: signals reach the entry point alone, as the kubelet sends them to
    a container's first process, and it stops its own children."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        launcher: list[str] | None = None,  # e.g. ["opentelemetry-instrument"]
    ) -> None:
        argv = [*(launcher or []), sys.executable, "-m", "orderflow.cli", *command]
        super().__init__(argv, log_path, env, own_session=False, stop_timeout=30)
        self.command = command

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def run_cli(
    env: dict[str, str], *args: str, check: bool = False, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``orderflow ARGS`` as an operator would type it, with the test servers' settings.
    ``check``: a non-zero exit fails the test with the command's stderr. ``timeout``: a
    command that hangs fails the test instead of holding the suite."""
    result = subprocess.run(
        [sys.executable, "-m", "orderflow.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and result.returncode:
        raise AssertionError(
            f"orderflow {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result


def wait_http_ok(url: str, process: Process, timeout: float = 30) -> None:
    """Until ``url`` answers 200; RuntimeError with the log's tail if ``process`` exits first
    or it does not within ``timeout`` seconds."""
    process.wait_ready(http_ok(url), timeout=timeout, error=RuntimeError)


def wait_until(predicate: Callable[[], object], timeout: float = 20, interval: float = 0.1) -> None:
    """Poll a local process's observable state: the shared polling helper, at a tighter
    interval than cluster state needs."""
    poll(predicate, timeout=timeout, interval=interval)


@contextlib.contextmanager
def api_process(env: dict[str, str], log_dir: Path, name: str) -> Iterator[str]:
    """An extra ``orderflow api`` with its own settings, for tests that need ones the session
    API does not have; yields its base URL and stops it afterwards."""
    port = free_port()
    process = ServiceProcess(["api"], {**env, "PORT": str(port)}, log_dir / f"{name}-{port}.log")
    process.start()
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()
