"""CPU profiles of the API on the database-read endpoint, telemetry off vs on.

Each profile is a fresh ``orderflow api`` (cache bypassed, as in the table's database-read rows)
under wrk load. The sampler is py-spy when it is installed (``make bench`` puts it in a
throwaway venv in the tool cache: it samples every thread, on CPU only, from outside the
process, without slowing it much), pyinstrument otherwise (main thread, wall clock).

The summary attributes each sample to an *owner*: the innermost frame that belongs to a
library (site-packages) or to orderflow, so stdlib work is charged to whoever called it (a
traceback formatted by the SDK is OpenTelemetry's time; a socket read awaited by asyncpg is
asyncpg's). Shares are scaled by the server's measured CPU time per request, giving
microseconds of CPU per request by library. Raw samples are saved next to the JSON results.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyinstrument.frame import Frame
from pyinstrument.renderers import ConsoleRenderer
from pyinstrument.session import Session
from tests.support.collector import CollectorProcess

from bench.load import wrk
from bench.servers import SERVER_CPUS, Server, telemetry_env
from bench.settings import BenchSettings
from orderflow.devservices import free_port

Log = Callable[[str], None]
PYSPY_RATE = 500  # samples/s per thread
LEAD_SECONDS = 2.0  # load before and after the sampling window
TOP = 15
# First match wins: the path fragment that names a library.
LIBRARIES = (
    ("/opentelemetry/", "opentelemetry"),
    ("/sqlalchemy/", "sqlalchemy"),
    ("/asyncpg/", "asyncpg"),
    ("/litestar/", "litestar"),
    ("/uvicorn/", "uvicorn"),
    ("/structlog/", "structlog"),
    ("/redis/", "redis"),
    ("/msgspec/", "msgspec"),
    ("/google/protobuf/", "protobuf (OTLP encoding)"),
    ("/requests/", "requests/urllib3 (OTLP/HTTP export)"),
    ("/urllib3/", "requests/urllib3 (OTLP/HTTP export)"),
    ("/prometheus_client/", "prometheus_client"),
    ("/orderflow/", "orderflow"),
    ("/site-packages/", "other libraries"),
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


def pyspy_binary() -> str | None:
    configured = os.environ.get("BENCH_PYSPY")
    if configured:
        return configured
    cache = Path(os.environ.get("ORDERFLOW_CACHE", Path.home() / ".cache" / "orderflow"))
    candidate = cache / "bench-pyspy" / "bin" / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def library(path: str) -> str | None:
    for fragment, name in LIBRARIES:
        if fragment in path:
            return name
    return None


def owner(stack: list[tuple[str, str]]) -> tuple[str, str]:
    """(library, function) charged for one sample: the innermost library or app frame."""
    for function, path in reversed(stack):
        name = library(path)
        if name is not None:
            return name, f"{function} ({_short(path)})"
    function, path = stack[-1] if stack else ("?", "?")
    if "asyncio" in path or "uvloop" in path:
        return "event loop (asyncio/uvloop)", f"{function} ({_short(path)})"
    return "other (stdlib)", f"{function} ({_short(path)})"


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/services/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarise(
    samples: list[tuple[list[tuple[str, str]], int]], cpu_us_per_request: float
) -> dict[str, Any]:
    total = sum(count for _, count in samples)
    if not total:
        return {}
    by_library: dict[str, int] = defaultdict(int)
    by_function: dict[tuple[str, str], int] = defaultdict(int)
    background = 0
    outage = 0
    for stack, count in samples:
        if any(f.endswith("_failed") and p.endswith("orderflow/cache.py") for f, p in stack) or any(
            f.endswith("record_exception") for f, _ in stack
        ):
            outage += count
        name, function = owner(stack)
        by_library[name] += count
        by_function[(name, function)] += count
        if stack and stack[0][0].endswith("_bootstrap"):
            background += count
    scale = cpu_us_per_request / total
    return {
        "samples": total,
        "cpu_us_per_request": cpu_us_per_request,
        "background_threads_pct": 100 * background / total,
        # The database-read rows point REDIS_URL at a dead port: each time the cache's 2 s
        # cool-down ends, the requests in flight all retry Redis and fail (an exception
        # recorded on a span, a warning log). This is that share, to subtract mentally.
        "cache_outage_path_pct": 100 * outage / total,
        "by_library_us": {
            name: count * scale for name, count in sorted(by_library.items(), key=lambda kv: -kv[1])
        },
        "top_owners": [
            {"library": lib, "function": fn, "pct": 100 * count / total, "us": count * scale}
            for (lib, fn), count in sorted(by_function.items(), key=lambda kv: -kv[1])[:TOP]
        ],
    }


def parse_collapsed(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    samples = []
    for line in text.splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        stack = []
        for frame in stack_text.split(";"):
            match = _FRAME.match(frame)
            stack.append((match["function"], match["path"]) if match else (frame, ""))
        samples.append((stack, int(count)))
    return samples


def pyinstrument_samples(session: Session) -> list[tuple[list[tuple[str, str]], int]]:
    """A pyinstrument session as (stack, weight) pairs, weights in microseconds."""
    out: list[tuple[list[tuple[str, str]], int]] = []
    root = session.root_frame(trim_stem=False)
    todo: list[tuple[Frame, list[tuple[str, str]]]] = [(root, [])] if root else []
    while todo:
        frame, parents = todo.pop()
        stack = [*parents, (frame.function or "?", frame.file_path or "")]
        own = frame.time - sum(child.time for child in frame.children)
        if own > 0:
            out.append((stack, round(own * 1e6)))
        todo.extend((child, stack) for child in frame.children)
    return out


def _load_in_background(
    url: str, seconds: float, connections: int
) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(wrk(url, duration=seconds, connections=connections))
    )
    thread.start()
    return thread, result


def profile_once(
    name: str,
    env: dict[str, str],
    url_path: str,
    workdir: Path,
    out_dir: Path,
    settings: BenchSettings,
) -> dict[str, Any]:
    pyspy = pyspy_binary()
    session_path = out_dir / f"{name}.pyisession"
    module = ["orderflow.cli", "api"] if pyspy else ["bench.profiled_api"]
    server = Server(
        name,
        module,
        {**env, "BENCH_PROFILE_OUT": str(session_path)},
        free_port(),
        workdir / f"{name}.log",
        SERVER_CPUS,
    )
    server.start().wait_ready()
    url = server.base_url + url_path
    window = settings.profile_seconds
    try:
        wrk(url, duration=2, connections=settings.connections)  # warm-up
        loader, load = _load_in_background(url, window + 2 * LEAD_SECONDS, settings.connections)
        time.sleep(LEAD_SECONDS)
        assert server.pid is not None
        # Only the profiled server, only for the window: on a shared machine, a thread that is
        # runnable but preempted still shows as busy to py-spy, and long preemptions would
        # pose as hot frames.
        subprocess.run(
            ["renice", "-n", str(settings.profile_nice), "-p", str(server.pid)],
            check=False,
            capture_output=True,
        )
        cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
        if pyspy:
            raw_path = out_dir / f"{name}.collapsed.txt"
            argv = [
                pyspy, "record", "--pid", str(server.pid), "--duration", str(round(window)),
                "--rate", str(PYSPY_RATE), "--nonblocking", "--full-filenames", "--format", "raw",
                "--output", str(raw_path),
            ]  # fmt: skip
            subprocess.run(argv, check=True, capture_output=True, timeout=window + 60)
        else:
            os.kill(server.pid, signal.SIGUSR1)
            time.sleep(window)
            os.kill(server.pid, signal.SIGUSR2)
        cpu = server.cpu_seconds() - cpu_before
        wall = time.monotonic() - wall_before
        loader.join()
        deadline = time.monotonic() + 30
        while not pyspy and not session_path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()
    requests = load["rps"] * wall
    if pyspy:
        samples = parse_collapsed(raw_path.read_text())
    else:
        session = Session.load(str(session_path))
        samples = pyinstrument_samples(session)
        (out_dir / f"{name}.txt").write_text(
            ConsoleRenderer(unicode=True, color=False, show_all=True).render(session)
        )
    summary = summarise(samples, cpu / requests * 1e6 if requests else 0.0)
    summary.update(
        sampler="py-spy" if pyspy else "pyinstrument",
        rps_during_profile=load["rps"],
        server_core_share=cpu / wall if wall else 0.0,
    )
    return summary


def run(
    base: dict[str, str],
    slug: str,
    collector: CollectorProcess,
    workdir: Path,
    out_dir: Path,
    settings: BenchSettings,
    *,
    log: Log,
) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    dead_redis = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    out: dict[str, Any] = {}
    for mode, collector_or_none in (("off", None), ("on", collector)):
        name = f"profile-db-telemetry-{mode}"
        env = {**base, **telemetry_env(collector_or_none, "orderflow-api"), **dead_redis}
        out[mode] = profile_once(name, env, f"/api/articles/{slug}", workdir, out_dir, settings)
        log(
            f"profile telemetry {mode} ({out[mode].get('sampler')}): "
            f"{out[mode].get('cpu_us_per_request', 0):.0f} µs CPU/request at "
            f"{out[mode].get('rps_during_profile', 0):.0f} req/s"
        )
    return out
