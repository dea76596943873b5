"""The check loop of one HealthPolicy (run by a kopf daemon while the policy exists).

Each round: run the checks that are due (each dependency on its own interval, all in
parallel, each bounded by its timeout), record the results, emit Events on transitions, set
the gate condition on every target pod whose gate disagrees with the verdict, publish the
status. Pods are listed every round, so a pod created by a rollout or a scale-up gets its
gate within one interval.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind, Status, StatusCode

from orderflow_operator import conditions as cond
from orderflow_operator import metrics, pods
from orderflow_operator.checks import CheckResult, describe, run_check
from orderflow_operator.conditions import now_iso
from orderflow_operator.crd.models import PolicySpec
from orderflow_operator.kube import ApiError, pods_path, secret_path
from orderflow_operator.report import event, publish_status
from orderflow_operator.secrecy import (
    KEYS_ANNOTATION,
    NO_REDACTION,
    OPT_IN_LABEL,
    Redactor,
    SecretNotOptedIn,
    opted_in,
    readable_keys,
)
from orderflow_operator.target import target_selector
from orderflow_operator.telemetry import TRACER

if TYPE_CHECKING:
    import kopf

    from orderflow_operator.crd.models import Dependency
    from orderflow_operator.kube import KubeClient
    from orderflow_operator.state import DependencyHealth, PolicyState, Verdict

# Status is written on every change of health or conditions, and otherwise at most this
# often: latency and lastCheck stay fresh without one API write per check.
STATUS_REFRESH_SECONDS = 10.0
SECRET_TTL_SECONDS = 30.0
# Pause after an API failure in a round, so a broken API server is not hammered.
ERROR_BACKOFF_SECONDS = 2.0


class SecretCache:
    """Secrets are read when needed and kept briefly: a rotated password is picked up within
    SECRET_TTL_SECONDS, without one GET per check. Only the keys a Secret opts in are kept."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self._kube, self._namespace = kube, namespace
        self._cache: dict[str, tuple[float, bool, dict[str, str]]] = {}

    async def value(self, name: str, key: str) -> str:
        cached = self._cache.get(name)
        if cached is None or time.monotonic() - cached[0] > SECRET_TTL_SECONDS:
            secret = await self._kube.get(secret_path(self._namespace, name))
            data = secret.get("data") or {}
            # Keys not opted in are dropped at once: never cached, never decoded.
            cached = (
                time.monotonic(),
                opted_in(secret),
                {k: data[k] for k in readable_keys(secret)},
            )
            self._cache[name] = cached
        _, labelled, readable = cached
        if not labelled:
            raise SecretNotOptedIn(
                f"Secret {name} is not labelled {OPT_IN_LABEL}=true: "
                "the operator reads only Secrets opted in to health checks"
            )
        if key not in readable:
            raise SecretNotOptedIn(
                f"Secret {name} has no key {key!r} open to health checks "
                f"(missing, or not listed in its annotation {KEYS_ANNOTATION})"
            )
        return base64.b64decode(readable[key]).decode().strip()


async def _address(dep: Dependency, secrets: SecretCache) -> tuple[str, Redactor]:
    if dep.secret_ref is not None:
        value = await secrets.value(dep.secret_ref.name, dep.secret_ref.key)
        return value, Redactor(value, dep.shown_address)
    assert dep.address is not None  # the CRD requires one of the two
    return dep.address, NO_REDACTION


async def check_dependency(
    namespace: str, policy: str, dep: Dependency, secrets: SecretCache
) -> CheckResult:
    attributes = {
        "k8s.namespace.name": namespace,
        "orderflow.healthpolicy": policy,
        "orderflow.dependency.name": dep.name,
        "orderflow.dependency.type": dep.type.value,
        "orderflow.dependency.critical": dep.critical,
    }
    with TRACER.start_as_current_span(
        "dependency.check", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        try:
            address, redactor = await _address(dep, secrets)
        except Exception as exc:  # the check fails; say why (no Secret, no key, no access)
            result = CheckResult(False, 0.0, f"address from Secret: {describe(exc)}")
        else:
            result = await run_check(dep.type, address, dep.timeout_seconds, redactor)
        span.set_attribute("orderflow.dependency.healthy", result.healthy)
        span.set_attribute("orderflow.dependency.latency_ms", result.latency_ms)
        if result.error:
            span.set_status(Status(StatusCode.ERROR, result.error))
    metrics.observe_check(
        namespace, policy, dep.name, dep.type.value, result.healthy, result.latency_ms / 1000
    )
    return result


async def sync_pods(
    kube: KubeClient, namespace: str, selector: str, verdict: Verdict
) -> tuple[int, int]:
    """Set the gate condition where it disagrees; return (gated pods, patched pods)."""
    if verdict.open is None:
        return 0, 0
    wanted = "True" if verdict.open else "False"
    gated = patched = 0
    for pod in await kube.list(pods_path(namespace), selector):
        if not pods.has_gate(pod) or pod["metadata"].get("deletionTimestamp"):
            continue
        gated += 1
        if pods.gate_status(pod) == (wanted, verdict.reason):
            continue
        body = pods.gate_condition_patch(wanted, verdict.reason, verdict.message, now_iso())
        try:
            await kube.patch(
                f"{pods_path(namespace)}/{pod['metadata']['name']}/status", body, "strategic"
            )
            patched += 1
        except ApiError as exc:
            if exc.status != 404:  # a pod deleted since the list is not an error
                raise
    return gated, patched


def _announce(body: kopf.Body, health: DependencyHealth) -> None:
    dep = health.spec
    what = f"{dep.name} ({dep.type.value} {dep.shown_address})"
    if health.healthy:
        event(body, warning=False, reason="DependencyHealthy", message=f"{what} is healthy again")
    else:
        critical = "critical" if dep.critical else "non-critical"
        event(
            body,
            warning=True,
            reason="DependencyUnhealthy",
            message=f"{critical} dependency {what} is unhealthy: {health.last_error}",
        )


class Monitor:
    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        name: str,
        body: kopf.Body,
        state: PolicyState,
        logger: kopf.Logger,
    ) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.body, self.state, self.logger = body, state, logger
        self.secrets = SecretCache(kube, namespace)
        self.selector: str | None = None
        # The gate as last reported (status survives restarts): no second GateClosed Event
        # from a restarted operator for an outage that was already announced.
        deps = cond.status_of(state.conditions, cond.DEPENDENCIES_HEALTHY)
        self.gate_open: bool | None = {cond.TRUE: True, cond.FALSE: False}.get(deps)
        self.published_at = 0.0

    async def round(self) -> float:
        """One round; returns the seconds until the next dependency is due."""
        loop = asyncio.get_running_loop()
        spec = PolicySpec.from_dict(self.body["spec"])  # a live view: follows spec edits
        generation = int(self.body["metadata"].get("generation", 0))
        self.state.sync_spec(spec)
        metrics.forget(self.namespace, self.name, keep={d.name for d in spec.dependencies})
        now = loop.time()
        due = [h for h in self.state.dependencies.values() if h.next_due <= now]
        results = await asyncio.gather(
            *(check_dependency(self.namespace, self.name, h.spec, self.secrets) for h in due)
        )
        async with self.state.lock:
            if self.state.deleting:  # kopf is about to stop this daemon: wait for it, idle
                return ERROR_BACKOFF_SECONDS
            checked_at = now_iso()
            before = list(self.state.conditions)
            flipped = False
            for health, result in zip(due, results, strict=True):
                health.next_due = now + health.spec.interval_seconds
                if self.state.record(health.spec.name, result, checked_at):
                    flipped = True
                    _announce(self.body, health)
            self.state.refresh_dependency_conditions(generation)
            verdict = self.state.verdict()
            if self.selector is None:
                self.selector = await target_selector(self.kube, self.namespace, spec.target)
            if self.selector is not None:
                gated, patched = await sync_pods(self.kube, self.namespace, self.selector, verdict)
                self._gate_moved(verdict, gated, patched)
            if (
                flipped
                or self.state.conditions != before
                or loop.time() - self.published_at >= STATUS_REFRESH_SECONDS
            ):
                await publish_status(self.kube, self.namespace, self.name, self.state, generation)
                self.published_at = loop.time()
        upcoming = min((h.next_due for h in self.state.dependencies.values()), default=now + 10)
        return max(0.0, upcoming - loop.time())

    def _gate_moved(self, verdict: Verdict, gated: int, patched: int) -> None:
        if verdict.open is None:
            return
        metrics.set_gate(self.namespace, self.name, verdict.open)
        if verdict.open == self.gate_open:
            return
        first = self.gate_open is None
        self.gate_open = verdict.open
        if verdict.open and not first:
            event(
                self.body,
                warning=False,
                reason="GateOpened",
                message=f"{gated} pod(s) may be Ready again: {verdict.message}",
            )
        elif not verdict.open:
            event(
                self.body,
                warning=True,
                reason="GateClosed",
                message=f"{gated} pod(s) held NotReady ({patched} changed): {verdict.message}",
            )

    async def run(self, stopped: kopf.DaemonStopped) -> None:
        while not stopped:
            try:
                delay = await self.round()
            except Exception as exc:  # keep checking: an API hiccup must not stop the gate
                metrics.RECONCILE_ERRORS.labels("monitor").inc()
                self.logger.warning(f"check round failed: {describe(exc)}")
                self.selector = None  # the workload may have been re-created
                delay = ERROR_BACKOFF_SECONDS
            await stopped.wait(delay)
