"""kopf handlers: the wiring between HealthPolicy events and the operator's modules.

Lifecycle of a policy:
- create / resume / spec update -> ``configure``: probes + gate on the target's template.
- while it exists -> ``check_dependencies`` daemon: checks, pod gates, status, Events.
- every few minutes -> ``reconfigure`` timer: repairs drift (someone re-applied the app's
  manifest without our gate, a re-created Deployment).
- delete -> ``release`` (kopf keeps a finalizer until it succeeds): template restored, gate
  conditions removed from the pods.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

import kopf

from orderflow_operator import conditions as cond
from orderflow_operator import metrics, target, telemetry
from orderflow_operator.crd import GROUP, PLURAL, VERSION
from orderflow_operator.crd.models import PolicySpec
from orderflow_operator.kube import KubeClient
from orderflow_operator.monitor import Monitor
from orderflow_operator.report import event, publish_status
from orderflow_operator.state import PolicyState

if TYPE_CHECKING:
    from orderflow_operator.misuse import Finding

FINALIZER = "orderflow.dev/healthpolicy-cleanup"
RECONFIGURE_SECONDS = 300.0

RESOURCE = (GROUP, VERSION, PLURAL)


@kopf.on.startup()
def configure_operator(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Shallow-copied into every object's memo: one set, seen by all (for the liveness probe).
    memo["policies"] = set()
    # Our own names for kopf's bookkeeping on the objects, instead of kopf.zalando.org/*.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="orderflow.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="orderflow.dev", key="last-handled-configuration"
    )
    # No cluster-wide list/watch of Namespaces and CRDs: the namespaces to serve are named on
    # the command line and the CRD is installed by the chart. Least privilege (see RBAC).
    settings.scanning.disabled = True
    # Only the Events we post on purpose; kopf's own handler logs are not Events.
    settings.posting.loggers = False
    # Two replicas with the same priority would both freeze (kopf peering rule): unless the
    # command line fixed one, each process draws its own, and the highest one is active.
    if settings.peering.priority == 0:
        settings.peering.priority = random.randint(1, 2**31 - 1)  # noqa: S311 - not security


@kopf.on.login()
def login(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """In-cluster ServiceAccount first, else $KUBECONFIG. The same credentials serve kopf and
    our ``KubeClient`` (one identity, one set of RBAC rules)."""

    def credentials() -> kopf.ConnectionInfo | None:
        return kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
            settings=settings
        )

    info = credentials()
    if info is None:
        raise kopf.LoginError("no ServiceAccount token and no kubeconfig found")
    if "kube" not in memo:
        memo["kube"] = KubeClient(info, relogin=credentials)
    return info


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    kube = memo.get("kube")
    if isinstance(kube, KubeClient):
        await kube.close()
    telemetry.shutdown_tracing()


@kopf.on.probe(id="policies")
def monitored_policies(memo: kopf.Memo, **_: Any) -> int:
    """Shown by the liveness endpoint; answering at all is what liveness checks."""
    return len(memo["policies"])


def _namespaced(namespace: str | None) -> str:
    # HealthPolicy is a namespaced kind: kopf always passes its namespace.
    assert namespace is not None
    return namespace


def _kube(memo: kopf.Memo) -> KubeClient:
    kube = memo["kube"]
    assert isinstance(kube, KubeClient)
    return kube


def _state(memo: kopf.Memo, status: kopf.Status) -> PolicyState:
    # kopf gives each object its own shallow copy of the operator memo, shared by all
    # handlers and the daemon of that object: the right home for per-policy state.
    state = memo.get("state")
    if not isinstance(state, PolicyState):
        state = PolicyState()
        memo["state"] = state
    state.seed(dict(status))
    return state


def _misuse_changed(state: PolicyState, findings: list[Finding], generation: int) -> bool:
    if findings:
        message = "; ".join(str(f) for f in findings)
        return state.set(cond.PROBE_MISUSE, cond.TRUE, findings[0].code, message, generation)
    return state.set(cond.PROBE_MISUSE, cond.FALSE, "NoMisuse", "no probe misuse found", generation)


async def _configure(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    name: str,
    namespace: str,
    memo: kopf.Memo,
    quiet: bool,
) -> None:
    kube, state = _kube(memo), _state(memo, status)
    generation = int(meta.get("generation", 0))
    policy = PolicySpec.from_dict(spec)
    async with state.lock:
        try:
            findings = await target.configure(kube, namespace, name, policy, state, generation)
        except Exception:
            # kopf retries (TemporaryError: after its delay); the status says why meanwhile.
            metrics.RECONCILE_ERRORS.labels("configure").inc()
            state.refresh_ready(generation)
            await publish_status(kube, namespace, name, state, generation)
            raise
        changed = _misuse_changed(state, findings, generation)
        if findings and (changed or not quiet):
            event(
                body,
                warning=True,
                reason="ProbeMisuse",
                message="; ".join(str(f) for f in findings),
            )
        state.refresh_ready(generation)
        await publish_status(kube, namespace, name, state, generation)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
async def configure(
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    await _configure(
        body=body,
        spec=spec,
        meta=meta,
        status=status,
        name=name,
        namespace=_namespaced(namespace),
        memo=memo,
        quiet=False,
    )


@kopf.timer(*RESOURCE, interval=RECONFIGURE_SECONDS, initial_delay=RECONFIGURE_SECONDS)
async def reconfigure(
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    # quiet: a misuse that has not changed is not announced again every few minutes.
    await _configure(
        body=body,
        spec=spec,
        meta=meta,
        status=status,
        name=name,
        namespace=_namespaced(namespace),
        memo=memo,
        quiet=True,
    )


@kopf.daemon(*RESOURCE, cancellation_timeout=10.0)
async def check_dependencies(
    body: kopf.Body,
    status: kopf.Status,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    logger: kopf.Logger,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    ns = _namespaced(namespace)
    policies: set[tuple[str, str]] = memo["policies"]  # the operator-wide set (startup)
    policies.add((ns, name))
    try:
        await Monitor(_kube(memo), ns, name, body, _state(memo, status), logger).run(stopped)
    finally:
        policies.discard((ns, name))


@kopf.on.delete(*RESOURCE)
async def release(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    ns, state = _namespaced(namespace), _state(memo, status)
    async with state.lock:
        # Under the lock: a check round in flight cannot set a gate after we removed it.
        state.deleting = True
        try:
            cleared = await target.release(_kube(memo), ns, name, PolicySpec.from_dict(spec).target)
        except Exception:
            metrics.RECONCILE_ERRORS.labels("release").inc()
            state.deleting = False
            raise
    metrics.forget(ns, name)
    logger.info(f"released the target; gate condition removed from {cleared} pod(s)")
    event(
        body,
        warning=False,
        reason="Released",
        message=f"probes and readiness gate removed; {cleared} pod(s) cleared",
    )


# Quiet the per-request access log of kopf's liveness endpoint (aiohttp) in JSON logs.
logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
