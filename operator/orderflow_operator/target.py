"""Configuring the target workload (probes + readiness gate) and releasing it again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import kopf

from orderflow_operator import conditions as cond
from orderflow_operator import pods
from orderflow_operator.kube import ApiError, pods_path, workload_path
from orderflow_operator.misuse import find_misuse
from orderflow_operator.pods import TemplateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow_operator.crd.models import PolicySpec, TargetRef
    from orderflow_operator.kube import KubeClient
    from orderflow_operator.misuse import Finding
    from orderflow_operator.state import PolicyState

# A compare-and-swap patch fails when someone else wrote the workload in between (a kubectl
# edit, a Helm upgrade, our other handler): read again and retry a few times.
CAS_ATTEMPTS = 5


class TargetMissing(kopf.TemporaryError):
    pass


def _path(namespace: str, target: TargetRef) -> str:
    return workload_path(namespace, target.api_path, target.name)


async def _get(kube: KubeClient, namespace: str, target: TargetRef) -> dict[str, Any] | None:
    try:
        workload: dict[str, Any] = await kube.get(_path(namespace, target))
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return workload


async def _compare_and_swap(
    kube: KubeClient,
    namespace: str,
    target: TargetRef,
    plan: Callable[[dict[str, Any] | None], list[dict[str, Any]]],
) -> dict[str, Any] | None:
    """Read the workload, let ``plan`` turn it into JSON-patch operations (``pods.
    workload_patch`` tests the resourceVersion first, so the patch applies only to what was
    read) and apply them; on a conflict read again. No operations: nothing to write. Returns
    the workload as last read (None: it does not exist)."""
    for _ in range(CAS_ATTEMPTS):
        workload = await _get(kube, namespace, target)
        ops = plan(workload)
        if not ops:
            return workload
        try:
            await kube.patch(_path(namespace, target), ops, "json")
            return workload
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
    raise kopf.TemporaryError(f"{target.kind} {target.name} kept changing", delay=5)


async def configure(
    kube: KubeClient,
    namespace: str,
    policy: str,
    spec: PolicySpec,
    state: PolicyState,
    generation: int,
) -> list[Finding]:
    """Make the workload's pod template carry the policy; return probe misuse findings.

    Raises kopf errors for kopf to retry (target missing, owned by another policy) after
    recording why in the ProbesConfigured condition (the caller publishes it)."""
    target = spec.target
    template: dict[str, Any] = {}

    def plan(workload: dict[str, Any] | None) -> list[dict[str, Any]]:
        nonlocal template
        if workload is None:
            message = f"{target.kind} {target.name} not found"
            state.set(cond.PROBES_CONFIGURED, cond.FALSE, "TargetNotFound", message, generation)
            raise TargetMissing(message, delay=10)
        holder = pods.owner(workload)
        if holder not in (None, policy):
            message = f"{target.kind} {target.name} is already managed by HealthPolicy {holder}"
            state.set(cond.PROBES_CONFIGURED, cond.FALSE, "Conflict", message, generation)
            raise kopf.TemporaryError(message, delay=30)
        try:
            template, original = pods.apply(workload, spec)
        except TemplateError as exc:
            state.set(cond.PROBES_CONFIGURED, cond.FALSE, "ContainerNotFound", str(exc), generation)
            raise kopf.PermanentError(str(exc)) from exc
        return pods.workload_patch(
            workload,
            template,
            {pods.OWNER_ANNOTATION: policy, pods.ORIGINAL_ANNOTATION: original},
        )

    await _compare_and_swap(kube, namespace, target, plan)
    declared = ", ".join(
        f"{kind.value.removesuffix('Probe')} {probe.path}:{probe.port}"
        for kind, probe in spec.probes.by_kind().items()
    )
    container = template["spec"]["containers"][0]["name"]
    if spec.probes.container:
        container = spec.probes.container
    state.set(
        cond.PROBES_CONFIGURED,
        cond.TRUE,
        "Configured",
        f"{target.kind} {target.name}: readiness gate {pods.GATE}"
        + (f"; container {container}: {declared}" if declared else "; no probes declared"),
        generation,
    )
    return find_misuse(template)


async def release(kube: KubeClient, namespace: str, policy: str, target: TargetRef) -> int:
    """Take back what ``configure`` added; return how many pods lost the gate condition."""

    def plan(workload: dict[str, Any] | None) -> list[dict[str, Any]]:
        if workload is None or pods.owner(workload) != policy:
            return []  # gone, or not ours (any more): nothing to take back
        return pods.workload_patch(
            workload,
            pods.restore(workload),
            {pods.OWNER_ANNOTATION: None, pods.ORIGINAL_ANNOTATION: None},
        )

    workload = await _compare_and_swap(kube, namespace, target, plan)
    if workload is None or pods.owner(workload) not in (None, policy):
        return 0  # gone, or (re)claimed by another policy whose gate this now is
    # Pods of the old template keep their spec.readinessGates (immutable) until the rollout
    # replaces them; drop the condition from their status anyway, as promised.
    cleared = 0
    selector = pods.selector_string(workload["spec"].get("selector") or {})
    for pod in await kube.list(pods_path(namespace), selector):
        if pods.gate_status(pod)[0] is None:
            continue
        try:
            await kube.patch(
                f"{pods_path(namespace)}/{pod['metadata']['name']}/status",
                pods.gate_removal_patch(),
                "strategic",
            )
            cleared += 1
        except ApiError as exc:
            if exc.status != 404:
                raise
    return cleared


async def target_selector(kube: KubeClient, namespace: str, target: TargetRef) -> str | None:
    workload = await _get(kube, namespace, target)
    if workload is None:
        return None
    return pods.selector_string(workload["spec"].get("selector") or {})
