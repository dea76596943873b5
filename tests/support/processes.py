"""Run the real ``orderflow`` entry points as child processes, the way a pod would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.testbed.wait import wait_until as poll


@dataclass
class ServiceProcess:
    """One ``orderflow <command>`` process with its own environment and log file."""

    command: list[str]
    env: dict[str, str]
    log_path: Path
    launcher: list[str] = field(default_factory=list)  # e.g. ["opentelemetry-instrument"]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [*self.launcher, sys.executable, "-m", "orderflow.cli", *self.command],
            env={**os.environ, **self.env},
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def wait_http_ok(url: str, process: ServiceProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running:
            raise RuntimeError(f"process exited early:\n{process.log()[-4000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not OK after {timeout}s:\n{process.log()[-4000:]}")


def wait_until(predicate: Callable[[], object], timeout: float = 20, interval: float = 0.1) -> None:
    """Poll a local process's observable state: the shared polling helper, at a tighter
    interval than cluster state needs."""
    poll(predicate, timeout=timeout, interval=interval)
