"""Writing what the operator knows back to the HealthPolicy: its status and its Events."""

from __future__ import annotations

from typing import TYPE_CHECKING

import kopf

from orderflow_operator.kube import ApiError, policy_status_path

if TYPE_CHECKING:
    from orderflow_operator.kube import KubeClient
    from orderflow_operator.state import PolicyState


async def publish_status(
    kube: KubeClient, namespace: str, name: str, state: PolicyState, generation: int
) -> None:
    """JSON merge patch of the status subresource. Replacing ``conditions`` and
    ``dependencies`` as whole lists is right here: the operator is their only writer, and
    ``state`` holds the merged lists (see ``conditions.set_condition``)."""
    body = {"status": state.render_status(generation)}
    try:
        await kube.patch(policy_status_path(namespace, name), body, "merge")
    except ApiError as exc:
        if exc.status != 404:  # deleted meanwhile: nothing left to report on
            raise


def event(body: kopf.Body, *, warning: bool, reason: str, message: str) -> None:
    """A Kubernetes Event on the policy (posted in the background by kopf)."""
    kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message[:1000])
