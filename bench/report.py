"""The one table (and the targets of issue 7 beneath it) from a run's raw results."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

from bench.stats import Spread, ratio

SCENARIOS = ("orderflow-off", "orderflow-on", "fastapi", "raw-asyncpg")
# Issue 7's targets: throughput loss (on vs off) per endpoint, p99 increase, peers.
MAX_LOSS_PCT = {"db": 15.0, "cached": 35.0}
MAX_P99_INCREASE_PCT = 25.0
MIN_VS_FASTAPI = 1.3
MIN_VS_RAW_PCT = 60.0
MAX_LOGIN_MS = 25.0
MAX_RSS_MIB = 150.0


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _fmt(spread: Spread, digits: int) -> str:
    if spread.n == 0:
        return "—"
    if spread.n == 1:
        return f"{spread.median:,.{digits}f}"
    return f"{spread.median:,.{digits}f} [{spread.low:,.{digits}f}-{spread.high:,.{digits}f}]"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def endpoint_summary(result: dict[str, Any]) -> dict[str, Any]:
    rows: dict[str, dict[str, Spread]] = {}
    for scenario in SCENARIOS:
        closed = result["closed"][scenario]
        opened = result["open"][scenario]
        rows[scenario] = {
            "rps": Spread.of([r["rps"] for r in closed]),
            "per_cpu": Spread.of([r.get("requests_per_cpu_s", math.nan) for r in closed]),
            "p50": Spread.of([r["p50_ms"] for r in opened]),
            "p99": Spread.of([r["p99_ms"] for r in opened]),
        }
    off, on = rows["orderflow-off"], rows["orderflow-on"]
    ratios = {
        "loss_pct": 100 * (1 - ratio(on["rps"].median, off["rps"].median)),
        "p99_increase_pct": 100 * (ratio(on["p99"].median, off["p99"].median) - 1),
        "vs_fastapi_x": ratio(on["rps"].median, rows["fastapi"]["rps"].median),
        "vs_raw_pct": 100 * ratio(on["rps"].median, rows["raw-asyncpg"]["rps"].median),
        # The same loss measured as server CPU per request: robust to other load on the box.
        "cpu_loss_pct": 100 * (1 - ratio(on["per_cpu"].median, off["per_cpu"].median)),
        "cpu_vs_fastapi_x": ratio(on["per_cpu"].median, rows["fastapi"]["per_cpu"].median),
    }
    return {"rows": rows, "ratios": ratios}


def render(raw: dict[str, Any]) -> str:  # noqa: PLR0915 - one linear report
    settings = raw["settings"]
    lines = [
        f"orderflow bench {raw['started']} — {raw['machine']['cpu']} x {raw['machine']['cpus']},"
        f" Python {raw['machine']['python']}; server CPUs {raw['cpus']['server']}, load +"
        " PostgreSQL + Redis + Collector CPUs "
        f"{raw['cpus']['load']}",
        f"req/s: wrk closed loop, {settings['connections']} connections, "
        f"{settings['duration']:g} s x {settings['reps']}; p50/p99: open loop at a fixed rate "
        f"(latency from the intended send time), {settings['duration']:g} s x "
        f"{settings['reps']}; median [min-max]",
    ]
    loads = [
        run.get("loadavg_1m", 0.0)
        for result in raw["endpoints"]
        for runs in (*result["closed"].values(), *result["open"].values())
        for run in runs
    ]
    if loads and max(loads) > (raw["machine"]["cpus"] or 1) + 1:
        lines.append(
            f"WARNING: other processes loaded the machine (1-min load average up to "
            f"{max(loads):.1f} on {raw['machine']['cpus']} CPUs): req/s and latencies are "
            "depressed and noisy; req/CPU-s (requests per CPU-second of the server process) "
            "stays comparable."
        )
    lines.append("")
    header = (
        f"{'scenario':<15} {'req/s':>22} {'req/CPU-s':>10} {'p50 ms':>20} {'p99 ms':>22} "
        f"{'on/off loss':>11} {'p99 +':>7} {'vs FastAPI':>10} {'vs raw':>7}"
    )
    summaries: dict[str, dict[str, Any]] = {}
    for result in raw["endpoints"]:
        summary = endpoint_summary(result)
        summaries[result["key"]] = summary
        lines.append(f"{result['title']}  (open loop @ {result['open_loop_rate']:,.0f} req/s)")
        lines.append(header)
        lines.append("-" * len(header))
        r = summary["ratios"]
        for scenario in SCENARIOS:
            row = summary["rows"][scenario]
            extra = ""
            if scenario == "orderflow-on":
                extra = (
                    f" {r['loss_pct']:>10.1f}% {r['p99_increase_pct']:>+6.0f}%"
                    f" {r['vs_fastapi_x']:>9.2f}x {r['vs_raw_pct']:>6.0f}%"
                )
            saturated = any(
                o["achieved_rps"] < 0.95 * o["rate"] or o["unanswered"] or o["errors"]
                for o in result["open"][scenario]
            )
            lines.append(
                f"{scenario:<15} {_fmt(row['rps'], 0):>22} {row['per_cpu'].median:>10,.0f} "
                f"{_fmt(row['p50'], 2):>20} "
                f"{_fmt(row['p99'], 2):>22}{extra}"
                + ("  (saturated at this rate)" if saturated else "")
            )
            errors = sum(c["error_count"] for c in result["closed"][scenario])
            if errors:
                lines.append(f"{'':<15} ! {errors} wrk errors (non-2xx or socket)")
        lines.append("")

    lines.append("Targets (issue 7), same run:")
    for key, summary in summaries.items():
        r = summary["ratios"]
        loss_ok = r["loss_pct"] <= MAX_LOSS_PCT[key]
        lines.append(
            f"  {key:<6} throughput loss on/off {r['loss_pct']:5.1f}% (≤ {MAX_LOSS_PCT[key]:.0f}%):"
            f" {_verdict(loss_ok)};  p99 increase {r['p99_increase_pct']:+.1f}% "
            f"(≤ {MAX_P99_INCREASE_PCT:.0f}%): "
            f"{_verdict(r['p99_increase_pct'] <= MAX_P99_INCREASE_PCT)};  "
            f"per server CPU-second: loss {r['cpu_loss_pct']:.1f}%, "
            f"{r['cpu_vs_fastapi_x']:.2f}x FastAPI"
        )
    if "db" in summaries:
        r = summaries["db"]["ratios"]
        lines.append(
            f"  db     orderflow-on {r['vs_fastapi_x']:.2f}x FastAPI (≥ {MIN_VS_FASTAPI}x): "
            f"{_verdict(r['vs_fastapi_x'] >= MIN_VS_FASTAPI)};  {r['vs_raw_pct']:.0f}% of raw "
            f"asyncpg (≥ {MIN_VS_RAW_PCT:.0f}%): {_verdict(r['vs_raw_pct'] >= MIN_VS_RAW_PCT)}"
        )
    pipeline = raw.get("pipeline") or {}
    if pipeline:
        cap, fixed = pipeline["capacity"], pipeline["fixed_rate"]
        e2s, a2s = fixed["enqueue_to_start"], fixed["accept_to_start"]
        lines.append(
            f"  orders: accepted {cap['wrk']['accepted_per_s']:,.0f}/s by the API, confirmed "
            f"{cap['confirmed_per_s']:,.0f}/s by the worker ({cap['confirmed']:,} orders, "
            f"telemetry on); at {fixed['rate']:,.0f} orders/s: enqueue-to-start p50 "
            f"{e2s['p50_ms']:.1f} / p99 {e2s['p99_ms']:.1f} ms, accept-to-start p50 "
            f"{a2s['p50_ms']:.1f} / p99 {a2s['p99_ms']:.1f} ms (n={e2s['n']})"
        )
        login = pipeline["login"]
        a2 = login["argon2"]
        lines.append(
            f"  login: POST /api/login median {login['http_login_median_ms']:.1f} ms, argon2id "
            f"verify {login['verify_median_ms']:.1f} ms (t={a2['time_cost']}, "
            f"m={a2['memory_cost_kib'] / 1024:g} MiB, p={a2['parallelism']}) (verification ≤ "
            f"{MAX_LOGIN_MS:.0f} ms): {_verdict(login['verify_median_ms'] <= MAX_LOGIN_MS)}"
        )
        rss = pipeline["peak_rss_mib"]
        api_peak = max(
            [v for k, v in raw["server_peak_rss_mib"].items() if k.startswith("orderflow") and v]
            + [rss["api"] or 0]
        )
        worker_peak = rss["worker"] or math.nan
        lines.append(
            f"  memory: peak RSS API {api_peak:.0f} MiB, worker {worker_peak:.0f} MiB "
            f"(≤ {MAX_RSS_MIB:.0f} MiB each): "
            f"{_verdict(api_peak <= MAX_RSS_MIB and worker_peak <= MAX_RSS_MIB)}"
        )
    delivery = raw.get("span_delivery") or {}
    parts = [
        f"{key} {value['server_spans_received']:,}/{value['requests_answered']:,} "
        f"({value['delivered_pct']:.1f}%)"
        for key, value in delivery.items()
        if isinstance(value, dict) and value.get("delivered_pct") is not None
    ]
    if parts:
        lines.append(
            "  server spans received by the Collector / requests answered: " + ", ".join(parts)
        )
    profiles = raw.get("profiles") or {}
    if profiles.get("off") and profiles.get("on"):
        off, on = profiles["off"], profiles["on"]
        lines.append(
            f"  profile (db read, {on['sampler']}): {off['cpu_us_per_request']:.0f} us CPU/request"
            f" off, {on['cpu_us_per_request']:.0f} on; by library (off -> on, us/request): "
            + ", ".join(
                f"{name} {off['by_library_us'].get(name, 0):.0f}->{us:.0f}"
                for name, us in list(on["by_library_us"].items())[:6]
            )
        )
    return "\n".join(lines)
