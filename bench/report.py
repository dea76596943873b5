"""The one table (and the targets beneath it) from a run's raw results."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

from bench.stats import Spread, loss_pct, ratio

SCENARIOS = (
    "orderflow-off",
    "orderflow-on",
    # orderflow-on plus continuous CPU profiling (PROFILING_ENABLED, 100 Hz) to a stand-in for
    # Pyroscope: the cost of the fourth signal on top of the other three.
    "orderflow-profiled",
    "fastapi",
    "fastapi-otel",
    "litestar-asyncpg",
    "raw-asyncpg",
)
# Targets, telemetry fully on at 100% sampling: throughput loss (on vs off) per endpoint, the
# same loss per server CPU-second, open-loop p99 ratio, and the zero-code FastAPI peer.
MAX_LOSS_PCT = {"db": 25.0, "cached": 30.0}
MAX_CPU_LOSS_PCT = 30.0
MAX_P99_RATIO = 1.25
MIN_VS_ZEROCODE = 3.0
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
    zerocode = rows["fastapi-otel"]
    ratios = {
        "loss_pct": loss_pct(on["rps"].median, off["rps"].median),
        "p99_ratio": ratio(on["p99"].median, off["p99"].median),
        # The same loss measured as server CPU per request: robust to other load on the box.
        "cpu_loss_pct": loss_pct(on["per_cpu"].median, off["per_cpu"].median),
        "vs_zerocode_x": ratio(on["rps"].median, zerocode["rps"].median),
        "cpu_vs_zerocode_x": ratio(on["per_cpu"].median, zerocode["per_cpu"].median),
        "zerocode_loss_pct": loss_pct(zerocode["rps"].median, rows["fastapi"]["rps"].median),
        "vs_fastapi_x": ratio(on["rps"].median, rows["fastapi"]["rps"].median),
        "off_vs_litestar_pct": 100
        * ratio(off["rps"].median, rows["litestar-asyncpg"]["rps"].median),
        "profiling_loss_pct": loss_pct(rows["orderflow-profiled"]["rps"].median, on["rps"].median),
        "profiling_cpu_loss_pct": loss_pct(
            rows["orderflow-profiled"]["per_cpu"].median, on["per_cpu"].median
        ),
        "profiling_p99_ratio": ratio(rows["orderflow-profiled"]["p99"].median, on["p99"].median),
    }
    # Rounds with on and off loaded at the same time on the shared core (run.timed_together).
    paired = Spread.of(
        [
            loss_pct(
                r["orderflow-on"]["requests_per_cpu_s"], r["orderflow-off"]["requests_per_cpu_s"]
            )
            for r in result.get("paired", [])
        ]
    )
    return {"rows": rows, "ratios": ratios, "paired_cpu_loss": paired}


def render(raw: dict[str, Any]) -> str:  # noqa: PLR0912, PLR0915 - one linear report
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
        f"{'scenario':<17} {'req/s':>22} {'req/CPU-s':>10} {'p50 ms':>20} {'p99 ms':>22} "
        f"{'loss':>6} {'CPU loss':>8} {'p99 x':>6} {'vs zero-code':>12}"
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
                    f" {r['loss_pct']:>5.1f}% {r['cpu_loss_pct']:>7.1f}% {r['p99_ratio']:>5.2f}x"
                    f" {r['vs_zerocode_x']:>11.2f}x"
                )
            elif scenario == "orderflow-profiled":
                extra = (
                    f" {r['profiling_loss_pct']:>5.1f}% {r['profiling_cpu_loss_pct']:>7.1f}%"
                    f" {r['profiling_p99_ratio']:>5.2f}x  (vs orderflow-on)"
                )
            elif scenario == "fastapi-otel":
                extra = f" {r['zerocode_loss_pct']:>5.1f}%  (vs fastapi)"
            saturated = any(
                o["achieved_rps"] < 0.95 * o["rate"] or o["unanswered"] or o["errors"]
                for o in result["open"][scenario]
            )
            lines.append(
                f"{scenario:<17} {_fmt(row['rps'], 0):>22} {row['per_cpu'].median:>10,.0f} "
                f"{_fmt(row['p50'], 2):>20} "
                f"{_fmt(row['p99'], 2):>22}{extra}"
                + ("  (saturated at this rate)" if saturated else "")
            )
            errors = sum(c["error_count"] for c in result["closed"][scenario])
            if errors:
                lines.append(f"{'':<17} ! {errors} wrk errors (non-2xx or socket)")
        lines.append("")

    sampler = raw.get("sampler") or {"OTEL_TRACES_SAMPLER": "always_on"}
    full = sampler["OTEL_TRACES_SAMPLER"] == "always_on"
    sampling = (
        "100% sampling"
        if full
        else f"{sampler['OTEL_TRACES_SAMPLER']} {sampler.get('OTEL_TRACES_SAMPLER_ARG', '')}"
    )
    lines.append(
        f"Targets (telemetry fully on, {sampling}, OTLP {raw.get('otlp_protocol', 'http')}), "
        "same run:"
    )
    for key, summary in summaries.items():
        r = summary["ratios"]
        lines.append(
            f"  {key:<6} throughput loss on/off {r['loss_pct']:5.1f}% (≤ {MAX_LOSS_PCT[key]:.0f}%):"
            f" {_verdict(r['loss_pct'] <= MAX_LOSS_PCT[key])};  per server CPU-second "
            f"{r['cpu_loss_pct']:.1f}% (≤ {MAX_CPU_LOSS_PCT:.0f}%): "
            f"{_verdict(r['cpu_loss_pct'] <= MAX_CPU_LOSS_PCT)};  open-loop p99 on/off "
            f"{r['p99_ratio']:.2f}x (≤ {MAX_P99_RATIO}x): "
            f"{_verdict(r['p99_ratio'] <= MAX_P99_RATIO)}"
        )
        paired = summary["paired_cpu_loss"]
        if paired.n:
            lines.append(
                f"  {key:<6} per server CPU-second with on and off sharing the core at the same "
                f"time (drift-free, {paired.n} rounds): {_fmt(paired, 1)}% "
                f"(≤ {MAX_CPU_LOSS_PCT:.0f}%): {_verdict(paired.median <= MAX_CPU_LOSS_PCT)}"
            )
        lines.append(
            f"  {key:<6} vs FastAPI under zero-code OpenTelemetry {r['vs_zerocode_x']:.2f}x "
            f"(≥ {MIN_VS_ZEROCODE:.0f}x): {_verdict(r['vs_zerocode_x'] >= MIN_VS_ZEROCODE)} "
            f"({r['cpu_vs_zerocode_x']:.2f}x per CPU-second);  orderflow-on "
            f"{r['vs_fastapi_x']:.2f}x plain FastAPI; "
            f"orderflow-off at {r['off_vs_litestar_pct']:.0f}% of the "
            "Litestar + asyncpg ceiling"
        )
    delivery = raw.get("span_delivery") or {}
    parts = [
        f"{key} {scenario} {value['server_spans_received']:,}/{value['requests_answered']:,} "
        f"({value['delivered_pct']:.1f}%)"
        for key, by_scenario in delivery.items()
        if isinstance(by_scenario, dict)
        for scenario, value in by_scenario.items()
        if value.get("delivered_pct") is not None
    ]
    if parts:
        complete = all(
            value["server_spans_received"] >= value["requests_answered"]
            for by_scenario in delivery.values()
            if isinstance(by_scenario, dict)
            for value in by_scenario.values()
        )
        lines.append(
            "  server spans received by the Collector / requests answered: "
            + ", ".join(parts)
            + (f": {_verdict(complete)} (no span dropped)" if full else " (head-sampled)")
        )
    profiled = raw.get("profiling") or {}
    if profiled:
        lines.append(
            f"  orderflow-profiled: {profiled['pushes']} profile pushes, "
            f"{profiled['samples']:,} CPU samples received by the Pyroscope stand-in"
        )
    logs = raw.get("log_delivery") or {}
    if logs:
        lost = {name: len(found) for name, found in logs["losses"].items() if found}
        lines.append(
            f"  orderflow-on log records in requests: {logs['log_records_received']:,} received"
            f" / {logs['log_lines_written']:,} written; SDK loss reports (queue full, failed "
            f"export of spans, logs or metric points): {lost or 'none'}: "
            f"{_verdict(not lost and logs['log_records_received'] >= logs['log_lines_written'])}"
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
            f"{a2s['p50_ms']:.1f} / p99 {a2s['p99_ms']:.1f} ms (n={e2s['n']}); message attempts "
            f"that raised in the worker: {pipeline.get('failed_attempts', 'not counted')}"
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
