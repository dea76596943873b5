"""The operator dashboard (charts/orderflow/files/grafana-dashboards/operator.json) against
the real operator.

The operator only runs against a Kubernetes API, so this test uses the operator tests' bed
(tests/operator/conftest.py ``operator_bed``: the test bed cluster, the chart's CRDs and RBAC,
``python -m orderflow_operator`` with the chart ServiceAccount's token). It declares one
HealthPolicy with a healthy dependency (a real Redis) and a broken one (PostgreSQL on a closed
port), points the pinned Prometheus at the operator's ``--metrics-port`` and evaluates every
query of every panel of the dashboard: each must return a finite value.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest

from orderflow.devservices import Redis, free_port
from tests.dashboards.promstack import (
    PanelQuery,
    Prometheus,
    dashboard_queries,
    finite_values,
    wait_for,
)
from tests.operator.conftest import operator_bed
from tests.testbed.manifests import IMAGE, RESTRICTED_SECURITY

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.operator.conftest import OperatorBed

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(600)]
__all__ = ["operator_bed"]  # the operator tests' fixture, used here by name

QUERIES = [q for q in dashboard_queries() if q.dashboard == "operator.json"]


def _deployment(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [
                            {"name": "app", "image": IMAGE, "securityContext": RESTRICTED_SECURITY}
                        ],
                    },
                },
            },
        }
    )


def _policy(name: str, redis_port: int, dead_port: int) -> str:
    return json.dumps(
        {
            "apiVersion": "orderflow.dev/v1alpha1",
            "kind": "HealthPolicy",
            "metadata": {"name": name},
            "spec": {
                "targetRef": {"kind": "Deployment", "name": name},
                "dependencies": [
                    {
                        "name": "cache",
                        "type": "redis",
                        "address": f"127.0.0.1:{redis_port}",
                        "intervalSeconds": 1,
                        "timeoutSeconds": 1,
                    },
                    {
                        "name": "broken-cache",
                        "type": "redis",
                        "address": f"127.0.0.1:{dead_port}",
                        "intervalSeconds": 1,
                        "timeoutSeconds": 1,
                    },
                ],
            },
        }
    )


@pytest.fixture(scope="module")
def operator_prometheus(
    operator_bed: OperatorBed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    redis = Redis().start()
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    workdir: Path = tmp_path_factory.mktemp("operator-dashboard")
    prom = Prometheus(
        workdir,
        free_port(),
        {"orderflow-operator": f"127.0.0.1:{operator_bed.operator.metrics_port}"},
    )
    try:
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("dash"))
        cluster.kubectl(
            "apply", "-n", ns, "-f", "-", input=_policy("dash", redis.port, free_port())
        )
        prom.start()
        # checks every second: wait until both dependencies were checked a few times
        wait_for(
            lambda: (
                len(
                    finite_values(
                        prom.query("orderflow_operator_dependency_check_duration_seconds_count")
                    )
                )
                >= 2
            ),
            120,
            "operator check metrics scraped",
        )
        time.sleep(8)
        yield prom
    finally:
        prom.stop()
        cluster.kubectl("delete", "healthpolicy", "dash", "-n", ns, "--timeout=60s", check=False)
        redis.stop()


def test_operator_dashboard_has_queries() -> None:
    assert len(QUERIES) >= 4


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_every_operator_panel_query_returns_data(
    operator_prometheus: Prometheus, query: PanelQuery
) -> None:
    assert finite_values(operator_prometheus.query(query.resolved)), (
        f"{query}: no data for\n{query.resolved}"
    )


def test_dependency_health_shows_the_broken_dependency(operator_prometheus: Prometheus) -> None:
    """The panel's numbers mean something: 1 for the reachable Redis, 0 for the dead port."""
    result = operator_prometheus.query(
        'min by (dependency) (orderflow_operator_dependency_up{policy="dash"})'
    )
    states = {s["metric"]["dependency"]: float(s["value"][1]) for s in result}
    assert states == {"cache": 1.0, "broken-cache": 0.0}, states
