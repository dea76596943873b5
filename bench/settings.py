"""Knobs of a bench run, from the environment (``make bench`` passes them through)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw else default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw else default


@dataclass(frozen=True)
class BenchSettings:
    quick: bool
    """``BENCH_QUICK=1``: one repetition of short runs (a smoke test of the harness, ~2 min)."""
    reps: int
    """``BENCH_REPS``: repetitions of every measurement (median and min-max are reported)."""
    duration: float
    """``BENCH_DURATION``: seconds of each closed-loop and each open-loop run."""
    warmup: float
    """``BENCH_WARMUP``: seconds of closed-loop load per server and endpoint before measuring."""
    connections: int
    """``BENCH_CONNECTIONS``: wrk connections (closed-loop concurrency)."""
    paired_reps: int
    """``BENCH_PAIRED_REPS``: rounds in which orderflow-on and orderflow-off are loaded at the
    same time on the shared server core (the drift-free loss per CPU-second)."""
    rate_fraction: float
    """``BENCH_RATE_FRACTION``: open-loop rate as a share of the lower of orderflow-off's and
    orderflow-on's closed-loop throughput on the same endpoint (the same rate is then applied
    to every scenario)."""
    rate_db: float
    """``BENCH_RATE_DB``: fixed open-loop rate (req/s) for the database read; 0 = derived."""
    rate_cached: float
    """``BENCH_RATE_CACHED``: fixed open-loop rate (req/s) for the cached endpoint; 0 = derived."""
    pipeline_seconds: float
    """``BENCH_PIPELINE_SECONDS``: seconds of each order-pipeline phase."""
    pipeline_rate: float
    """``BENCH_PIPELINE_RATE``: orders/s of the fixed-rate pipeline phase; 0 = half the
    measured confirmation rate."""
    profile_seconds: float
    """``BENCH_PROFILE_SECONDS``: seconds under load per pyinstrument profile (0 = skip)."""
    profile_nice: int
    """``BENCH_PROFILE_NICE``: niceness of the profiled server during its profiling window only
    (default -10 as root: about 20 s in all, so other jobs on the machine barely notice)."""
    nice: int
    """``BENCH_NICE``: niceness increment for the harness and everything it starts (e.g. -10
    as root on a machine shared with other jobs; default 0 leaves priorities alone)."""

    @classmethod
    def from_env(cls) -> BenchSettings:
        quick = os.environ.get("BENCH_QUICK", "") not in {"", "0", "false", "no"}
        return cls(
            quick=quick,
            reps=_int("BENCH_REPS", 1 if quick else 3),
            duration=_float("BENCH_DURATION", 3 if quick else 5),
            warmup=_float("BENCH_WARMUP", 1 if quick else 2),
            connections=_int("BENCH_CONNECTIONS", 32),
            paired_reps=_int("BENCH_PAIRED_REPS", 1 if quick else 6),
            rate_fraction=_float("BENCH_RATE_FRACTION", 0.5),
            rate_db=_float("BENCH_RATE_DB", 0),
            rate_cached=_float("BENCH_RATE_CACHED", 0),
            pipeline_seconds=_float("BENCH_PIPELINE_SECONDS", 4 if quick else 8),
            pipeline_rate=_float("BENCH_PIPELINE_RATE", 0),
            profile_seconds=_float("BENCH_PROFILE_SECONDS", 3 if quick else 8),
            profile_nice=_int("BENCH_PROFILE_NICE", -10 if os.geteuid() == 0 else 0),
            nice=_int("BENCH_NICE", 0),
        )
