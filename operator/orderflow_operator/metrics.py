"""Prometheus metrics of the operator (scraped from ``--metrics-port``, default 9090).

Labels are bounded by what users declare (policies x dependencies), never by check results
or error texts. Series of a deleted policy are removed (``forget``), so a churn of policies
does not grow the exposition forever.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

DEPENDENCY_LABELS = ("namespace", "policy", "dependency", "type")

DEPENDENCY_UP = Gauge(
    "orderflow_operator_dependency_up",
    "1 if the last check of the dependency succeeded, else 0.",
    DEPENDENCY_LABELS,
)
CHECK_DURATION = Histogram(
    "orderflow_operator_dependency_check_duration_seconds",
    "Duration of one dependency check, failed ones included.",
    DEPENDENCY_LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
GATE_OPEN = Gauge(
    "orderflow_operator_gate_open",
    "1 while the policy's readiness gate is open (all critical dependencies healthy).",
    ("namespace", "policy"),
)
RECONCILE_ERRORS = Counter(
    "orderflow_operator_reconcile_errors_total",
    "Errors while reconciling a HealthPolicy, by the step that failed.",
    ("step",),
)

_known: dict[tuple[str, str], set[tuple[str, str]]] = {}
_gates: set[tuple[str, str]] = set()


def observe_check(
    namespace: str, policy: str, dependency: str, kind: str, healthy: bool, seconds: float
) -> None:
    labels = (namespace, policy, dependency, kind)
    DEPENDENCY_UP.labels(*labels).set(1 if healthy else 0)
    CHECK_DURATION.labels(*labels).observe(seconds)
    _known.setdefault((namespace, policy), set()).add((dependency, kind))


def forget(namespace: str, policy: str, keep: set[str] | None = None) -> None:
    """Drop the series of a deleted policy, or of dependencies no longer in its spec."""
    known = _known.get((namespace, policy), set())
    for dependency, kind in list(known):
        if keep is not None and dependency in keep:
            continue
        labels = (namespace, policy, dependency, kind)
        DEPENDENCY_UP.remove(*labels)
        CHECK_DURATION.remove(*labels)
        known.discard((dependency, kind))
    if keep is None:
        _known.pop((namespace, policy), None)
        if (namespace, policy) in _gates:
            GATE_OPEN.remove(namespace, policy)
            _gates.discard((namespace, policy))


def set_gate(namespace: str, policy: str, is_open: bool) -> None:
    GATE_OPEN.labels(namespace, policy).set(1 if is_open else 0)
    _gates.add((namespace, policy))


def serve(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from the pod IP
    start_http_server(port, addr=address)
