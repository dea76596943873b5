"""Open-loop load at a fixed rate, measured without coordinated omission.

wrk2 is not packaged by Debian, so this is the small equivalent: request *i* is due at
``t0 + i / rate`` whether or not earlier answers came back, and its latency is measured from
that intended send time, not from when a connection happened to be free. A server that stalls
therefore shows the full queueing delay its users would see (a closed-loop tool like wrk stops
sending while it waits and under-reports the tail).

Raw HTTP/1.1 over a fixed pool of keep-alive connections on uvloop, in its own process (the
harness runs it on the load core). Prints one JSON object::

    python -m bench.openloop --url http://127.0.0.1:8000/api/stock/sku-001 --rate 500 \\
        --duration 10 [--method POST --body '{...}' [--body ...] --header 'authorization: ...']
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvloop


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (``q`` in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def build_request(method: str, url: str, headers: list[str], body: bytes) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"host: {host}:{port}"]
    lines += headers
    if body:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def run(args: argparse.Namespace) -> dict[str, object]:
    bodies = [b.encode() for b in args.body] or [b""]
    built = [build_request(args.method, args.url, args.header, body) for body in bodies]
    host, port = built[0][0], built[0][1]
    requests = [request for _, _, request in built]
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(args.connections):
        idle.put_nowait(await asyncio.open_connection(host, port))
    tally = Tally()
    # Not loop.time(): uvloop's is libuv's cached millisecond clock, which rounds every
    # latency to whole milliseconds (a 3 ms p99 read as 3 or 4).
    clock = time.perf_counter

    async def one(intended: float, request: bytes) -> None:
        conn = await idle.get()
        try:
            status = await _exchange(*conn, request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tally.errors += 1
            conn[1].close()
            with contextlib.suppress(OSError):
                conn = await asyncio.open_connection(host, port)
            idle.put_nowait(conn)
            return
        tally.latencies.append(clock() - intended)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        idle.put_nowait(conn)

    total = int(args.rate * args.duration)
    interval = 1.0 / args.rate
    tasks: set[asyncio.Task[None]] = set()
    start = clock() + 0.05
    sent = 0
    while sent < total:
        now = clock()
        while sent < total and start + sent * interval <= now:
            task = asyncio.create_task(one(start + sent * interval, requests[sent % len(requests)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent * interval - clock()))
    # Stragglers get a bounded grace period; whatever is still out counts as unanswered.
    if tasks:
        _done, pending = await asyncio.wait(set(tasks), timeout=args.grace)
        for task in pending:
            task.cancel()
    elapsed = clock() - start
    unanswered = total - len(tally.latencies) - tally.errors
    ordered = sorted(tally.latencies)
    ms = 1000.0
    return {
        "url": args.url,
        "method": args.method,
        "rate": args.rate,
        "duration_s": args.duration,
        "connections": args.connections,
        "scheduled": total,
        "completed": len(ordered),
        "achieved_rps": len(ordered) / elapsed if elapsed > 0 else 0.0,
        "errors": tally.errors,
        "unanswered": unanswered,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "p50_ms": percentile(ordered, 50) * ms,
        "p90_ms": percentile(ordered, 90) * ms,
        "p99_ms": percentile(ordered, 99) * ms,
        "p999_ms": percentile(ordered, 99.9) * ms,
        "max_ms": (ordered[-1] if ordered else float("nan")) * ms,
        "mean_ms": (sum(ordered) / len(ordered) if ordered else float("nan")) * ms,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.openloop", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", action="append", default=[], help="sent in turn")
    parser.add_argument("--header", action="append", default=[], help="'name: value'")
    parser.add_argument("--grace", type=float, default=10.0, help="wait for stragglers (s)")
    args = parser.parse_args(argv)
    print(json.dumps(uvloop.run(run(args))))


if __name__ == "__main__":
    main()
