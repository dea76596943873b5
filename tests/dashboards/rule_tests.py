"""promtool rule unit tests, derived from the SLOs and alerts of ``orderflow_dashboards``.

Each SLO gets a series that burns its budget fast (both burn-rate alerts fire), one within the
budget and one without bad events (quiet); the other alerts get a firing and a quiet case.
Rendered into a test's tmp dir by ``test_promtool.py``, never committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orderflow_dashboards.render import dump_yaml
from orderflow_dashboards.slo import SLOS, Slo, alert_rules, all_alerts

if TYPE_CHECKING:
    from pathlib import Path

HTTP_SERIES = 'http_server_request_total{{{sel}, http_response_status_code="{code}"}}'


def _slo_series(slo: Slo, bad_per_min: float) -> list[dict[str, str]]:
    """100 events a minute for 4 h, of which ``bad_per_min`` are bad."""
    good = f"{100 - bad_per_min:g}"
    bad_per_min = float(f"{bad_per_min:g}")
    n = "x240"
    if slo.name.endswith("-availability") and slo.name.startswith(("login", "order-placement")):
        sel = (
            'http_route="/api/login", http_request_method="POST"'
            if slo.name.startswith("login")
            else 'http_route="/api/orders", http_request_method="POST"'
        )
        ok_code = "200" if slo.name.startswith("login") else "201"
        return [
            {"series": HTTP_SERIES.format(sel=sel, code=ok_code), "values": f"0+{good}{n}"},
            {"series": HTTP_SERIES.format(sel=sel, code="503"), "values": f"0+{bad_per_min}{n}"},
        ]
    if slo.name == "order-settlement-availability":
        return [
            {"series": 'orders_settled_total{outcome="confirmed"}', "values": f"0+{good}{n}"},
            {"series": 'orders_settled_total{outcome="failed"}', "values": f"0+{bad_per_min}{n}"},
        ]
    # latency: _count grows by 100, the SLO bucket by the good ones
    metric, sel, le = {
        "login-latency": (
            "http_server_request_duration_seconds",
            'http_route="/api/login", http_request_method="POST", http_response_status_code="200"',
            "5.0",
        ),
        "order-placement-latency": (
            "http_server_request_duration_seconds",
            'http_route="/api/orders", http_request_method="POST", http_response_status_code="201"',
            "2.5",
        ),
        "order-settlement-latency": (
            "jobs_duration_seconds",
            'job_actor="process_order", job_queue="orders"',
            "10.0",
        ),
    }[slo.name]
    return [
        {"series": f"{metric}_count{{{sel}}}", "values": f"0+100{n}"},
        {"series": f'{metric}_bucket{{{sel}, le="{le}"}}', "values": f"0+{good}{n}"},
        {"series": f'{metric}_bucket{{{sel}, le="+Inf"}}', "values": f"0+100{n}"},
    ]


def _expected(alert_name: str, **labels: str) -> dict[str, Any]:
    rule = next(r for r in alert_rules() if r["alert"] == alert_name)
    rule = {**rule, "labels": {**rule["labels"], **labels}}  # type: ignore[dict-item]
    return {"exp_labels": dict(rule["labels"]), "exp_annotations": dict(rule["annotations"])}  # type: ignore[call-overload]


def unit_tests(rule_files: list[Path]) -> dict[str, Any]:
    """promtool's test file for ``rule_files`` (the recording rules and the alerts)."""
    tests: list[dict[str, Any]] = []
    for slo in SLOS:
        fast, slow = (a.name for a in all_alerts() if a.labels == (("slo", slo.name),))
        objective = f"{slo.objective:g}"  # the recording rules' label, kept by the alert
        # 20 % bad: both the fast (14.4x) and the slow (3x) burn rates are exceeded.
        tests.append(
            {
                "name": f"{slo.name}: 20% bad events fire both burn-rate alerts",
                "interval": "1m",
                "input_series": _slo_series(slo, 20),
                "alert_rule_test": [
                    {
                        "eval_time": "100m",
                        "alertname": fast,
                        "exp_alerts": [_expected(fast, objective=objective)],
                    },
                    {
                        "eval_time": "100m",
                        "alertname": slow,
                        "exp_alerts": [_expected(slow, objective=objective)],
                    },
                ],
            }
        )
        # Bad events at 80 % of the budget: burning, but slower than 1x: no alert.
        tests.append(
            {
                "name": f"{slo.name}: bad events within the error budget, no alert",
                "interval": "1m",
                "input_series": _slo_series(slo, round(slo.budget * 100 * 0.8, 4)),
                "alert_rule_test": [
                    {"eval_time": "100m", "alertname": fast, "exp_alerts": []},
                    {"eval_time": "100m", "alertname": slow, "exp_alerts": []},
                ],
            }
        )
        # 0 % bad: quiet, and the ratio is 0 (not "no data").
        tests.append(
            {
                "name": f"{slo.name}: no bad events, no alert",
                "interval": "1m",
                "input_series": _slo_series(slo, 0),
                "alert_rule_test": [
                    {"eval_time": "100m", "alertname": fast, "exp_alerts": []},
                    {"eval_time": "100m", "alertname": slow, "exp_alerts": []},
                ],
                "promql_expr_test": [
                    {
                        "expr": f'slo:sli_error:ratio_rate5m{{slo="{slo.name}"}}',
                        "eval_time": "100m",
                        "exp_samples": [
                            {
                                "labels": f'slo:sli_error:ratio_rate5m{{objective="'
                                f'{slo.objective:g}", slo="{slo.name}"}}',
                                "value": 0,
                            }
                        ],
                    }
                ],
            }
        )
    dl = 'jobs_dead_lettered_total{job_actor="send_email", job_queue="email"}'
    dead = _expected("JobsDeadLettered")
    dead["exp_labels"]["job_queue"] = "email"
    dead["exp_annotations"] = {
        k: v.replace("{{ $labels.job_queue }}", "email") for k, v in dead["exp_annotations"].items()
    }
    old = _expected("JobsQueueBacklogOld")
    old["exp_labels"]["job_queue"] = "orders"
    old["exp_annotations"] = {
        k: v.replace("{{ $labels.job_queue }}", "orders") for k, v in old["exp_annotations"].items()
    }
    tests += [
        {
            "name": "dead letters: a new dead letter fires, a constant count does not",
            "interval": "1m",
            "input_series": [
                {"series": dl, "values": "0x5 1+1x10"},
                {"series": dl.replace("email", "orders"), "values": "3x16"},
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "JobsDeadLettered", "exp_alerts": []},
                {"eval_time": "12m", "alertname": "JobsDeadLettered", "exp_alerts": [dead]},
            ],
        },
        {
            "name": "queue age: over 5 min for 5 min fires, a young queue does not",
            "interval": "1m",
            "input_series": [
                {
                    "series": 'jobs_queue_oldest_age_seconds{job_queue="orders"}',
                    "values": "0+60x20",
                },
                {
                    "series": 'jobs_queue_oldest_age_seconds{job_queue="email"}',
                    "values": "0 30 1 20 0x16",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "8m", "alertname": "JobsQueueBacklogOld", "exp_alerts": []},
                {"eval_time": "15m", "alertname": "JobsQueueBacklogOld", "exp_alerts": [old]},
            ],
        },
        {
            "name": "worker absent: no queue series for 5 min fires, present does not",
            "interval": "1m",
            "input_series": [
                {"series": 'jobs_queue_depth{job_queue="orders"}', "values": "0x5 _x15"},
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "WorkerMetricsAbsent", "exp_alerts": []},
                {
                    "eval_time": "20m",
                    "alertname": "WorkerMetricsAbsent",
                    "exp_alerts": [_expected("WorkerMetricsAbsent")],
                },
            ],
        },
    ]
    return {
        "rule_files": [str(path) for path in rule_files],
        "evaluation_interval": "1m",
        "tests": tests,
    }


def write_unit_tests(rule_files: list[Path], folder: Path) -> Path:
    """Write the test file into ``folder`` (a test's tmp dir: promtool reads a file, and the
    tests are derived from the rules, so nothing is committed)."""
    path = folder / "alerts-test.yaml"
    path.write_text(dump_yaml(unit_tests(rule_files)))
    return path
