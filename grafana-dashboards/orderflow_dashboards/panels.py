"""The Grafana dashboards of orderflow, as data (rendered by ``render.py``).

Conventions every panel follows (and ``tests/dashboards/test_static.py`` checks in the
rendered JSON):

- datasources by uid only: ``prometheus``, ``tempo``, ``loki`` (the chart provisions them);
- a description: what the panel shows and what "bad" looks like;
- latency panels (any ``_duration_seconds_bucket`` query) carry exemplars, which the
  ``prometheus`` datasource links to ``tempo`` by the ``trace_id`` exemplar label;
- no instance, pod or host names: series are aggregated or split by labels the app defines;
- a ratio whose numerator only exists after the first bad event is written
  ``(bad or 0 * total) / total``: zero when healthy, "no data" only without any traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RI = "$__rate_interval"


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    targets: tuple[Target, ...]
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat | heatmap | table | logs
    width: int = 12
    height: int = 8
    exemplars: bool = False
    datasource: str = "prometheus"
    loki_expr: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[str, ...] = ()  # names from VARIABLES
    tags: tuple[str, ...] = field(default_factory=tuple)


def rate(expr: str) -> str:
    return f"rate({expr}[{RI}])"


def col_rate(metric: str) -> str:
    """rate() of one of the orderflow Collector's own counters."""
    return rate(f"{metric}{{{COL}}}")


def quantile(q: float, metric: str, selector: str = "", by: str = "") -> str:
    group = f"le{', ' + by if by else ''}"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[{RI}])))"


def safe_ratio(bad: str, total: str) -> str:
    return f"(\n  {bad}\n  or\n  0 * {total}\n)\n/\n{total}"


HTTP = "http_server_request_total"
#: SQLAlchemy's pool gauge (unit ``{connection}``). A Prometheus scraping /metrics sees
#: ``..._usage_connections``; through OTLP (the bundled LGTM) Prometheus drops a unit in braces
#: and stores ``..._usage``: select either.
DB_POOL = '__name__=~"db_client_connections_usage(_connections)?"'
#: The orderflow Collector's own metrics (its telemetry resource names it; the bundled LGTM's
#: internal collector reports the same metric names under job "opentelemetry-collector").
COL = 'job="orderflow-collector"'
HTTP_D = "http_server_request_duration_seconds"
ROUTE = 'http_route=~"$route"'
QUEUE = 'job_queue=~"$queue"'
Q5XX = '"5.."'

# ------------------------------------------------------------------------------- overview
OVERVIEW = Dashboard(
    uid="orderflow-overview",
    title="orderflow / Overview (golden signals)",
    description="Is orderflow healthy right now? Traffic, errors, latency, saturation, SLOs.",
    tags=("orderflow", "overview"),
    variables=("trace_id",),
    panels=(
        Panel(
            "Traffic",
            "API requests per second (all routes) and jobs finished per second by the worker. "
            "Bad: a sudden drop to zero (clients cannot reach us) or a spike far above the "
            "usual daily shape.",
            (
                Target(f"sum({rate(HTTP)})", "API requests/s"),
                Target(f"sum({rate('jobs_completed_total')})", "jobs completed/s"),
            ),
            unit="reqps",
        ),
        Panel(
            "Errors: API 5xx ratio",
            "Share of API requests answered with a 5xx. 4xx are client mistakes and not "
            "counted. Bad: anything sustained above 0.5 % (the availability SLOs' budget).",
            (
                Target(
                    safe_ratio(
                        f"sum({rate(HTTP + '{http_response_status_code=~' + Q5XX + '}')})",
                        f"sum({rate(HTTP)})",
                    ),
                    "5xx ratio",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Latency: API p50 / p95 / p99",
            "Request duration quantiles over all routes, from the histogram; dots are "
            "exemplars that open the trace in Tempo. Bad: p99 above 1 s, or p50 creeping up.",
            (
                Target(quantile(0.5, HTTP_D), "p50"),
                Target(quantile(0.95, HTTP_D), "p95"),
                Target(quantile(0.99, HTTP_D), "p99"),
            ),
            unit="s",
            exemplars=True,
        ),
        Panel(
            "Saturation: in-flight requests, DB pool, queue backlog",
            "Concurrent API requests, database connections in use (API and worker pools), and "
            "messages waiting in the job queues. Bad: the pool pinned at its size, the backlog "
            "growing instead of returning to zero.",
            (
                Target("sum(http_server_active_requests)", "in-flight requests"),
                Target(
                    f'sum({{{DB_POOL}, state="used"}})',
                    "DB connections used",
                ),
                Target("sum(jobs_queue_depth)", "jobs waiting"),
            ),
        ),
        Panel(
            "SLOs: bad-event ratio over 1 h",
            "For each SLO the share of bad events over the last hour (recording rules "
            "slo:sli_error:ratio_rate1h). Bad: above the error budget (objective label); the "
            "burn-rate alerts page at 14.4x the budget.",
            (Target("slo:sli_error:ratio_rate1h", "{{slo}} (objective {{objective}})"),),
            unit="percentunit",
            width=12,
        ),
        Panel(
            "Telemetry freshness: age of the newest metrics per source",
            "Seconds since each source (API and worker processes, Collector, operator) last "
            "delivered metrics, whether it pushes them over OTLP or is scraped: every delivery "
            "refreshes its target_info series. Bad: a source above about twice its export "
            "interval (15 s by default), or missing — its panels and alerts are blind.",
            (Target("max by (job) (time() - timestamp(target_info))", "{{job}}"),),
            unit="s",
            width=12,
        ),
        Panel(
            "Logs of one trace",
            "API and worker log lines (Loki) of the trace whose id is in the trace_id box (paste "
            "it from an exemplar or an error body); empty box: all lines. Bad: error-level lines "
            "for one trace pinpoint the failing step.",
            (),
            kind="logs",
            datasource="loki",
            loki_expr='{service_name=~"orderflow-api|orderflow-worker"} |~ "$trace_id"',
            width=24,
            height=10,
        ),
    ),
)

# ---------------------------------------------------------------------------------- RED
RED = Dashboard(
    uid="orderflow-api-red",
    title="orderflow / API RED per route",
    description="Which route is slow or failing? Rate, errors, duration per route template.",
    tags=("orderflow", "api"),
    variables=("route",),
    panels=(
        Panel(
            "Rate by route",
            "Requests per second by route template and method. Bad: a route dropping to zero "
            "while others carry on (a broken client flow).",
            (
                Target(
                    f"sum by (http_route, http_request_method) ({rate(HTTP + '{' + ROUTE + '}')})",
                    "{{http_request_method}} {{http_route}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "5xx ratio by route",
            "Share of 5xx answers per route. Bad: any route above 0.5 % for minutes.",
            (
                Target(
                    safe_ratio(
                        "sum by (http_route) ("
                        + rate(HTTP + "{" + ROUTE + ', http_response_status_code=~"5.."}')
                        + ")",
                        f"sum by (http_route) ({rate(HTTP + '{' + ROUTE + '}')})",
                    ),
                    "{{http_route}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Responses by status code",
            "Answers per second by HTTP status. 409 on orders/reservations is a sold-out item "
            "(expected); 401 a bad password or token. Bad: 5xx at all, or 4xx jumping after a "
            "deploy (a client/server contract break).",
            (
                Target(
                    f"sum by (http_response_status_code) ({rate(HTTP + '{' + ROUTE + '}')})",
                    "{{http_response_status_code}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "p95 duration by route",
            "95th percentile request duration per route, with exemplars (click a dot to open "
            "the trace). Bad: a route above its SLO threshold (login 5 s, place order 2.5 s).",
            (Target(quantile(0.95, HTTP_D, ROUTE, "http_route"), "{{http_route}}"),),
            unit="s",
            exemplars=True,
        ),
        Panel(
            "p99 duration by route",
            "99th percentile per route, with exemplars. Bad: a long tail far above p95 (lock "
            "waits, pool exhaustion, retries).",
            (Target(quantile(0.99, HTTP_D, ROUTE, "http_route"), "{{http_route}}"),),
            unit="s",
            exemplars=True,
        ),
        Panel(
            "Duration distribution (heatmap)",
            "Request durations of the selected routes as a heatmap of histogram buckets, with "
            "exemplars. Bad: a second band of slow requests appearing.",
            (
                Target(
                    f"sum by (le) (rate({HTTP_D}_bucket{{{ROUTE}}}[{RI}]))",
                    "{{le}}",
                ),
            ),
            kind="heatmap",
            unit="s",
            exemplars=True,
        ),
        Panel(
            "Mean duration by route",
            "Average request duration per route (sum / count). Bad: the mean rising for every "
            "route at once (database or host saturation rather than one handler).",
            (
                Target(
                    f"sum by (http_route) (rate({HTTP_D}_sum{{{ROUTE}}}[{RI}]))\n/\n"
                    f"sum by (http_route) (rate({HTTP_D}_count{{{ROUTE}}}[{RI}]))",
                    "{{http_route}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "In-flight requests by method",
            "Requests being served right now. Bad: climbing without traffic climbing (requests "
            "stuck on a lock, the pool or a slow dependency).",
            (
                Target(
                    "sum by (http_request_method) (http_server_active_requests)",
                    "{{http_request_method}}",
                ),
            ),
        ),
    ),
)

# ------------------------------------------------------------------------------- worker
JOB_D = "jobs_duration_seconds"
WORKER = Dashboard(
    uid="orderflow-worker",
    title="orderflow / Worker (jobs and queues)",
    description="Is the worker keeping up? Throughput, failures, retries, queues, dead letters.",
    tags=("orderflow", "worker"),
    variables=("queue",),
    panels=(
        Panel(
            "Jobs enqueued vs completed",
            "Messages sent to each queue (by the API's outbox relay and by actors) and jobs "
            "completed per actor. Bad: enqueued persistently above completed — a backlog grows.",
            (
                Target(
                    f"sum by (job_queue) ({rate('jobs_enqueued_total{' + QUEUE + '}')})",
                    "enqueued {{job_queue}}",
                ),
                Target(
                    f"sum by (job_actor) ({rate('jobs_completed_total{' + QUEUE + '}')})",
                    "completed {{job_actor}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Job failures and retries",
            "Failed attempts and retries scheduled per actor. A failure is retried with "
            "backoff until WORKER_MAX_RETRIES. Bad: failures on every attempt of an actor "
            "(a dependency such as the email service is down).",
            (
                Target(
                    f"sum by (job_actor) ({rate('jobs_failed_total{' + QUEUE + '}')})\nor\n"
                    f"0 * sum by (job_actor) ({rate('jobs_enqueued_total{' + QUEUE + '}')})",
                    "failed {{job_actor}}",
                ),
                Target(
                    f"sum by (job_actor) ({rate('jobs_retried_total{' + QUEUE + '}')})\nor\n"
                    f"0 * sum by (job_actor) ({rate('jobs_enqueued_total{' + QUEUE + '}')})",
                    "retried {{job_actor}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Job duration p95 by actor",
            "95th percentile of a job's run time per actor, with exemplars (open the job's "
            "trace). Bad: process_order above 10 s (the settlement latency SLO).",
            (Target(quantile(0.95, JOB_D, QUEUE, "job_actor"), "{{job_actor}}"),),
            unit="s",
            exemplars=True,
        ),
        Panel(
            "Queue depth",
            "Messages waiting per queue (reported by the worker from Redis). Bad: not "
            "returning to zero between bursts.",
            (Target(f"max by (job_queue) (jobs_queue_depth{{{QUEUE}}})", "{{job_queue}}"),),
        ),
        Panel(
            "Oldest message age",
            "Age of the oldest waiting message per queue. Bad: above 5 minutes (alert "
            "JobsQueueBacklogOld): orders wait to be settled.",
            (
                Target(
                    f"max by (job_queue) (jobs_queue_oldest_age_seconds{{{QUEUE}}})",
                    "{{job_queue}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Dead letters",
            "Messages in each dead-letter queue (kept 7 days) and new dead letters per minute. "
            "Bad: any new dead letter (alert JobsDeadLettered) — that work is lost until "
            "replayed by hand.",
            (
                Target(
                    f"max by (job_queue) (jobs_dead_letter_depth{{{QUEUE}}})",
                    "in DLQ {{job_queue}}",
                ),
                Target(
                    "sum by (job_queue) "
                    f"(increase(jobs_dead_lettered_total{{{QUEUE}}}[{RI}]))\nor\n"
                    f"0 * sum by (job_queue) (jobs_dead_letter_depth{{{QUEUE}}})",
                    "new {{job_queue}}",
                ),
            ),
        ),
    ),
)

# ----------------------------------------------------------------------------- business
PER_MIN = "[$__rate_interval])) * 60"
BUSINESS = Dashboard(
    uid="orderflow-business",
    title="orderflow / Business",
    description="What are customers doing? Orders, revenue, sign-ups, favorites, stock.",
    tags=("orderflow", "business"),
    panels=(
        Panel(
            "Orders per minute",
            "Orders placed (API) and settled by the worker, by outcome. Bad: placed without "
            "settled (the worker is behind), or failed settlements (payments declined).",
            (
                Target(f"sum(rate(orders_created_total{PER_MIN}", "placed"),
                Target(
                    f"sum by (outcome) (rate(orders_settled_total{PER_MIN}",
                    "settled {{outcome}}",
                ),
            ),
            unit="opm",
        ),
        Panel(
            "Revenue per minute",
            "Revenue of confirmed orders, in currency units per minute (the counter is in "
            "cents). Bad: falling to zero while orders are placed.",
            (Target(f"sum(rate(orders_revenue_total{PER_MIN} / 100", "revenue/min"),),
        ),
        Panel(
            "Registrations and logins per minute",
            "New accounts, and login attempts by outcome. Bad: registrations at zero (sign-up "
            "broken) or failed logins surging (credential stuffing).",
            (
                Target(f"sum(rate(auth_registration_total{PER_MIN}", "registrations"),
                Target(
                    f"sum by (outcome) (rate(auth_login_attempts_total{PER_MIN}",
                    "login {{outcome}}",
                ),
            ),
            unit="opm",
        ),
        Panel(
            "Articles and favorites per minute",
            "Articles written and favorite/unfavorite actions. Bad: a sudden stop (a broken "
            "editor) or an unnatural spike (spam).",
            (
                Target(f"sum(rate(articles_created_total{PER_MIN}", "articles created"),
                Target(
                    f"sum by (action) (rate(articles_favorites_total{PER_MIN}",
                    "{{action}}",
                ),
            ),
            unit="opm",
        ),
        Panel(
            "Stock reservations",
            "Units reserved and released per minute, and the net change of reserved stock "
            "(reserved minus released). Bad: net reserved growing for hours (reservations "
            "leak: failed orders not compensated). Current stock levels per item are not "
            "exported as metrics (GET /api/stock answers them).",
            (
                Target(f"sum(rate(stock_reserved_total{PER_MIN}", "reserved"),
                Target(f"sum(rate(stock_released_total{PER_MIN}", "released"),
                Target(
                    f"sum(rate(stock_reserved_total{PER_MIN}\n- on()\n"
                    f"sum(rate(stock_released_total{PER_MIN}",
                    "net reserved",
                ),
            ),
            unit="opm",
        ),
        Panel(
            "Oversell rejections per minute",
            "Reservations refused because the item had too little stock (the API answers "
            "409). Bad: a surge means popular items are sold out — restock, or a client retries "
            "in a loop.",
            (
                Target(
                    f"sum(rate(stock_oversell_rejected_total{PER_MIN}",
                    "rejected",
                ),
            ),
            unit="opm",
        ),
    ),
)

# ------------------------------------------------------------------------- db and cache
DB_CACHE = Dashboard(
    uid="orderflow-database-cache",
    title="orderflow / Database and cache",
    description="Is PostgreSQL or the Redis cache the bottleneck? Pool use, query time, hits.",
    tags=("orderflow", "database"),
    panels=(
        Panel(
            "Connection pool use",
            "SQLAlchemy pool connections by state (used / idle), summed over processes. Bad: "
            "used equal to the pool size (DATABASE_POOL_SIZE + overflow): requests queue for "
            "a connection.",
            (
                Target(
                    f"sum by (state) ({{{DB_POOL}}})",
                    "{{state}}",
                ),
            ),
        ),
        Panel(
            "Pool utilisation",
            "Share of open pool connections in use. Bad: near 100 % for minutes.",
            (
                Target(
                    f'sum({{{DB_POOL}, state="used"}})\n/\nsum({{{DB_POOL}}})',
                    "used / open",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Query-heavy route latency (p95)",
            "No per-query latency histogram is exported (SQL statements are spans, not "
            "metrics): the p95 of the routes that are mostly database work stands in, with "
            "exemplars to open a trace and see each SQL span. Bad: all of them rising together.",
            (
                Target(
                    quantile(
                        0.95,
                        HTTP_D,
                        'http_route=~"/api/orders|/api/orders-nplus1|/api/stock|/api/articles"',
                        "http_route",
                    ),
                    "{{http_route}}",
                ),
            ),
            unit="s",
            exemplars=True,
        ),
        Panel(
            "Cache hit ratio by namespace",
            "Hits / (hits + misses) of the Redis read-through cache per namespace. Bad: a "
            "drop towards 0 (Redis flushed or down, TTL too short) — the database takes the "
            "whole read load.",
            (
                Target(
                    f"sum by (cache_namespace) ({rate('cache_hits_total')})\n/\n(\n"
                    f"  sum by (cache_namespace) ({rate('cache_hits_total')})\n  +\n"
                    f"  sum by (cache_namespace) ({rate('cache_misses_total')})\n)",
                    "{{cache_namespace}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Cache misses by reason",
            "Misses per second by namespace and reason (absent, expired, error...). Bad: "
            "reason=error (Redis unreachable: every read goes to PostgreSQL).",
            (
                Target(
                    f"sum by (cache_namespace, cache_reason) ({rate('cache_misses_total')})",
                    "{{cache_namespace}} {{cache_reason}}",
                ),
            ),
            unit="ops",
        ),
    ),
)

# ------------------------------------------------------------------ self-observability
SELF = Dashboard(
    uid="orderflow-self-observability",
    title="orderflow / Self-observability (collector, Prometheus, operator)",
    description="Can we trust the other dashboards? Telemetry pipeline and operator health.",
    tags=("orderflow", "meta"),
    panels=(
        Panel(
            "Collector: accepted / refused / failed items",
            "Spans, metric points and log records the OpenTelemetry Collector's receivers "
            "accepted, refused (memory limiter pushing back; the SDK retries or drops) and "
            "failed to decode. Bad: refused or failed above zero.",
            (
                Target(
                    f"sum by (receiver) ({col_rate('otelcol_receiver_accepted_spans_total')})",
                    "spans accepted {{receiver}}",
                ),
                Target(
                    "sum by (receiver) "
                    f"({col_rate('otelcol_receiver_accepted_metric_points_total')})",
                    "metric points accepted {{receiver}}",
                ),
                Target(
                    "sum by (receiver) "
                    f"({col_rate('otelcol_receiver_accepted_log_records_total')})",
                    "log records accepted {{receiver}}",
                ),
                Target(
                    f"sum by (receiver) ({col_rate('otelcol_receiver_refused_spans_total')})"
                    " + on(receiver) "
                    f"sum by (receiver) ({col_rate('otelcol_receiver_failed_spans_total')})",
                    "spans refused+failed {{receiver}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Collector: dropped in processors",
            "Items that entered the processors minus items that left them, per signal "
            "(memory_limiter refusals and batch losses). Bad: above zero for more than a "
            "moment.",
            (
                Target(
                    f"sum by (otel_signal) ({col_rate('otelcol_processor_incoming_items_total')})\n"
                    "- on(otel_signal)\n"
                    f"sum by (otel_signal) ({col_rate('otelcol_processor_outgoing_items_total')})",
                    "{{otel_signal}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Export failures (collector exporters)",
            "Items the Collector could not export to its backends, against items sent. The "
            "Python SDK exports no self-metrics of its own, so SDK-side export failures show "
            "up here as receiver refusals and as gaps in the accepted rate. Bad: any failed "
            "items.",
            (
                Target(
                    f"sum by (exporter) ({col_rate('otelcol_exporter_send_failed_spans_total')})\n"
                    "or\n0 * "
                    f"sum by (exporter) ({col_rate('otelcol_exporter_sent_spans_total')})",
                    "failed spans {{exporter}}",
                ),
                Target(
                    f"sum by (exporter) ({col_rate('otelcol_exporter_sent_spans_total')})",
                    "sent spans {{exporter}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Collector memory",
            "Resident memory of the Collector process. Bad: approaching the container limit "
            "(the memory limiter then refuses data).",
            (Target(f"sum by (job) (otelcol_process_memory_rss_bytes{{{COL}}})", "{{job}}"),),
            unit="bytes",
        ),
        Panel(
            "Prometheus: rule evaluation and active series",
            "Rule evaluation failures (a broken recording rule silences its alerts) and the "
            "series in Prometheus' head block (from its own metrics: the bundled Prometheus "
            "scrapes itself). Bad: any evaluation failure; series growing without bound (a "
            "label with unbounded values).",
            (
                Target(
                    f"sum({rate('prometheus_rule_evaluation_failures_total')})",
                    "rule evaluation failures/s",
                ),
                Target("max(prometheus_tsdb_head_series)", "active series"),
            ),
        ),
    ),
)

# ------------------------------------------------------------------------------- operator
OPERATOR = Dashboard(
    uid="orderflow-operator",
    title="orderflow / Self-observability: operator",
    description="Does orderflow-operator gate pods correctly? Dependency checks and errors.",
    tags=("orderflow", "meta"),
    panels=(
        Panel(
            "Operator: dependency health",
            "orderflow-operator's last check of every dependency a HealthPolicy declares "
            "(1 up, 0 down), and whether each policy's readiness gate is open. Bad: a "
            "critical dependency at 0 — the gate closes and pods leave the Service.",
            (
                Target(
                    "min by (namespace, policy, dependency) (orderflow_operator_dependency_up)",
                    "{{namespace}}/{{policy}} {{dependency}}",
                ),
                Target(
                    "min by (namespace, policy) (orderflow_operator_gate_open)",
                    "gate {{namespace}}/{{policy}}",
                ),
            ),
        ),
        Panel(
            "Operator: reconciles (checks) and errors",
            "Dependency checks per second (each reconcile of a HealthPolicy checks its "
            "dependencies), their p95 duration, and reconcile errors by failing step. Bad: "
            "checks stopping (the operator is stuck or not leader), errors above zero.",
            (
                Target(
                    "sum by (namespace, policy) "
                    f"({rate('orderflow_operator_dependency_check_duration_seconds_count')})",
                    "checks/s {{namespace}}/{{policy}}",
                ),
                Target(
                    quantile(
                        0.95, "orderflow_operator_dependency_check_duration_seconds", "", "type"
                    ),
                    "check p95 {{type}}",
                ),
                Target(
                    f"sum by (step) ({rate('orderflow_operator_reconcile_errors_total')})\nor\n"
                    "0 * sum("
                    f"{rate('orderflow_operator_dependency_check_duration_seconds_count')})",
                    "errors {{step}}",
                ),
            ),
            exemplars=True,
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, RED, WORKER, BUSINESS, DB_CACHE, SELF, OPERATOR)

VARIABLES: dict[str, dict[str, Any]] = {
    "route": {
        "name": "route",
        "label": "Route",
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "query": {"query": "label_values(http_server_request_total, http_route)", "refId": "v"},
        "definition": "label_values(http_server_request_total, http_route)",
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
        "sort": 1,
    },
    "queue": {
        "name": "queue",
        "label": "Queue",
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "query": {"query": "label_values(jobs_queue_depth, job_queue)", "refId": "v"},
        "definition": "label_values(jobs_queue_depth, job_queue)",
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
        "sort": 1,
    },
    "trace_id": {
        "name": "trace_id",
        "label": "Trace id",
        "type": "textbox",
        "query": "",
        "current": {"text": "", "value": ""},
    },
}
