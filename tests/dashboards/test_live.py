"""Dashboards and rules against the real stack (conftest.py), in one scenario:

1. healthy baseline: ``orderflow traffic`` for ~40 s; no alert may fire;
2. fault "payments declined, email service down" (worker env ``PAYMENT_FAILURE_RATE=1.0``,
   ``EMAIL_SINK_URL`` at a dead port): the settlement burn-rate and dead-letter alerts must
   become pending, and clear once the worker runs with the healthy configuration again;
3. fault "slow payments, one thread" (``PAYMENT_LATENCY_MS``, ``WORKER_THREADS=1``) while a
   prober places orders: the queue-age alert goes pending, and clears once the backlog drains;
4. fault "worker stopped": the worker-absent alert goes pending, and clears on restart;
5. fault "API answers 503" (API env ``CHAOS_ERROR_RATE=0.5``) while a prober logs in and
   places orders: the login and order-placement availability burn-rate alerts go pending,
   and clear once the API runs without the fault.

Traffic runs the whole time. Afterwards every Prometheus query of every dashboard panel, every
recording rule and every alert rule (comparisons made ``bool``) is evaluated over the scenario's
time range: each must return at least one value; every metric name and every label selector
used must match series. Rule windows and ``for:`` durations are the production ones divided by
60 (promstack.py explains why that is faithful).

This is a fast setting on purpose (1 s scrapes of ``/metrics``, ``$__rate_interval`` 30 s) so the
faults fit in minutes; the settings and the OTLP path the chart ships, read from the rendered
chart, are proven by ``test_shipped.py``.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import redis

from orderflow.devservices import free_port
from tests.dashboards.conftest import JourneyProber
from tests.dashboards.promstack import (
    TIME_SCALE,
    PanelQuery,
    Prometheus,
    dashboard_queries,
    finite_values,
    rules,
    scale_expr,
    signal_of,
    wait_for,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.dashboards.conftest import Stack

pytestmark = pytest.mark.timeout(900)

#: Metric names that exist only after something went wrong, each with the reason a healthy
#: scenario cannot produce it; queries using them must fall back to ``or 0 * <present>``.
MAY_BE_ABSENT = {
    "otelcol_exporter_send_failed_spans_total": "the test Collector's file exporter never fails",
}
#: The operator runs only against a Kubernetes API: its dashboard is evaluated by
#: test_operator_dashboard.py, which runs the operator on the test bed.
OPERATOR_DASHBOARD = "operator.json"


@dataclass
class FaultResult:
    name: str
    alerts: tuple[str, ...]
    first_state: dict[str, str] = field(default_factory=dict)
    cleared: dict[str, bool] = field(default_factory=dict)
    error: str = ""
    evidence: dict[str, float] = field(default_factory=dict)  # what the series did meanwhile


@dataclass
class Scenario:
    prom: Prometheus
    start: float
    end: float = 0.0
    baseline_alerts: set[tuple[str, str]] = field(default_factory=set)
    #: (true age of the head of dramatiq:orders read from Redis, what Prometheus has)
    queue_age_samples: list[tuple[float, float]] = field(default_factory=list)
    faults: list[FaultResult] = field(default_factory=list)


def _active(prom: Prometheus) -> dict[str, str]:
    """alertname -> most advanced state among its instances."""
    out: dict[str, str] = {}
    for alert in prom.alerts():
        name, state = alert["labels"]["alertname"], alert["state"]
        if out.get(name) != "firing":
            out[name] = state
    return out


def _fault(
    stack: Stack,
    name: str,
    alerts: tuple[str, ...],
    switch_on: Callable[[], object],
    switch_off: Callable[[], object],
    evidence: tuple[str, ...] = (),
    probe: Callable[[], object] | None = None,
    min_duration: float = 0,
    pending_timeout: float = 60,
    clear_timeout: float = 150,
) -> FaultResult:
    """Switch a fault on, wait until every alert of ``alerts`` is active (recording the first
    state seen), switch it off, wait until they clear."""
    result = FaultResult(name, alerts)
    try:
        # Start clean: a restart in the previous phase may still hold one of these alerts.
        wait_for(
            lambda: not set(alerts) & set(_active(stack.prom)), 90, f"{alerts} inactive before"
        )
        switch_on()
        started = time.monotonic()
        deadline = started + pending_timeout
        while time.monotonic() < deadline and (
            len(result.first_state) < len(alerts) or time.monotonic() < started + min_duration
        ):
            for alert, state in _active(stack.prom).items():
                if alert in alerts and alert not in result.first_state:
                    result.first_state[alert] = state
            if probe is not None:
                probe()
            time.sleep(0.25)
        for expr in evidence:
            values = finite_values(stack.prom.query(expr))
            result.evidence[expr] = max(values, default=float("nan"))
        switch_off()
        deadline = time.monotonic() + clear_timeout
        while time.monotonic() < deadline:
            active = _active(stack.prom)
            result.cleared = {a: a not in active for a in alerts}
            if all(result.cleared.values()):
                break
            time.sleep(0.5)
    except Exception as exc:  # recorded; the tests below report it
        result.error = repr(exc)
    return result


def _queue_age_sample(stack: Stack) -> tuple[float, float]:
    """The truth (Dramatiq RPUSHes new messages and LPOPs from the head, so the oldest waiting
    message is at index 0) next to what the queue-age panel and alert read."""
    client = redis.Redis.from_url(stack.env["REDIS_URL"])
    try:
        head = client.lindex("dramatiq:orders", 0)
        body = client.hget("dramatiq:orders.msgs", head) if head is not None else None
    finally:
        client.close()
    true_age = 0.0
    if isinstance(body, bytes):
        true_age = max(0.0, time.time() - json.loads(body)["message_timestamp"] / 1000)
    shown = finite_values(stack.prom.query('jobs_queue_oldest_age_seconds{job_queue="orders"}'))
    return true_age, max(shown, default=float("nan"))


def _api_errors(stack: Stack) -> FaultResult:
    """CHAOS_ERROR_RATE=0.5 on the API (restarted with it), with the journey prober running."""
    with JourneyProber(stack.api_url) as prober:
        result = _fault(
            stack,
            "API answers 503 to half of the requests",
            ("LoginAvailabilityBurnRateFast", "OrderPlacementAvailabilityBurnRateFast"),
            lambda: stack.restart_api(CHAOS_ERROR_RATE="0.5"),
            stack.restart_api,
        )
    if 503 not in prober.answers:
        result.error = f"the prober never saw a 503: {prober.answers}"
    stack.start_traffic(duration=900)  # the restarts may have broken its connections
    return result


@pytest.fixture(scope="module")
def scenario(stack: Stack) -> Iterator[Scenario]:
    prom = stack.prom
    wait_for(
        lambda: set(prom.targets_health().values()) == {"up"},
        60,
        f"all scrape targets up ({prom.targets_health()})",
    )
    # Prometheus evaluates rules from start-up, before the first scrape of every target: with
    # the test's short `for:` that start-up absence can raise WorkerMetricsAbsent for a moment.
    # It is not part of the baseline; let it resolve first (a real problem would not).
    wait_for(lambda: not prom.alerts(), 30, "start-up alerts resolved")
    result = Scenario(prom, start=time.time())
    stack.start_traffic(duration=900)
    stack.business_extras()
    # 1. healthy baseline
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        result.baseline_alerts |= {(a["labels"]["alertname"], a["state"]) for a in prom.alerts()}
        time.sleep(0.5)
    # 2.-4. faults switched on by configuration
    dead_port = str(_dead_port())
    healthy_worker = stack.start_worker
    result.faults.append(
        _fault(
            stack,
            "payments declined + email service down",
            ("OrderSettlementAvailabilityBurnRateFast", "JobsDeadLettered"),
            lambda: stack.start_worker(
                PAYMENT_FAILURE_RATE="1.0", EMAIL_SINK_URL=f"http://127.0.0.1:{dead_port}/"
            ),
            healthy_worker,
        )
    )
    with JourneyProber(stack.api_url):  # orders arrive faster than one slow thread settles
        result.faults.append(
            _fault(
                stack,
                "slow payments, one worker thread",
                ("JobsQueueBacklogOld",),
                lambda: stack.start_worker(PAYMENT_LATENCY_MS="5000", WORKER_THREADS="1"),
                healthy_worker,
                evidence=(
                    'max_over_time(jobs_queue_depth{job_queue="orders"}[2m])',
                    'max_over_time(jobs_queue_oldest_age_seconds{job_queue="orders"}[2m])',
                ),
                probe=lambda: result.queue_age_samples.append(_queue_age_sample(stack)),
                min_duration=30,
            )
        )
    result.faults.append(
        _fault(stack, "worker stopped", ("WorkerMetricsAbsent",), stack.stop_worker, healthy_worker)
    )
    result.faults.append(_api_errors(stack))
    stack.business_extras()
    time.sleep(3)
    result.end = time.time()
    yield result
    stack.stop_traffic()


def _dead_port() -> int:
    return free_port()


def _range(prom: Prometheus, scenario: Scenario, expr: str) -> list[float]:
    data = prom._get(
        "/api/v1/query_range",
        query=expr,
        start=str(scenario.start),
        end=str(scenario.end),
        step="1",
    )
    values: list[float] = []
    for series in data["result"]:
        values += [float(v) for _, v in series["values"] if v.lower() != "nan"]
    return values


# ------------------------------------------------------------------------------ baseline


def test_healthy_baseline_raises_no_alert(scenario: Scenario) -> None:
    """No alert fires under healthy traffic. (A moment of `pending` is what `for:` absorbs,
    e.g. one scrape of a loaded worker over the 1 s timeout marks its series stale.)"""
    firing = {(name, state) for name, state in scenario.baseline_alerts if state == "firing"}
    assert firing == set(), scenario.baseline_alerts


def test_rules_evaluate_without_errors(scenario: Scenario) -> None:
    broken = [r for r in scenario.prom.rule_health() if r[1] != "ok"]
    assert not broken, broken
    names = {r[0] for r in scenario.prom.rule_health()}
    assert {r["alert"] for r in rules("alert")} <= names


# -------------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "index", [0, 1, 2, 3], ids=["payments+email", "backlog", "worker-stopped", "api-503"]
)
def test_fault_makes_its_alert_pending_then_clears(scenario: Scenario, index: int) -> None:
    fault = scenario.faults[index]
    assert not fault.error, fault
    for alert in fault.alerts:
        assert alert in fault.first_state, f"{fault.name}: {alert} never became active: {fault}"
        # `for:` is > 0 for every alert: the first state seen must be pending (polled 4x/s).
        assert fault.first_state[alert] == "pending", fault
        assert fault.cleared.get(alert), f"{fault.name}: {alert} did not clear: {fault}"


def test_queue_age_shows_the_oldest_message(scenario: Scenario) -> None:
    """While the backlog fault runs, the queue-age series must follow the oldest waiting
    message (within scrape/collection lag), or the panel and JobsQueueBacklogOld lie."""
    old = [(t, shown) for t, shown in scenario.queue_age_samples if t >= 10]
    assert old, f"the backlog never got 10 s old: {scenario.queue_age_samples[-5:]}"
    # A scrape of a loaded worker over its timeout leaves a gap (no series, NaN): that is not
    # under-reporting, as long as most samples are there.
    shown_at_all = [(t, shown) for t, shown in old if not math.isnan(shown)]
    assert len(shown_at_all) >= len(old) / 2, f"queue age missing in most samples: {old[:5]}"
    old = shown_at_all
    wrong = [(round(t, 1), round(shown, 1)) for t, shown in old if not shown >= t - 3]
    assert not wrong, (
        f"jobs_queue_oldest_age_seconds under-reports the oldest message "
        f"(true age, shown) {wrong[:5]} of {len(old)} samples"
    )


# ---------------------------------------------------------------------------------- data


def _panel_queries() -> list[PanelQuery]:
    return [q for q in dashboard_queries() if q.dashboard != OPERATOR_DASHBOARD]


@pytest.mark.parametrize("query", _panel_queries(), ids=str)
def test_every_panel_query_returns_data(scenario: Scenario, query: PanelQuery) -> None:
    values = _range(scenario.prom, scenario, query.resolved)
    assert values, f"{query}: no data for\n{query.resolved}"


@pytest.mark.parametrize("rule", rules("record"), ids=lambda r: f"{r['record']}:{r['labels']}")
def test_every_recording_rule_returns_data(scenario: Scenario, rule: dict[str, Any]) -> None:
    expr = scale_expr(rule["expr"], TIME_SCALE)
    assert _range(scenario.prom, scenario, expr), f"no data:\n{expr}"
    # and the recorded series exists in the TSDB
    selector = f'{rule["record"]}{{slo="{rule["labels"]["slo"]}"}}'
    assert _range(scenario.prom, scenario, selector), selector


@pytest.mark.parametrize("rule", rules("alert"), ids=lambda r: str(r["alert"]))
def test_every_alert_expression_returns_data(scenario: Scenario, rule: dict[str, Any]) -> None:
    expr = signal_of(scale_expr(rule["expr"], TIME_SCALE))
    assert _range(scenario.prom, scenario, expr), f"no data:\n{expr}"


def _metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)  # strings (matcher values)
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"#.*", "", expr)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", expr))
    keywords = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
    return {w for w in words if w not in keywords and not w.startswith("$")}


def test_every_metric_name_used_is_exposed(scenario: Scenario) -> None:
    """Stricter than "returns data": a misspelt metric hidden behind ``or 0 * x`` fails."""
    exposed = scenario.prom.metric_names()
    used: dict[str, str] = {}
    for query in _panel_queries():
        for name in _metric_names(query.resolved):
            used.setdefault(name, str(query))
    for rule in rules("record") + rules("alert"):
        for name in _metric_names(rule["expr"]):
            used.setdefault(name, str(rule.get("alert") or rule.get("record")))
    missing = {n: where for n, where in used.items() if n not in exposed and n not in MAY_BE_ABSENT}
    assert not missing, missing


_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")


def test_every_label_selector_matches_series(scenario: Scenario) -> None:
    """Label values count too: a wrong ``le="5"`` (Prometheus 3 stores ``le="5.0"``) or route
    would otherwise hide behind ``(bad or 0 * total) / total`` as a healthy-looking 0."""
    selectors: dict[str, str] = {}
    exprs = [(str(q), q.resolved) for q in _panel_queries()] + [
        (str(r.get("alert") or r.get("record")), r["expr"])
        for r in rules("record") + rules("alert")
    ]
    for where, expr in exprs:
        for name, matchers in _SELECTOR.findall(expr):
            if name not in MAY_BE_ABSENT:
                selectors.setdefault(f"{name}{{{matchers}}}", where)
    empty = {
        sel: where
        for sel, where in selectors.items()
        if not _range(scenario.prom, scenario, f"count({sel})")
    }
    assert not empty, empty


def test_latency_exemplars_carry_trace_ids(scenario: Scenario) -> None:
    """The exemplars the latency panels show exist in Prometheus and carry a W3C trace id
    (the ``prometheus`` datasource turns the ``trace_id`` label into a Tempo link)."""
    for metric in ("http_server_request_duration_seconds_bucket", "jobs_duration_seconds_bucket"):
        series = scenario.prom.exemplars(metric, seconds_back=int(time.time() - scenario.start))
        ids = [e["labels"].get("trace_id", "") for s in series for e in s["exemplars"]]
        assert ids, f"no exemplars for {metric}"
        assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids[:5]


def test_queries_return_finite_values_now(scenario: Scenario) -> None:
    """Sanity of the instant API as well (what an alert evaluation sees)."""
    assert finite_values(scenario.prom.query("sum(up)"))
