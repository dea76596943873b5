"""An alert reaches a person: the real stack (conftest.py) and a Prometheus with the same
targets and rules as test_live.py's, sending to the real Alertmanager (tools/go/alertmanager)
run with the configuration the chart renders (alertstack.py), whose one receiver is this test's
webhook.

Fault: the worker stops. ``WorkerMetricsAbsent`` (severity page) fires; the webhook gets it
with its runbook link; the worker started again, the alert resolves and the resolved
notification arrives. (This fault leaves nothing behind: a burn-rate fault would keep the slow
burn alerts of the shared stack active for minutes after it ends, into test_live.py's healthy
baseline.)

Fast settings, as in test_live.py: rule windows and ``for:`` divided by 60 (promstack.py), and
the chart's route timings set to seconds through its values (groupWait/groupInterval, which
pace notifications and resolutions in minutes as shipped). The shipped route settings,
receivers and notification texts are proven by tests/charts/test_chart_alertmanager.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from orderflow.devservices import free_port
from tests.dashboards.alertstack import Alertmanager, receiving, render_alertmanager
from tests.dashboards.promstack import Prometheus, rules, running, wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.dashboards.conftest import Stack

pytestmark = pytest.mark.timeout(600)

ALERT = "WorkerMetricsAbsent"
#: Seconds instead of the shipped 30 s wait and 5 min interval (see the module docstring).
FAST_ROUTE = {"groupWait": "1s", "groupInterval": "2s", "repeatInterval": "1h"}


def _values(path: Path, webhook_url: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "alertmanager": {
                    "enabled": True,
                    "route": FAST_ROUTE,
                    "receivers": [
                        {
                            "name": "test-webhook",
                            "severities": ["page", "ticket"],
                            "webhook": {"url": webhook_url},
                        }
                    ],
                }
            }
        )
    )
    return path


def test_alert_fires_to_the_webhook_with_its_runbook_then_resolves(
    stack: Stack, tmp_path: Path
) -> None:
    with receiving() as receiver:
        rendered = render_alertmanager(_values(tmp_path / "values.yaml", receiver.url))
        alertmanager = Alertmanager(rendered, tmp_path / "alertmanager", free_port()).start()
        prom = Prometheus(
            tmp_path / "prometheus",
            free_port(),
            stack.prom.targets,
            stack.prom.rule_files,
            job_options=stack.prom.job_options,
            alertmanagers=[alertmanager.address],
        )
        try:
            with running(prom):
                wait_for(lambda: set(prom.targets_health().values()) == {"up"}, 60, "targets up")
                # Rules evaluate from start-up, before the first scrape (test_live.py waits the
                # same way): only an alert that started with the fault counts.
                wait_for(lambda: not prom.alerts(), 60, "start-up alerts resolved")
                since = len(receiver.payloads)
                stopped_at = datetime.now(UTC)
                stack.stop_worker()
                fault_on = time.monotonic()
                try:
                    firing = wait_for(
                        lambda: [
                            a
                            for a in receiver.notifications(ALERT, "firing", since)
                            if _time(a["startsAt"]) >= stopped_at
                        ],
                        120,
                        f"{ALERT} firing",
                    )
                finally:
                    fired_after = time.monotonic() - fault_on
                    stack.start_worker()
                fault_off = time.monotonic()
                # The same alert (its start time), not one raised at Prometheus' start-up
                # whose resolution may still be on its way.
                resolved = wait_for(
                    lambda: [
                        a
                        for a in receiver.notifications(ALERT, "resolved", since)
                        if a["startsAt"] == firing[0]["startsAt"]
                    ],
                    120,
                    f"{ALERT} resolved",
                )
                resolved_after = time.monotonic() - fault_off
        finally:
            alertmanager.stop()
    print(
        f"\n{ALERT}: firing notification {fired_after:.1f}s after the fault, resolved"
        f" {resolved_after:.1f}s after it ended; {len(receiver.payloads)} notifications"
    )

    shipped_rule: dict[str, Any] = next(r for r in rules("alert") if r["alert"] == ALERT)
    # Points at a section of the runbook (test_static.py checks every rule's link).
    runbook_url = shipped_rule["annotations"]["runbook_url"]
    for alert in (firing[0], resolved[0]):
        assert alert["labels"]["severity"] == shipped_rule["labels"]["severity"] == "page"
        assert alert["annotations"]["runbook_url"] == runbook_url
        assert alert["annotations"]["summary"] == shipped_rule["annotations"]["summary"]
    assert _time(resolved[0]["endsAt"]) >= _time(firing[0]["startsAt"]) >= stopped_at


def _time(value: str) -> datetime:
    """An RFC 3339 time as Alertmanager writes it (nanoseconds cut to what Python keeps)."""
    whole, _, fraction = value.removesuffix("Z").partition(".")
    micro = (fraction + "000000")[:6]
    return datetime.fromisoformat(f"{whole}.{micro}+00:00")
