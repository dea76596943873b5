"""Load generators, each in its own process on the load core: wrk (closed loop: fixed
connections, as fast as the server answers) and bench.openloop (fixed rate, latency from the
intended send time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_report.lua"


class LoadError(RuntimeError):
    """A load generator failed or printed nothing parseable."""


def wrk(
    url: str,
    *,
    duration: float,
    connections: int,
    method: str = "GET",
    bodies: list[str] | None = None,
    authorization: str = "",
) -> dict[str, Any]:
    """Closed loop: ``connections`` keep-alive connections, one request in flight on each."""
    env = {
        **os.environ,
        "WRK_METHOD": method,
        "WRK_BODIES": "|".join(bodies or []),
        "WRK_AUTHORIZATION": authorization,
    }
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
        "-s", str(WRK_SCRIPT), url,
    ]  # fmt: skip
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
            seconds = result["duration_us"] / 1e6
            result["rps"] = result["requests"] / seconds if seconds else 0.0
            errors = result["errors"]
            result["error_count"] = sum(errors.values())
            return result
    raise LoadError(f"wrk printed no summary (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def openloop(
    url: str,
    *,
    rate: float,
    duration: float,
    connections: int = 64,
    method: str = "GET",
    bodies: list[str] | None = None,
    headers: list[str] | None = None,
) -> dict[str, Any]:
    """Open loop at ``rate`` requests/s (see bench/openloop.py)."""
    argv = [
        sys.executable, "-m", "bench.openloop", "--url", url, "--rate", f"{rate:.3f}",
        "--duration", str(duration), "--connections", str(connections), "--method", method,
    ]  # fmt: skip
    for body in bodies or []:
        argv += ["--body", body]
    for header in headers or []:
        argv += ["--header", header]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
        cwd=HERE.parent,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise LoadError(f"openloop failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
