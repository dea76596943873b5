"""SLOs, recording rules and alert rules of orderflow, as data.

``python -m orderflow_dashboards`` renders this (and ``panels.py``) into the chart's
``files/prometheus-rules/``; the tests read the rendered files, and check that they are up to
date.

SLO maths: the multi-window, multi-burn-rate alerts of the Google SRE workbook (chapter
"Alerting on SLOs"). For each SLO a recording rule per window gives the ratio of bad events
``slo:sli_error:ratio_rate<window>{slo="..."}``; an alert fires when both a long and a short
window burn the error budget faster than a factor:

======  ============  ============  ===========  ==========
alert   long window   short window  burn factor  severity
======  ============  ============  ===========  ==========
fast    1h            5m            14.4         page (2 % of a 30-day budget in 1 h)
fast    6h            30m           6            page (5 % in 6 h)
slow    1d            2h            3            ticket (10 % in 1 d)
slow    3d            6h            1            ticket (10 % in 3 d)
======  ============  ============  ===========  ==========
"""

from __future__ import annotations

from dataclasses import dataclass

# Repository-relative: prefix it with where the repository is browsed (a docs site, a forge);
# the chart does that with `lgtm.alertRules.runbookBaseUrl`.
RUNBOOK = "grafana-dashboards/RUNBOOK.md"
GRAFANA = "/d"  # relative dashboard links: work on whatever host serves Grafana

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
FAST = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
SLOW = (("1d", "2h", 3.0), ("3d", "6h", 1.0))

API_LOGIN = 'http_route="/api/login", http_request_method="POST"'
API_ORDER = 'http_route="/api/orders", http_request_method="POST"'
SETTLE = 'job_actor="process_order"'


@dataclass(frozen=True)
class Slo:
    name: str  # the `slo` label value
    title: str
    journey: str
    objective: float  # e.g. 0.995
    bad: str  # PromQL over a window placeholder `{w}`: bad events per second
    total: str  # PromQL: all events per second
    dashboard: str  # uid of the dashboard to open
    runbook: str  # anchor in RUNBOOK.md
    description: str

    @property
    def budget(self) -> float:
        return round(1 - self.objective, 6)

    @property
    def alert_prefix(self) -> str:
        return "".join(p.capitalize() for p in self.name.split("-"))

    def ratio(self, window: str) -> str:
        bad = self.bad.replace("{w}", window)
        total = self.total.replace("{w}", window)
        # `or 0 * total`: no bad event at all is a ratio of 0, not "no data" (the bad series
        # only exists after the first bad event); no traffic at all stays "no data".
        return f"(\n  {bad}\n  or\n  0 * {total}\n)\n/\n{total}"


def _http_5xx(selector: str) -> str:
    return (
        f'sum(rate(http_server_request_total{{{selector}, http_response_status_code=~"5.."}}'
        "[{w}]))"
    )


def _http_all(selector: str) -> str:
    return f"sum(rate(http_server_request_total{{{selector}}}[{{w}}]))"


def _slower_than(metric: str, selector: str, le: str) -> str:
    return (
        f"(\n    sum(rate({metric}_count{{{selector}}}[{{w}}]))\n"
        f'    - sum(rate({metric}_bucket{{{selector}, le="{le}"}}[{{w}}]))\n  )'
    )


def _count(metric: str, selector: str) -> str:
    return f"sum(rate({metric}_count{{{selector}}}[{{w}}]))"


HTTP_DURATION = "http_server_request_duration_seconds"
JOB_DURATION = "jobs_duration_seconds"

SLOS: tuple[Slo, ...] = (
    Slo(
        name="login-availability",
        title="Login availability",
        journey="log in",
        objective=0.995,
        bad=_http_5xx(API_LOGIN),
        total=_http_all(API_LOGIN),
        dashboard="orderflow-api-red",
        runbook="login-availability",
        description="99.5 % of POST /api/login answer without a 5xx (401 is a correct answer).",
    ),
    Slo(
        name="login-latency",
        title="Login latency",
        journey="log in",
        objective=0.99,
        bad=_slower_than(HTTP_DURATION, API_LOGIN, "5.0"),
        total=_count(HTTP_DURATION, API_LOGIN),
        dashboard="orderflow-api-red",
        runbook="login-latency",
        description=(
            "99 % of POST /api/login within 5 s (argon2id hashing is deliberately slow; "
            "le=5 is the bucket boundary)."
        ),
    ),
    Slo(
        name="order-placement-availability",
        title="Order placement availability",
        journey="place an order",
        objective=0.995,
        bad=_http_5xx(API_ORDER),
        total=_http_all(API_ORDER),
        dashboard="orderflow-api-red",
        runbook="order-placement-availability",
        description="99.5 % of POST /api/orders answer without a 5xx (409 sold-out is correct).",
    ),
    Slo(
        name="order-placement-latency",
        title="Order placement latency",
        journey="place an order",
        objective=0.99,
        bad=_slower_than(HTTP_DURATION, API_ORDER, "2.5"),
        total=_count(HTTP_DURATION, API_ORDER),
        dashboard="orderflow-api-red",
        runbook="order-placement-latency",
        description="99 % of POST /api/orders within 2.5 s.",
    ),
    Slo(
        name="order-settlement-availability",
        title="Order settlement success",
        journey="order settled by the worker",
        objective=0.99,
        bad='sum(rate(orders_settled_total{outcome="failed"}[{w}]))',
        total="sum(rate(orders_settled_total[{w}]))",
        dashboard="orderflow-business",
        runbook="order-settlement-availability",
        description="99 % of orders the worker settles end confirmed, not failed.",
    ),
    Slo(
        name="order-settlement-latency",
        title="Order settlement latency",
        journey="order settled by the worker",
        objective=0.99,
        bad=_slower_than(JOB_DURATION, SETTLE, "10.0"),
        total=_count(JOB_DURATION, SETTLE),
        dashboard="orderflow-worker",
        runbook="order-settlement-latency",
        description="99 % of process_order jobs (payment + saga step) finish within 10 s.",
    ),
)


def _fmt_factor(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook: str
    dashboard: str
    labels: tuple[tuple[str, str], ...] = ()


def burn_alerts(slo: Slo) -> list[Alert]:
    alerts: list[Alert] = []
    for kind, pairs, severity, for_ in (
        ("Fast", FAST, "page", "2m"),
        ("Slow", SLOW, "ticket", "15m"),
    ):
        clauses = []
        for long, short, factor in pairs:
            threshold = f"({_fmt_factor(factor)} * {slo.budget:g})"
            clauses.append(
                f'(\n  slo:sli_error:ratio_rate{long}{{slo="{slo.name}"}} > {threshold}\n'
                f'  and\n  slo:sli_error:ratio_rate{short}{{slo="{slo.name}"}} > {threshold}\n)'
            )
        alerts.append(
            Alert(
                name=f"{slo.alert_prefix}BurnRate{kind}",
                expr="\nor\n".join(clauses),
                for_=for_,
                severity=severity,
                summary=(
                    f"{slo.title}: error budget burning {'fast' if kind == 'Fast' else 'slowly'}"
                    f" (journey: {slo.journey})"
                ),
                description=(
                    f"SLO: {slo.description} Error budget {slo.budget:.2%}; "
                    f"{'1h/5m or 6h/30m' if kind == 'Fast' else '1d/2h or 3d/6h'} windows both "
                    "burn it too fast. The value is the long window's bad-event ratio."
                ),
                runbook=slo.runbook,
                dashboard=slo.dashboard,
                labels=(("slo", slo.name),),
            )
        )
    return alerts


OTHER_ALERTS: tuple[Alert, ...] = (
    Alert(
        name="JobsDeadLettered",
        expr="sum by (job_queue) (increase(jobs_dead_lettered_total[10m])) > 0",
        for_="1m",
        severity="ticket",
        summary="Jobs of queue {{ $labels.job_queue }} exhausted their retries (dead-lettered)",
        description=(
            "Messages of {{ $labels.job_queue }} went to the dead-letter queue in the last 10"
            " minutes; they will not be retried and expire after 7 days."
        ),
        runbook="dead-letters",
        dashboard="orderflow-worker",
    ),
    Alert(
        name="JobsQueueBacklogOld",
        # The threshold is a duration in seconds: the test rendering scales the number on the
        # line marked `# seconds` by the same factor as every range selector.
        expr="max by (job_queue) (jobs_queue_oldest_age_seconds)\n  > 300 # seconds",
        for_="5m",
        severity="page",
        summary="Oldest message of queue {{ $labels.job_queue }} waits for over 5 minutes",
        description=(
            "The oldest message of {{ $labels.job_queue }} waits for longer than 5 minutes: the"
            " worker does not keep up (or is stuck)."
        ),
        runbook="queue-age",
        dashboard="orderflow-worker",
    ),
    Alert(
        name="WorkerMetricsAbsent",
        expr="absent(jobs_queue_depth)",
        for_="5m",
        severity="page",
        summary="No worker reports its queues: the worker is down or not scraped",
        description=(
            "jobs_queue_depth has no series: no orderflow worker is running (orders are not"
            " settled and the outbox is not relayed) or Prometheus cannot reach it."
        ),
        runbook="worker-absent",
        dashboard="orderflow-worker",
    ),
)


def all_alerts() -> list[Alert]:
    out: list[Alert] = []
    for slo in SLOS:
        out.extend(burn_alerts(slo))
    out.extend(OTHER_ALERTS)
    return out


def recording_rules() -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for slo in SLOS:
        for window in WINDOWS:
            rules.append(
                {
                    "record": f"slo:sli_error:ratio_rate{window}",
                    "expr": slo.ratio(window),
                    "labels": {"slo": slo.name, "objective": f"{slo.objective:g}"},
                }
            )
    return rules


def alert_rules() -> list[dict[str, object]]:
    return [
        {
            "alert": a.name,
            "expr": a.expr,
            "for": a.for_,
            "labels": {"severity": a.severity, **dict(a.labels)},
            "annotations": {
                "summary": a.summary,
                "description": a.description,
                "runbook_url": f"{RUNBOOK}#{a.runbook}",
                "dashboard_url": f"{GRAFANA}/{a.dashboard}",
            },
        }
        for a in all_alerts()
    ]
