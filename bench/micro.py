"""In-process CPU cost per request: ``python -m bench.micro [options] VARIANT...``.

On a machine shared with other jobs, wall-clock throughput swings by 2x between runs. This
measures instead the CPU time one API process spends per request, with the HTTP server taken
out: each variant (bench/ab_patches.py) runs in its own process pinned to the server core,
configures telemetry exactly like ``orderflow api`` (the exporters' threads included in the
CPU time), and calls the ASGI application directly, ``--concurrency`` requests at a time.
Rounds alternate between variants; the median is reported with the difference to the first,
and split by thread: the event loop's (main) and the SDK's exporter threads and grpcio's. Read
a profile's shares against that split: py-spy counts a thread that waits for the GIL as busy,
so with exporter threads running, its main-thread samples include waits that cost no CPU::

    .venv/bin/python -m bench.micro --endpoint db --telemetry on baseline lean-reads
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.ab_patches import VARIANTS
from bench.backends import running
from bench.run import create_user_and_article, log
from bench.servers import (
    SERVER_CPUS,
    Server,
    child_result,
    pin_self_to_load_cpus,
    stat_cpu,
    taskset,
    telemetry_env,
)
from orderflow.devservices import free_port


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each live thread of this process, by thread id, with its name:
    ``main``, a Python thread's name, or the kernel's name of a native thread (grpcio's
    ``event_engine``)."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    names[threading.main_thread().native_id] = "main"
    out: dict[int, tuple[str, float]] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            kernel_name, seconds = stat_cpu((task / "stat").read_text())
        except OSError:  # the thread ended meanwhile
            continue
        tid = int(task.name)
        out[tid] = (names.get(tid) or kernel_name, seconds)
    return out


def cpu_by_thread_name(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], total: float
) -> dict[str, float]:
    """CPU seconds each thread spent between two ``thread_cpu`` readings, diffed per thread id
    (a pool may end a thread and start another of the same name) and summed by name; what
    threads that ended in between spent is ``total`` minus the rest, under ``(ended)``."""
    out: dict[str, float] = {}
    for tid, (name, seconds) in after.items():
        out[name] = out.get(name, 0.0) + seconds - before.get(tid, (name, 0.0))[1]
    out["(ended)"] = max(0.0, total - sum(out.values()))
    return out


async def _drive(path: str, requests: int, concurrency: int) -> dict[str, Any]:
    from orderflow import gc_tuning  # noqa: PLC0415
    from orderflow.api.app import create_app  # noqa: PLC0415 - after the variant's patch
    from orderflow.settings import get_settings  # noqa: PLC0415
    from orderflow.telemetry.asgi import ServerTelemetryMiddleware  # noqa: PLC0415

    app = create_app(get_settings())
    asgi = ServerTelemetryMiddleware(app)
    gc_tuning.settle_startup_heap()  # where ``orderflow api`` calls it: app built, not serving
    scope_base: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def worker(count: int) -> None:
        for _ in range(count):
            await asgi(dict(scope_base), receive, send)  # type: ignore[arg-type]

    async with app.lifespan():
        await asyncio.gather(*(worker(50) for _ in range(concurrency)))  # warm-up
        statuses.clear()
        before = thread_cpu()
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        after = thread_cpu()
    done = sum(statuses.values())
    by_name = cpu_by_thread_name(before, after, cpu)
    return {
        "cpu_us_per_request": cpu / done * 1e6,
        "wall_us_per_request": wall / done * 1e6,
        "ok": statuses.get(200, 0) / done,
        "threads_us_per_request": {name: seconds / done * 1e6 for name, seconds in by_name.items()},
    }


def child(variant: str, path: str, requests: int, concurrency: int) -> None:
    """Runs in the measured process."""
    import uvloop  # noqa: PLC0415

    from orderflow.telemetry.logs import configure_logging  # noqa: PLC0415
    from orderflow.telemetry.setup import configure_telemetry  # noqa: PLC0415

    VARIANTS[variant]()
    configure_logging()
    telemetry = configure_telemetry("orderflow-api", "bench")
    try:
        result = uvloop.run(_drive(path, requests, concurrency))
    finally:
        telemetry.shutdown()
    print("MICROJSON " + json.dumps(result), flush=True)


def measure(
    variant: str, env: dict[str, str], path: str, requests: int, concurrency: int
) -> dict[str, Any]:
    argv = [
        *taskset(SERVER_CPUS), sys.executable, "-m", "bench.micro", "--child", variant,
        "--path", path, "--requests", str(requests), "--concurrency", str(concurrency),
    ]  # fmt: skip
    return child_result(argv, "MICROJSON", variant, {**os.environ, **env})


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.micro", description=__doc__)
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--endpoint", choices=["db", "cached"], default="db")
    parser.add_argument("--telemetry", choices=["on", "off"], default="on")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.requests, args.concurrency)
        return
    pin_self_to_load_cpus()
    with running("micro") as backends:
        base, workdir, collector = backends.env, backends.workdir, backends.collector
        helper = Server(
            "seed-api",
            ["orderflow.cli", "api"],
            {**base, "OTEL_SDK_DISABLED": "true"},
            free_port(),
            workdir / "seed.log",
        ).start()
        try:
            helper.wait_ready()
            _token, slug = create_user_and_article(helper.base_url)
        finally:
            helper.stop()
        env = {**base, **telemetry_env(collector if args.telemetry == "on" else None, "micro")}
        if args.endpoint == "db":
            env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
            path = f"/api/articles/{slug}"
        else:
            path = "/api/stock/sku-001"
        cpu: dict[str, list[float]] = {v: [] for v in args.variants}
        threads: dict[str, dict[str, list[float]]] = {v: {} for v in args.variants}
        for round_ in range(args.rounds):
            for variant in args.variants:
                result = measure(variant, env, path, args.requests, args.concurrency)
                cpu[variant].append(result["cpu_us_per_request"])
                for name, us in result["threads_us_per_request"].items():
                    threads[variant].setdefault(name, []).append(us)
                log(
                    f"round {round_ + 1} {variant:<22} {result['cpu_us_per_request']:7.0f} us "
                    f"CPU/request (wall {result['wall_us_per_request']:.0f} us, "
                    f"ok {100 * result['ok']:.0f}%)"
                )
        reference = statistics.median(cpu[args.variants[0]])
        print(
            f"\n{args.endpoint} endpoint, telemetry {args.telemetry}: CPU per request in the "
            f"app process (no HTTP server), median of {args.rounds} [min-max]"
        )
        for variant in args.variants:
            values = cpu[variant]
            median = statistics.median(values)
            print(
                f"  {variant:<22} {median:6.0f} us [{min(values):.0f}-{max(values):.0f}]  "
                f"{median - reference:+6.0f} us ({100 * (median / reference - 1):+5.1f}%)  "
                f"by thread: {_by_thread(threads[variant], args.rounds)}"
            )


def _by_thread(threads: dict[str, list[float]], rounds: int) -> str:
    """``main 252, OtelBatchSpanRecordProcessor 22, ...``: median µs per request of each thread
    name that spent at least 0.5 µs (a thread absent from a round counts 0 there)."""
    medians = {
        name: statistics.median(values + [0.0] * (rounds - len(values)))
        for name, values in threads.items()
    }
    shown = sorted((item for item in medians.items() if item[1] >= 0.5), key=lambda i: -i[1])
    return ", ".join(f"{name} {us:.0f}" for name, us in shown)


if __name__ == "__main__":
    main()
