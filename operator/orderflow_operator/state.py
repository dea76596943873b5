"""What the operator knows about one HealthPolicy between API calls: the last result of each
dependency check, the policy's conditions, and the verdict for the pods' gate.

One ``PolicyState`` per policy, kept in kopf's per-object ``memo`` so the handlers and the
check daemon of that policy share it. A restarted operator seeds it from the object's status
(``seed``), so lastTransitionTime and the last known health survive a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow_operator import conditions as cond

if TYPE_CHECKING:
    from orderflow_operator.checks import CheckResult
    from orderflow_operator.crd.models import Dependency, PolicySpec


@dataclass
class DependencyHealth:
    spec: Dependency
    healthy: bool | None = None  # None: not checked yet
    latency_ms: float | None = None
    last_check: str | None = None
    last_error: str | None = None
    next_due: float = 0.0  # event-loop time of the next check
    # Health reported before an operator restart: only used to decide whether the first
    # result is a transition. The verdict waits for a real check (healthy stays None).
    previous_healthy: bool | None = None

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.spec.name,
            "type": self.spec.type.value,
            "address": self.spec.shown_address,
            "critical": self.spec.critical,
            "healthy": bool(self.healthy),
        }
        if self.latency_ms is not None:
            out["latencyMs"] = round(self.latency_ms)
        if self.last_check is not None:
            out["lastCheck"] = self.last_check
        if self.last_error is not None:
            out["lastError"] = self.last_error
        return out


@dataclass(frozen=True)
class Verdict:
    """Whether the gate should be open. ``open is None``: not every critical dependency has
    been checked yet, so leave the pods' gate as it is (no flapping after a restart)."""

    open: bool | None
    reason: str
    message: str


@dataclass
class PolicyState:
    dependencies: dict[str, DependencyHealth] = field(default_factory=dict)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deleting: bool = False
    seeded: bool = False
    previous_health: dict[tuple[str | None, str | None], bool] = field(default_factory=dict)

    def seed(self, status: dict[str, Any]) -> None:
        if self.seeded:
            return
        self.seeded = True
        self.conditions = [dict(c) for c in status.get("conditions") or []]
        # Last known health by (name, shown address): after a restart, a dependency that is
        # still down is not announced again (Events are for transitions).
        self.previous_health = {
            (d.get("name"), d.get("address")): bool(d.get("healthy"))
            for d in status.get("dependencies") or []
            if d.get("lastCheck")
        }

    def sync_spec(self, spec: PolicySpec) -> None:
        """Follow spec edits: keep the health of dependencies that still exist unchanged."""
        wanted = {d.name: d for d in spec.dependencies}
        for name in list(self.dependencies):
            if name not in wanted:
                del self.dependencies[name]
        for name, dep in wanted.items():
            known = self.dependencies.get(name)
            if known is None:
                previous = self.previous_health.pop((name, dep.shown_address), None)
                self.dependencies[name] = DependencyHealth(dep, previous_healthy=previous)
            elif known.spec != dep:
                # Address or type changed: the old result says nothing about the new one.
                same_target = (known.spec.address, known.spec.secret_ref, known.spec.type) == (
                    dep.address,
                    dep.secret_ref,
                    dep.type,
                )
                self.dependencies[name] = (
                    DependencyHealth(
                        dep, known.healthy, known.latency_ms, known.last_check, known.last_error
                    )
                    if same_target
                    else DependencyHealth(dep)
                )

    def record(self, name: str, result: CheckResult, now: str) -> bool:
        """Store a result; True when the dependency's health flipped (not on the first check
        of a healthy dependency: "up" at startup is not news)."""
        health = self.dependencies[name]
        before = health.healthy if health.healthy is not None else health.previous_healthy
        health.healthy = result.healthy
        health.latency_ms = result.latency_ms
        health.last_check = now
        health.last_error = result.error
        if before is None:
            return not result.healthy
        return before != result.healthy

    def verdict(self) -> Verdict:
        critical = [h for h in self.dependencies.values() if h.spec.critical]
        down = [h for h in critical if h.healthy is False]
        if down:
            detail = "; ".join(f"{h.spec.name}: {h.last_error}" for h in down)
            names = ", ".join(h.spec.name for h in down)
            return Verdict(
                False, "DependencyUnhealthy", f"critical dependency unhealthy: {names} ({detail})"
            )
        if any(h.healthy is None for h in critical):
            return Verdict(None, "Checking", "first checks of the dependencies are running")
        if not critical:
            return Verdict(True, "NoCriticalDependencies", "no critical dependencies declared")
        names = ", ".join(h.spec.name for h in critical)
        return Verdict(True, "DependenciesHealthy", f"critical dependencies healthy: {names}")

    def set(self, type_: str, status: str, reason: str, message: str, generation: int) -> bool:
        self.conditions, changed = cond.set_condition(
            self.conditions, type_, status, reason, message, generation=generation
        )
        return changed

    def refresh_dependency_conditions(self, generation: int) -> None:
        verdict = self.verdict()
        status = {True: cond.TRUE, False: cond.FALSE, None: cond.UNKNOWN}[verdict.open]
        noncritical_down = [
            h.spec.name
            for h in self.dependencies.values()
            if not h.spec.critical and h.healthy is False
        ]
        message = verdict.message
        if noncritical_down:
            message += f"; non-critical unhealthy: {', '.join(noncritical_down)}"
        self.set(cond.DEPENDENCIES_HEALTHY, status, verdict.reason, message, generation)
        self.refresh_ready(generation)

    def refresh_ready(self, generation: int) -> None:
        deps = cond.status_of(self.conditions, cond.DEPENDENCIES_HEALTHY)
        probes = cond.status_of(self.conditions, cond.PROBES_CONFIGURED)
        if deps == probes == cond.TRUE:
            self.set(
                cond.READY,
                cond.TRUE,
                "Ready",
                "probes configured and critical dependencies healthy",
                generation,
            )
        elif probes != cond.TRUE:
            found = cond.find(self.conditions, cond.PROBES_CONFIGURED)
            reason = found["reason"] if found else "Configuring"
            self.set(
                cond.READY,
                cond.FALSE if found else cond.UNKNOWN,
                reason,
                "target not configured yet" if not found else found["message"],
                generation,
            )
        else:
            found = cond.find(self.conditions, cond.DEPENDENCIES_HEALTHY)
            if found is None:  # configured before the first check round finished
                self.set(
                    cond.READY,
                    cond.UNKNOWN,
                    "Checking",
                    "first checks of the dependencies are running",
                    generation,
                )
                return
            status = cond.FALSE if deps == cond.FALSE else cond.UNKNOWN
            self.set(cond.READY, status, found["reason"], found["message"], generation)

    def summary(self) -> str:
        healthy = sum(1 for h in self.dependencies.values() if h.healthy)
        return f"{healthy}/{len(self.dependencies)}"

    def render_status(self, generation: int) -> dict[str, Any]:
        return {
            "observedGeneration": generation,
            "healthy": self.summary(),
            "dependencies": [h.to_status() for h in self.dependencies.values()],
            "conditions": self.conditions,
        }
