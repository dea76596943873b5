"""pyinstrument profiles of the API on the database-read endpoint, telemetry off vs on.

Each profile is a fresh ``orderflow api`` (cache bypassed as in the table's database-read
rows) under wrk load; sampling covers ``BENCH_PROFILE_SECONDS`` in the middle of the load.
The summary attributes every sample's *self* time to the library whose code was running and
divides by the requests served in the window: microseconds of the single core per request, by
library. Full pyinstrument sessions and text trees are saved next to the JSON results.
"""

from __future__ import annotations

import signal
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
# First match wins: the path fragment that identifies where a sample's own time was spent.
COMPONENTS = (
    ("/opentelemetry/", "opentelemetry"),
    ("/sqlalchemy/", "sqlalchemy"),
    ("/asyncpg/", "asyncpg"),
    ("/litestar/", "litestar"),
    ("/uvicorn/", "uvicorn"),
    ("/structlog/", "structlog"),
    ("/redis/", "redis"),
    ("/msgspec/", "msgspec"),
    ("/orderflow/", "orderflow"),
    ("/asyncio/", "asyncio + uvloop (event loop, sockets)"),
    ("uvloop", "asyncio + uvloop (event loop, sockets)"),
    ("/logging/", "logging"),
    ("/threading.py", "threading (locks)"),
)
TOP = 15


def component(path: str | None) -> str:
    for fragment, name in COMPONENTS:
        if path and fragment in path:
            return name
    return "other (stdlib, builtins)"


def _walk(frame: Frame) -> list[Frame]:
    stack, out = [frame], []
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(current.children)
    return out


def summarise(session: Session, requests: int) -> dict[str, Any]:
    root = session.root_frame(trim_stem=False)
    if root is None or requests <= 0:
        return {}
    total = root.time
    by_component: dict[str, float] = defaultdict(float)
    by_function: dict[tuple[str, str], float] = defaultdict(float)
    for frame in _walk(root):
        own = frame.time - sum(child.time for child in frame.children)
        if own <= 0:
            continue
        # A synthetic frame ("[self]", "[await]") reports its parent's own time.
        real = frame.parent if frame.is_synthetic and frame.parent else frame
        by_component[component(real.file_path)] += own
        where = f"{real.file_path_short or '?'}:{real.line_no}"
        by_function[(real.function or "?", where)] += own
    us_per_request = total / requests * 1e6
    return {
        "sampled_s": total,
        "requests": requests,
        "us_per_request": us_per_request,
        "by_component_us": {
            name: seconds / requests * 1e6
            for name, seconds in sorted(by_component.items(), key=lambda kv: -kv[1])
        },
        "top_self": [
            {"function": fn, "where": where, "pct": 100 * s / total, "us": s / requests * 1e6}
            for (fn, where), s in sorted(by_function.items(), key=lambda kv: -kv[1])[:TOP]
        ],
    }


def profile_once(
    name: str,
    env: dict[str, str],
    url_path: str,
    workdir: Path,
    out_dir: Path,
    settings: BenchSettings,
) -> dict[str, Any]:
    session_path = out_dir / f"{name}.pyisession"
    server = Server(
        name,
        ["bench.profiled_api"],
        {**env, "BENCH_PROFILE_OUT": str(session_path)},
        free_port(),
        workdir / f"{name}.log",
        SERVER_CPUS,
    )
    server.start().wait_ready()
    url = server.base_url + url_path
    lead = 2.0
    result: dict[str, Any] = {}

    def load() -> None:
        result.update(
            wrk(url, duration=settings.profile_seconds + 2 * lead, connections=settings.connections)
        )

    try:
        wrk(url, duration=2, connections=settings.connections)  # warm-up
        loader = threading.Thread(target=load)
        loader.start()
        time.sleep(lead)
        assert server.process is not None
        server.process.send_signal(signal.SIGUSR1)
        time.sleep(settings.profile_seconds)
        server.process.send_signal(signal.SIGUSR2)
        loader.join()
        deadline = time.monotonic() + 30
        while not session_path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()
    session = Session.load(str(session_path))
    # Requests answered while sampling: wrk's rate over the whole load times the window.
    requests = round(result["rps"] * session.duration)
    summary = summarise(session, requests)
    summary["rps_under_profiler"] = result["rps"]
    text = ConsoleRenderer(unicode=True, color=False, show_all=True, short_mode=False).render(
        session
    )
    (out_dir / f"{name}.txt").write_text(text)
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
            f"profile telemetry {mode}: {out[mode].get('us_per_request', 0):.0f} µs/request "
            f"({out[mode].get('rps_under_profiler', 0):.0f} req/s under the profiler)"
        )
    return out
