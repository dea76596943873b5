"""Dashboards and rules at the settings the chart ships, through the telemetry path it ships.

``test_live.py`` runs faults through a fast setting (1 s scrapes, rule windows divided by 60).
This test runs what a default install runs, with every setting read from the rendered chart
(shipped.py): the API and the worker push OTLP at the chart's ``OTEL_METRIC_EXPORT_INTERVAL``
to the pinned Collector running the chart's rendered configuration (including its scrape of
the operator's metrics), which forwards OTLP/gRPC to a stand-in for the LGTM image's internal
collector (a Collector configured from the recorded facts: OTLP in, metrics to Prometheus'
OTLP endpoint), into the pinned Prometheus running the chart's rendered ``prometheus.yaml``,
flags and production rules (windows and ``for:`` untouched). The orderflow-operator needs a
Kubernetes API, so a stand-in process serves its real metrics module (orderflow_operator.
metrics) with one healthy and one broken dependency.

Then every Prometheus query of every dashboard panel is evaluated as Grafana would over the
scenario: ``$__interval`` and ``$__rate_interval`` computed from the provisioned datasource's
``timeInterval`` and the dashboards' default range, step ``$__interval``; each must return
data, as must every recording rule and alert expression of the rendered rules.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from k8s.testbed.procs import Process, http_ok

from orderflow.devservices import Postgres, Redis, free_port
from tests.dashboards.conftest import JourneyProber, Stack
from tests.dashboards.promstack import (
    PanelQuery,
    Prometheus,
    dashboard_queries,
    rules,
    seconds,
    signal_of,
    wait_for,
)
from tests.dashboards.shipped import Shipped, lgtm_facts, shipped
from tests.support.collector import collector_binary
from tests.support.processes import ServiceProcess, run_cli, wait_http_ok

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
#: Samples a rate() window must hold: two at least, and Prometheus 3 windows exclude their
#: start, so a window of three intervals still holds two when a sample lands on its edge.
MIN_INTERVALS_PER_RATE_WINDOW = 3


# --------------------------------------------------------------------------------- static


def test_rate_windows_hold_enough_samples() -> None:
    """Every source a rate() panel reads delivers samples often enough for the provisioned
    datasource's $__rate_interval: the apps' pushes, the Collector's own metrics, the operator
    scrape and Prometheus' self-scrape."""
    s = shipped()
    sources = {
        "apps (OTEL_METRIC_EXPORT_INTERVAL)": s.export_interval_s,
        "Collector self-metrics": s.self_metrics_interval_s,
        "Prometheus self-scrape": s.prometheus_scrape_interval_s,
    }
    if s.operator_scrape_interval_s is not None:
        sources["operator scrape"] = s.operator_scrape_interval_s
    short = {
        name: f"{interval:g}s per sample, $__rate_interval {s.rate_interval_s}s"
        for name, interval in sources.items()
        if s.rate_interval_s < MIN_INTERVALS_PER_RATE_WINDOW * interval
    }
    assert not short, short


def test_datasource_interval_is_the_export_interval() -> None:
    """Grafana's timeInterval is the scrape/push interval it assumes; set longer it widens
    every window and hides fresh data, shorter it empties rate() windows."""
    s = shipped()
    assert s.time_interval_s == s.export_interval_s


# ---------------------------------------------------------------------------- the stack

_STANDIN_LGTM_COLLECTOR = """
# Stand-in for the LGTM image's internal collector (facts: its otelcol config sends metrics to
# Prometheus' OTLP endpoint); traces and logs are only counted.
extensions:
  health_check: {endpoint: "127.0.0.1:%(health)d"}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:%(grpc)d"}
processors:
  batch: {}
exporters:
  otlp_http/prometheus:
    endpoint: "http://127.0.0.1:%(prometheus)d/api/v1/otlp"
  debug: {verbosity: basic}
service:
  extensions: [health_check]
  pipelines:
    metrics: {receivers: [otlp], processors: [batch], exporters: [otlp_http/prometheus]}
    traces: {receivers: [otlp], exporters: [debug]}
    logs: {receivers: [otlp], exporters: [debug]}
  telemetry:
    metrics: {level: none}
"""

#: Stand-in for orderflow-operator: its own metrics module, fed like its check loop feeds it.
_OPERATOR_STANDIN = """
import sys, time
from orderflow_operator import metrics
metrics.serve(int(sys.argv[1]), "127.0.0.1")
while True:
    metrics.observe_check("orderflow", "orderflow-api", "redis", "redis", True, 0.002)
    metrics.observe_check("orderflow", "orderflow-api", "postgres", "postgres", False, 0.05)
    metrics.set_gate("orderflow", "orderflow-api", False)
    time.sleep(1)
"""


def _start(name: str, cmd: list[str], env: dict[str, str], workdir: Path, url: str) -> Process:
    """``cmd`` in its own session, logging to ``workdir/<name>.log``, until ``url`` answers 200."""
    process = Process(cmd, workdir / f"{name}.log", env)
    return process.start(http_ok(url), timeout=60, interval=0.2, error=AssertionError)


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected {old!r} once in the rendered configuration"
    return text.replace(old, new)


@dataclass
class Scenario:
    settings: Shipped
    prom: Prometheus
    start: float
    end: float


def _prometheus(workdir: Path, settings: Shipped) -> Prometheus:
    """The pinned Prometheus with the chart's configuration: the rule files where the chart
    mounts them are written here, the self-scrape points at this port."""
    port = free_port()
    config: dict[str, Any] = yaml.safe_load(yaml.safe_dump(settings.prometheus_config))
    rules = workdir / "rules"
    rules.mkdir(parents=True)
    for name, text in settings.rule_files.items():
        (rules / name).write_text(text)
    assert len(config["rule_files"]) == 1, config["rule_files"]
    config["rule_files"] = [str(rules / "*.yaml")]
    for job in config.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            static["targets"] = [f"127.0.0.1:{port}" for _ in static["targets"]]
    flags = list(lgtm_facts()["prometheus"]["flags"])
    return Prometheus(workdir / "prometheus", port, {}, raw_config=config, extra_flags=flags)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    settings = shipped()
    workdir = tmp_path_factory.mktemp("shipped")
    otelcol = str(collector_binary())
    with contextlib.ExitStack() as cleanup:
        prom = _prometheus(workdir, settings)
        prom.start()
        cleanup.callback(prom.stop)

        # LGTM's internal collector (stand-in) -> Prometheus' OTLP receiver.
        lgtm_grpc, lgtm_health = free_port(), free_port()
        standin = workdir / "lgtm-collector.yaml"
        standin.write_text(
            _STANDIN_LGTM_COLLECTOR
            % {"health": lgtm_health, "grpc": lgtm_grpc, "prometheus": prom.port}
        )
        lgtm = _start(
            "lgtm-collector",
            [otelcol, f"--config={standin}"],
            {},
            workdir,
            f"http://127.0.0.1:{lgtm_health}/",
        )
        cleanup.callback(lgtm.stop)

        # The operator's metrics (stand-in process, real metrics module).
        operator_port = free_port()
        operator = _start(
            "operator",
            [sys.executable, "-c", _OPERATOR_STANDIN, str(operator_port)],
            {"PYTHONPATH": str(REPO / "operator")},
            workdir,
            f"http://127.0.0.1:{operator_port}/metrics",
        )
        cleanup.callback(operator.stop)

        # The chart's Collector: its rendered files, listening on free loopback ports.
        grpc, http, health = free_port(), free_port(), free_port()
        args = []
        for name, rendered in settings.collector_configs.items():
            text = rendered
            if name == "collector.yaml":
                text = _replace_once(text, "0.0.0.0:4317", f"127.0.0.1:{grpc}")
                text = _replace_once(text, "0.0.0.0:4318", f"127.0.0.1:{http}")
                text = _replace_once(text, "0.0.0.0:13133", f"127.0.0.1:{health}")
            else:
                target = yaml.safe_load(text)["receivers"]["prometheus/operator"]["config"]
                address = target["scrape_configs"][0]["static_configs"][0]["targets"][0]
                text = _replace_once(text, address, f"127.0.0.1:{operator_port}")
            (workdir / name).write_text(text)
            args.append(f"--config={workdir / name}")
        collector_env = {
            **settings.collector_env,
            "LGTM_OTLP_ENDPOINT": f"127.0.0.1:{lgtm_grpc}",
            "LGTM_OTLP_INSECURE": "true",
        }
        collector = _start(
            "collector", [otelcol, *args], collector_env, workdir, f"http://127.0.0.1:{health}/"
        )
        cleanup.callback(collector.stop)

        # PostgreSQL, Redis, the API and the worker with the chart's OTEL_* settings.
        postgres = Postgres().start()
        cleanup.callback(postgres.stop)
        redis = Redis().start()
        cleanup.callback(redis.stop)
        api_port, worker_port = free_port(), free_port()
        otel = {
            k: v.replace("$(K8S_NAMESPACE)", "shipped").replace("$(K8S_POD_NAME)", "test")
            for k, v in settings.app_env.items()
        }
        # The chart's endpoint and protocol, on this Collector's loopback port for that port.
        shipped_port = otel["OTEL_EXPORTER_OTLP_ENDPOINT"].rsplit(":", 1)[1]
        local_port = {"4317": grpc, "4318": http}[shipped_port]
        env = {
            **otel,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{local_port}",
            "ENVIRONMENT": "test",
            "JWT_SECRET": secrets.token_hex(32),
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "EMAIL_SINK_URL": f"http://127.0.0.1:{api_port}/_sink/email",
            "EMAIL_SINK_ENABLED": "true",
        }
        run_cli(env, "migrate", "up", "--seed", check=True)
        api = ServiceProcess(["api"], {**env, "PORT": str(api_port)}, workdir / "api.log").start()
        wait_http_ok(f"http://127.0.0.1:{api_port}/healthz", api)
        stack = Stack(env, workdir, api_port, worker_port, 0, api, prom)
        cleanup.callback(stack.stop_api)
        stack.start_worker()
        cleanup.callback(stack.stop_worker)
        cleanup.callback(stack.stop_traffic)

        start = time.time()
        stack.start_traffic(duration=900)
        # Realistic input: the shoppers of `orderflow traffic` log in once each, so a prober
        # keeps logins (and orders) coming, as users do; and the email provider fails for a
        # while, so notification jobs fail, retry and dead-letter: the failure series the
        # panels and alerts read exist (at any interval they only exist after a failure).
        prober = JourneyProber(stack.api_url).__enter__()
        cleanup.callback(prober.__exit__)
        stack.business_extras()
        time.sleep(settings.export_interval_s)
        stack.start_worker(EMAIL_SINK_URL=f"http://127.0.0.1:{free_port()}/")
        wait_for(
            lambda: prom.query("jobs_dead_lettered_total"),
            180,
            "a dead-lettered notification while the email provider is down",
            interval=2,
        )
        stack.start_worker()
        # Long enough for a rate window of pushes from every source, and for the rules
        # (evaluated at the chart's interval) to have recorded their series.
        slowest = max(
            settings.export_interval_s,
            settings.self_metrics_interval_s,
            settings.operator_scrape_interval_s or 0,
            settings.prometheus_scrape_interval_s,
        )
        evaluation = max(
            seconds(
                group.get("interval", settings.prometheus_config["global"]["evaluation_interval"])
            )
            for text in settings.rule_files.values()
            for group in yaml.safe_load(text)["groups"]
        )
        time.sleep(settings.rate_interval_s + 3 * slowest + 2 * evaluation)
        stack.business_extras()
        wait_for(lambda: prom.query("count(slo:sli_error:ratio_rate5m)"), 120, "recorded SLOs")
        yield Scenario(settings, prom, start, time.time())


def _range(scenario: Scenario, expr: str) -> list[float]:
    data = scenario.prom._get(
        "/api/v1/query_range",
        query=expr,
        start=str(scenario.start),
        end=str(scenario.end),
        step=str(scenario.settings.interval_s),
    )
    return [
        float(v) for series in data["result"] for _, v in series["values"] if v.lower() != "nan"
    ]


@pytest.mark.parametrize("query", dashboard_queries(), ids=str)
def test_every_panel_query_returns_data_at_shipped_settings(
    scenario: Scenario, query: PanelQuery
) -> None:
    expr = query.resolve(scenario.settings.variables())
    assert _range(scenario, expr), f"{query}: no data at the shipped settings for\n{expr}"


def _rendered_rule(kind: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The rule as the chart mounts it (the parametrisation names the source's rules; reading
    the chart needs helm, which collection should not)."""
    found = [
        r
        for text in shipped().rule_files.values()
        for group in yaml.safe_load(text)["groups"]
        for r in group["rules"]
        if r.get(kind) == name and r.get("labels", {}) == labels
    ]
    assert len(found) == 1, f"{kind} {name} {labels}: {len(found)} in the rendered chart"
    rule: dict[str, Any] = found[0]
    return rule


def test_rules_evaluate_without_errors(scenario: Scenario) -> None:
    health = scenario.prom.rule_health()
    assert health and not [r for r in health if r[1] != "ok"], health


@pytest.mark.parametrize("rule", rules("record"), ids=lambda r: f"{r['record']}:{r['labels']}")
def test_every_recording_rule_records_at_shipped_settings(
    scenario: Scenario, rule: dict[str, Any]
) -> None:
    rule = _rendered_rule("record", rule["record"], rule["labels"])
    selector = f'{rule["record"]}{{slo="{rule["labels"]["slo"]}"}}'
    assert _range(scenario, selector), f"never recorded: {selector}"


@pytest.mark.parametrize("rule", rules("alert"), ids=lambda r: str(r["alert"]))
def test_every_alert_expression_returns_data_at_shipped_settings(
    scenario: Scenario, rule: dict[str, Any]
) -> None:
    rendered = _rendered_rule("alert", rule["alert"], rule.get("labels", {}))
    expr = signal_of(rendered["expr"])
    assert _range(scenario, expr), f"no data:\n{expr}"
