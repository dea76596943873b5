"""Which pod may open a TCP connection to which, by the NetworkPolicy rules of the Kubernetes
API (networking.k8s.io/v1), evaluated over rendered policies.

The test bed's real node runs Debian's ``bridge`` CNI plugin, which enforces no NetworkPolicy,
so the chart's policies are proven by evaluation instead (tests/charts/test_chart_netpol.py).
The evaluation over-approximates where the rendered objects cannot tell: an ``ipBlock`` peer
is taken to match every pod (pod IPs are not known here), so "cannot reach" verdicts are sound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    """Named container ports, for rules that name their port."""

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A label selector; an empty one selects everything."""
    selector = selector or {}
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: dict[str, Any], policy_namespace: str, pod: Pod) -> bool:
    if "ipBlock" in peer:
        return True  # over-approximation: see the module docstring
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], pod.namespace_labels):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector"), pod.labels)


def _port_matches(ports: list[dict[str, Any]] | None, pod: Pod, port: int) -> bool:
    if not ports:
        return True
    for rule in ports:
        if rule.get("protocol", "TCP") != "TCP":
            continue
        wanted = rule.get("port")
        if wanted is None:
            return True
        number = pod.ports.get(wanted) if isinstance(wanted, str) else wanted
        if number is None:
            continue
        if int(number) <= port <= int(rule.get("endPort", number)):
            return True
    return False


def _allowed(
    policies: list[tuple[str, dict[str, Any]]],
    subject: Pod,
    direction: str,
    peer: Pod,
    port: int,
    port_owner: Pod,
) -> bool:
    """Whether ``subject``'s policies let traffic ``direction`` ("ingress"/"egress") with
    ``peer`` on ``port`` (a port of ``port_owner``, the destination)."""
    kind = direction.capitalize()
    isolating = [
        (namespace, spec)
        for namespace, spec in policies
        if namespace == subject.namespace
        and selects(spec["podSelector"], subject.labels)
        and kind in spec.get("policyTypes", ["Ingress"])
    ]
    if not isolating:
        return True
    peers_key = "from" if direction == "ingress" else "to"
    return any(
        _port_matches(rule.get("ports"), port_owner, port)
        and (
            peers_key not in rule or any(_peer_matches(p, namespace, peer) for p in rule[peers_key])
        )
        for namespace, spec in isolating
        for rule in spec.get(direction, [])
    )


def can_connect(
    policies: list[tuple[str, dict[str, Any]]], source: Pod, dest: Pod, port: int
) -> bool:
    """``policies``: (namespace, spec) of every NetworkPolicy in the cluster."""
    return _allowed(policies, source, "egress", dest, port, dest) and _allowed(
        policies, dest, "ingress", source, port, dest
    )
