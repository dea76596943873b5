"""A/B of candidate product changes: ``python -m bench.ab [options] VARIANT...``.

Starts the same throwaway PostgreSQL, Redis and Collector as ``make bench``, one API per
variant (bench/ab_patches.py, applied by monkeypatching in the API process; services/ is
never edited) all pinned to the server core, and measures them in interleaved rounds with wrk.
Reports req/s and requests per CPU-second of the server (robust on a shared machine), median
of the rounds, and the gain over the first variant::

    .venv/bin/python -m bench.ab --endpoint db --telemetry on baseline lean-reads
"""

from __future__ import annotations

import argparse
import statistics
from functools import partial

from bench.backends import running
from bench.load import openloop, wrk
from bench.run import create_user_and_article, log, timed
from bench.servers import (
    SERVER_CPUS,
    Server,
    pin_self_to_load_cpus,
    telemetry_env,
)
from orderflow.devservices import free_port


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.ab", description=__doc__)
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--endpoint", choices=["db", "cached"], default="db")
    parser.add_argument("--telemetry", choices=["on", "off"], default="on")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rate", type=float, default=0, help="open loop at this req/s (p50/p99) instead of wrk"
    )
    args = parser.parse_args()
    pin_self_to_load_cpus()
    servers: dict[str, Server] = {}
    with running("ab") as backends:
        base, workdir, collector = backends.env, backends.workdir, backends.collector
        try:
            extra = telemetry_env(collector if args.telemetry == "on" else None, "orderflow-api")
            if args.endpoint == "db":
                extra["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
            for variant in args.variants:
                servers[variant] = Server(
                    variant,
                    ["bench.ab_launch", variant],
                    {**base, **extra},
                    free_port(),
                    workdir / f"{variant}.log",
                    SERVER_CPUS,
                ).start()
            for server in servers.values():
                server.wait_ready()
            first = next(iter(servers.values()))
            if args.endpoint == "db":
                _token, slug = create_user_and_article(first.base_url)
                path = f"/api/articles/{slug}"
            else:
                path = "/api/stock/sku-001"
            for server in servers.values():
                wrk(server.base_url + path, duration=2, connections=args.connections)
            # One load for every variant and round: open loop at a fixed rate (p99), else
            # closed loop (throughput).
            load = (
                partial(openloop, rate=args.rate, duration=args.duration)
                if args.rate
                else partial(wrk, duration=args.duration, connections=args.connections)
            )
            rps: dict[str, list[float]] = {v: [] for v in servers}
            per_cpu: dict[str, list[float]] = {v: [] for v in servers}
            p99: dict[str, list[float]] = {v: [] for v in servers}
            for round_ in range(args.rounds):
                order = (
                    list(servers)[round_ % len(servers) :] + list(servers)[: round_ % len(servers)]
                )
                for variant in order:
                    server = servers[variant]
                    result = timed(server, partial(load, server.base_url + path))
                    if args.rate:
                        p99[variant].append(result["p99_ms"])
                        result["rps"], result["error_count"] = (
                            result["achieved_rps"],
                            result["errors"],
                        )
                    rps[variant].append(result["rps"])
                    per_cpu[variant].append(result["requests_per_cpu_s"])
                    log(
                        f"round {round_ + 1} {variant:<22} {result['rps']:7.0f} req/s "
                        f"{result['requests_per_cpu_s']:7.0f} req/CPU-s "
                        f"errors {result['error_count']}"
                        + (f" p99 {result['p99_ms']:.2f} ms" if args.rate else "")
                    )
            reference = args.variants[0]
            print(
                f"\n{args.endpoint} endpoint, telemetry {args.telemetry}, median of {args.rounds}"
            )
            print(f"{'variant':<22} {'req/s':>8} {'req/CPU-s':>10} {'us CPU/req':>10} {'gain':>7}")
            ref = statistics.median(per_cpu[reference])
            for variant in servers:
                eff = statistics.median(per_cpu[variant])
                print(
                    f"{variant:<22} {statistics.median(rps[variant]):8.0f} {eff:10.0f} "
                    f"{1e6 / eff:10.0f} {100 * (eff / ref - 1):+6.1f}%"
                    + (
                        f"  p99 {statistics.median(p99[variant]):.2f} ms {p99[variant]}"
                        if args.rate
                        else ""
                    )
                )
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
