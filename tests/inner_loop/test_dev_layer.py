"""The dev layer's PID 1 (`/opt/dev-layer/run`, written by the RUN step of the Tiltfile's
DEV_LAYER, the same text as skaffold.yaml's): run here with `sh`, its paths moved into a
temporary directory. It must copy the pristine package into /tmp/dev once, restart the
command on SIGHUP (what a live update sends) with the synced code, pass a command's own exit
status through (the migration Job), and stop the command gracefully on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from tests.inner_loop.repo import DEV_DIR, REPO

if TYPE_CHECKING:
    from pathlib import Path

LAYER = "/opt/dev-layer"

CHILD = """
import pathlib, signal, sys, time
log = pathlib.Path(sys.argv[1])
value = (pathlib.Path(sys.argv[2]) / "handler.py").read_text().strip()
with log.open("a") as f:
    f.write(f"start {value} {' '.join(sys.argv[3:])}\\n")
def stop(*_):
    with log.open("a") as f:
        f.write("stopped\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.05)
"""


def run_script() -> str:
    """The `printf ... > /opt/dev-layer/run` command of the Tiltfile's dev layer, as sh text."""
    text = (REPO / "Tiltfile").read_text()
    match = re.search(r"(printf '%s\\\\n' \\\\\n.*?> /opt/dev-layer/run);", text, re.DOTALL)
    assert match, "no printf of /opt/dev-layer/run in the Tiltfile's DEV_LAYER"
    # Starlark string escapes (\\ -> \) and Dockerfile line continuations (\ + newline).
    return match.group(1).replace("\\\\", "\\").replace("\\\n", "")


class Layer:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.layer = tmp / "layer"
        self.dev = tmp / "dev"
        self.log = tmp / "child.log"
        self.layer.mkdir()
        pristine = self.layer / "pristine"
        pristine.mkdir()
        (pristine / "handler.py").write_text("v1\n")
        (self.layer / "package").write_text("pkg\n")
        child = tmp / "child.py"
        child.write_text(CHILD)
        (self.layer / "entrypoint").write_text(
            f"{sys.executable} {child} {self.log} {self.dev / 'pkg'}\n"
        )
        script = run_script().replace(LAYER, str(self.layer))
        subprocess.run(["sh", "-c", script], check=True)
        self.run = self.layer / "run"
        self.run.write_text(self.run.read_text().replace(DEV_DIR, str(self.dev)))
        self.run.chmod(0o755)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["sh", str(self.run), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def wait_for(self, count: int, timeout: float = 10) -> float:
        started = time.monotonic()
        while len([ln for ln in self.lines() if ln.startswith("start")]) < count:
            assert time.monotonic() - started < timeout, self.lines()
            time.sleep(0.02)
        return time.monotonic() - started


@pytest.fixture
def layer(tmp_path: Path) -> Layer:
    return Layer(tmp_path)


def test_generated_script_is_valid_sh(layer: Layer) -> None:
    assert layer.run.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(layer.run)], check=True)  # syntax only


def test_copies_the_package_once_and_restarts_on_sighup(layer: Layer) -> None:
    proc = layer.start("api")
    try:
        layer.wait_for(1)
        assert layer.lines() == ["start v1 api"]
        # A live update: the synced file lands in /tmp/dev/<package>, then SIGHUP to PID 1.
        (layer.dev / "pkg" / "handler.py").write_text("v2\n")
        os.kill(proc.pid, signal.SIGHUP)
        elapsed = layer.wait_for(2)
        assert layer.lines() == ["start v1 api", "stopped", "start v2 api"]
        assert elapsed < 2, f"restart took {elapsed:.2f}s"
        # The synced copy is kept across restarts: the pristine package is copied only once.
        os.kill(proc.pid, signal.SIGHUP)
        layer.wait_for(3)
        assert layer.lines()[-1] == "start v2 api"
        assert (layer.layer / "pristine" / "handler.py").read_text() == "v1\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert layer.lines()[-1] == "stopped"  # SIGTERM reached the command: graceful stop
    assert stderr.count("dev-restart: restarting after a live update") == 2


def test_exit_status_of_the_command_passes_through(layer: Layer, tmp_path: Path) -> None:
    # Like `orderflow migrate up` in the migration Job: the command ends, so does PID 1.
    command = tmp_path / "fails.sh"
    command.write_text("exit 3\n")
    (layer.layer / "entrypoint").write_text(f"sh {command}\n")
    proc = layer.start("migrate", "up")
    proc.communicate(timeout=10)
    assert proc.returncode == 3
