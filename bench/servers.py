"""The processes under test, started the way the product starts them, pinned with ``taskset``.

CPU layout on the 2-core bench machines: the server under test owns core 0; everything else
(load generators, PostgreSQL, Redis, the Collector, the worker, this harness) shares core 1.
``BENCH_SERVER_CPUS`` / ``BENCH_LOAD_CPUS`` override it; with one CPU nothing is pinned.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.collector import CollectorProcess

REPO = Path(__file__).resolve().parents[1]


def _cpus(variable: str, default: str) -> set[int] | None:
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return None
    return {int(c) for c in os.environ.get(variable, default).split(",") if c.strip()}


SERVER_CPUS = _cpus("BENCH_SERVER_CPUS", "0")
LOAD_CPUS = _cpus("BENCH_LOAD_CPUS", "1")


def pin_self_to_load_cpus() -> None:
    """Everything this harness starts inherits the load CPUs unless told otherwise."""
    if LOAD_CPUS:
        os.sched_setaffinity(0, LOAD_CPUS)


def taskset(cpus: set[int] | None) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []


def pin_pid(pid: int, cpus: set[int] | None) -> None:
    """Pin an already running process and all its threads (e.g. the PostgreSQL postmaster,
    whose backends inherit it)."""
    if cpus:
        subprocess.run(
            ["taskset", "-a", "-p", "-c", ",".join(map(str, sorted(cpus))), str(pid)],
            check=True,
            capture_output=True,
        )


def otlp_protocol() -> str:
    """``BENCH_OTLP_PROTOCOL``: ``grpc`` (default, as the chart ships it) or ``http/protobuf``,
    for every telemetry-on server (the zero-code peer too: same transport, same Collector)."""
    return os.environ.get("BENCH_OTLP_PROTOCOL", "") or "grpc"


def sampler_env() -> dict[str, str]:
    """``BENCH_TRACES_SAMPLER`` / ``BENCH_TRACES_SAMPLER_ARG``: the head sampler of every
    telemetry-on server (default ``always_on``: the targets are stated at 100% sampling)."""
    sampler = os.environ.get("BENCH_TRACES_SAMPLER", "") or "always_on"
    argument = os.environ.get("BENCH_TRACES_SAMPLER_ARG", "")
    return {
        "OTEL_TRACES_SAMPLER": sampler,
        **({"OTEL_TRACES_SAMPLER_ARG": argument} if argument else {}),
    }


def telemetry_env(collector: CollectorProcess | None, service: str) -> dict[str, str]:
    """Telemetry fully on (traces, metrics and logs over OTLP to the real Collector, the
    product's export settings and metric interval, ``otlp_protocol``, ``sampler_env``) or
    entirely off."""
    if collector is None:
        return {"OTEL_SDK_DISABLED": "true"}
    return {
        **collector.env(otlp_protocol()),
        **sampler_env(),
        "OTEL_SDK_DISABLED": "false",
        "OTEL_SERVICE_NAME": service,
        # Not read by the product: lets a bench variant switch to the gRPC receiver.
        "BENCH_OTLP_GRPC_ENDPOINT": collector.otlp_grpc_endpoint,
    }


def child_result(argv: list[str], marker: str, what: str, env: dict[str, str]) -> dict[str, float]:
    """Run a measuring child process (``python -m bench.X --child ...``) and return the JSON
    object it printed on its ``marker`` line."""
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, cwd=REPO, timeout=600, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith(f"{marker} "):
            result: dict[str, float] = json.loads(line.removeprefix(f"{marker} "))
            return result
    raise RuntimeError(f"{what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def stat_cpu(stat: str, *, waited_children: bool = False) -> tuple[str, float]:
    """``(name, CPU seconds)`` from a ``/proc/<pid>/stat`` or ``/proc/<pid>/task/<tid>/stat``
    line: the name between the first ``(`` and the last ``)`` (it may hold either), then utime +
    stime, plus the waited-for children's cutime + cstime with ``waited_children``."""
    name, _, rest = stat.partition("(")[2].rpartition(")")
    fields = rest.split()
    # Fields 14-17 of proc(5); fields[0] here is field 3 (the state).
    end = 15 if waited_children else 13
    return name, sum(int(f) for f in fields[11:end]) / os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    return stat_cpu(stat, waited_children=True)[1]


def _self_and_descendants(pid: int | None) -> list[int]:
    out: list[int] = []
    todo = [pid] if pid else []
    while todo:
        current = todo.pop()
        out.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return out


def read_status_kib(pid: int, key: str) -> int | None:
    """``VmRSS`` / ``VmHWM`` (peak RSS) of a process, in KiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


@dataclass
class Server:
    """One server process: ``python -m <module> <args>`` with its own environment and log."""

    name: str
    module: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    cpus: set[int] | None = None
    ready_path: str = "/healthz"
    launcher: list[str] = field(default_factory=list)
    interpreter: list[str] = field(default_factory=lambda: [sys.executable])
    """What runs ``-m module``: this venv's Python, or another venv's behind a launcher such as
    ``opentelemetry-instrument`` (which execs the interpreter: the pid stays the same)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # taskset execs the command: the pid we hold is the Python process itself.
        argv = [*taskset(self.cpus), *self.interpreter, *self.launcher, "-m", *self.module]
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, **self.env, "PORT": str(self.port)},
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        return self

    def wait_ready(self, timeout: float = 180.0) -> Server:
        deadline = time.monotonic() + timeout
        url = self.base_url + self.ready_path
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log()[-4000:]}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=1) as response,  # noqa: S310 - loopback http
            ):
                if response.status == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: {url} not ready after {timeout}s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the process (all its threads) and of every helper
        process it started (an exporter process would be charged to the server)."""
        return sum(_process_cpu_seconds(pid) for pid in _self_and_descendants(self.pid))

    def rss_mib(self) -> float | None:
        kib = read_status_kib(self.pid, "VmRSS") if self.pid else None
        return kib / 1024 if kib is not None else None

    def peak_rss_mib(self) -> float | None:
        kib = read_status_kib(self.pid, "VmHWM") if self.pid else None
        return kib / 1024 if kib is not None else None

    def stop(self, timeout: float = 30.0) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode
