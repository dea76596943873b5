"""What the chart ships, read from the rendered chart (never restated here): the apps' metric
export interval, the Prometheus datasource's ``timeInterval``, the bundled Prometheus'
configuration and rules, the Collector's configuration (with the operator scrape) and
environment, the dashboards' default time range, and Grafana's interval arithmetic on them.

``test_shipped.py`` runs the telemetry path of the chart with these settings; ``test_live.py``
keeps a faster setting (1 s scrapes, rule windows divided by 60) to exercise alerts under
faults in minutes, which is why the shipped settings have their own test.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from tests.charts.chart import CHART, REPO, WITH_HEALTH_POLICY, container_env, find, render
from tests.dashboards.promstack import load_dashboards, seconds

#: Grafana's default ``maxDataPoints`` is the panel's width in pixels; a wide screen gives the
#: smallest ``$__interval`` (the most demanding case for rate windows).
MAX_DATA_POINTS = 2000


@dataclass(frozen=True)
class Shipped:
    export_interval_s: float  # OTEL_METRIC_EXPORT_INTERVAL of the API and the worker
    time_interval_s: int  # the Prometheus datasource's jsonData.timeInterval
    prometheus_config: dict[str, Any]  # the bundled Prometheus' configuration
    rule_files: dict[str, str]  # file name -> rules, as mounted into the bundled Prometheus
    collector_configs: dict[str, str]  # file name -> Collector configuration, in --config order
    collector_env: dict[str, str]  # the Collector's environment (plain values)
    app_env: dict[str, str]  # OTEL_* the API and the worker share (plain values, $(VAR) kept)
    dashboard_range_s: int  # the dashboards' default time range

    @property
    def interval_s(self) -> int:
        """Grafana's ``$__interval`` over the default range."""
        return grafana_interval(self.time_interval_s, self.dashboard_range_s)

    @property
    def rate_interval_s(self) -> int:
        """Grafana's ``$__rate_interval``: max($__interval + scrape interval, 4 x scrape
        interval), the scrape interval being the datasource's timeInterval."""
        return max(self.interval_s + self.time_interval_s, 4 * self.time_interval_s)

    @property
    def self_metrics_interval_s(self) -> float:
        return int(self.collector_env["SELF_METRICS_INTERVAL_MS"]) / 1000

    @property
    def operator_scrape_interval_s(self) -> int | None:
        overlay = self.collector_configs.get("operator-metrics.yaml")
        if overlay is None:
            return None
        jobs = yaml.safe_load(overlay)["receivers"]["prometheus/operator"]["config"]
        return seconds(jobs["scrape_configs"][0]["scrape_interval"])

    @property
    def prometheus_scrape_interval_s(self) -> int:
        return seconds(self.prometheus_config["global"]["scrape_interval"])

    def variables(self) -> dict[str, str]:
        """The dashboards' variables as Grafana substitutes them with these settings."""
        return {
            "$__rate_interval": f"{self.rate_interval_s}s",
            "$__interval": f"{self.interval_s}s",
            "$route": ".*",
            "$queue": ".*",
            "$trace_id": "",
        }


def grafana_interval(
    min_interval_s: int, range_s: int, max_data_points: int = MAX_DATA_POINTS
) -> int:
    """``$__interval``: the range over the data points, never below the minimum interval (the
    datasource's timeInterval), in whole seconds."""
    return max(min_interval_s, math.ceil(range_s / max_data_points))


def _range_seconds(board: dict[str, Any]) -> int:
    match = re.fullmatch(r"now-(\d+[smhdw])", board["time"]["from"])
    assert match and board["time"]["to"] == "now", board["time"]
    return seconds(match.group(1))


def _plain(env: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {k: str(e["value"]) for k, e in env.items() if "value" in e}


@cache
def shipped() -> Shipped:
    """The settings of a default install (with the operator's API served, as in a cluster
    where the orderflow-operator is installed: the Collector then scrapes it)."""
    objects = render(None, *WITH_HEALTH_POLICY)
    api_env = _plain(container_env(find(objects, "Deployment", "api")))
    worker_env = _plain(container_env(find(objects, "Deployment", "worker")))
    assert api_env["OTEL_METRIC_EXPORT_INTERVAL"] == worker_env["OTEL_METRIC_EXPORT_INTERVAL"]
    provisioning = find(objects, "ConfigMap", "lgtm-provisioning")["data"]
    datasources = yaml.safe_load(provisioning["datasources.yaml"])["datasources"]
    prometheus_ds = next(d for d in datasources if d["uid"] == "prometheus")
    collector = find(objects, "Deployment", "collector")
    collector_data = find(objects, "ConfigMap", "collector")["data"]
    args = collector["spec"]["template"]["spec"]["containers"][0]["args"]
    configs = {}
    for arg in args:
        name = arg.removeprefix("--config=/etc/otelcol/")
        configs[name] = collector_data[name]
    ranges = {_range_seconds(board) for board in load_dashboards().values()}
    assert len(ranges) == 1, f"dashboards disagree on the default time range: {ranges}"
    return Shipped(
        export_interval_s=int(api_env["OTEL_METRIC_EXPORT_INTERVAL"]) / 1000,
        time_interval_s=seconds(prometheus_ds["jsonData"]["timeInterval"]),
        prometheus_config=yaml.safe_load(provisioning["prometheus.yaml"]),
        rule_files=dict(find(objects, "ConfigMap", "lgtm-rules").get("data") or {}),
        collector_configs=configs,
        collector_env=_plain(container_env(collector)),
        app_env={
            k: v
            for k, v in api_env.items()
            if k.startswith("OTEL_") and worker_env.get(k) == v  # not OTEL_SERVICE_NAME
        },
        dashboard_range_s=ranges.pop(),
    )


@cache
def lgtm_facts() -> dict[str, Any]:
    """The facts recorded about the pinned grafana/otel-lgtm (tests/charts/data)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    path = REPO / "tests" / "charts" / "data" / f"otel-lgtm-{values['lgtm']['image']['tag']}.yaml"
    facts: dict[str, Any] = yaml.safe_load(path.read_text())
    return facts
