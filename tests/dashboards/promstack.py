"""A real Prometheus (the pinned build from tools/go/prometheus) for the dashboard tests, the
queries of the rendered dashboards and rules, and the test rendering of the rules.

Test rendering of the rules (``render_rules_for_test``): production windows (5m ... 3d) and
``for:`` durations are far longer than a test can wait. The test loads a copy in which every
range selector ``[<n><unit>]``, every ``for:`` and every threshold marked ``# seconds`` is
divided by ``TIME_SCALE`` (60: an hour becomes a minute; a ``for:`` never below
``MIN_TEST_FOR_SECONDS``), and the groups are evaluated every second. Nothing else changes:
same expressions, same metric names and label matchers, same burn factors, same record names
(``slo:sli_error:ratio_rate1h`` still names the "long fast" window). ``test_promtool.py``
asserts that the two copies are identical once durations are masked, so the test copy cannot
drift from production.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import yaml
from k8s.testbed.procs import Process, ProcessError, http_ok
from k8s.testbed.tools import ensure

from orderflow_dashboards import render
from tests.testbed.wait import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "orderflow"
#: The files the chart ships, written there by ``python -m orderflow_dashboards``.
DASHBOARDS_DIR = CHART / render.DASHBOARDS_DIR
RULES_DIR = CHART / render.RULES_DIR
RULE_FILES = sorted(RULES_DIR.glob("*.yaml"))
TIME_SCALE = 60
T = TypeVar("T")
KNOWN_DATASOURCES = {"prometheus", "tempo", "loki"}

#: Grafana's built-in variables and the dashboards' own, as the fast live test substitutes them.
#: Multi-value variables become ``.*`` (Grafana's "All"); a rate interval of 30 s holds ~30
#: samples at that test's 1 s scrape interval. The shipped values come from the rendered chart
#: (shipped.py: ``Shipped.variables``).
TEST_VARIABLES = {
    "$__rate_interval": "30s",
    "$__interval": "5s",
    "$route": ".*",
    "$queue": ".*",
    "$trace_id": "",
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+)([smhdw])$")


def prometheus_binaries() -> dict[str, Path]:
    """prometheus and promtool, built from tools/go/prometheus on first use (then cached)."""
    return ensure(["prometheus", "promtool"])


def seconds(duration: str) -> int:
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"not a simple duration: {duration!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


MIN_TEST_FOR_SECONDS = 3


def scaled(duration: str, scale: int = TIME_SCALE) -> str:
    """``1h`` -> ``1m``; never below one second."""
    value = max(1, seconds(duration) // scale)
    for unit in ("m", "s"):
        if unit == "m" and value % 60 == 0:
            return f"{value // 60}m"
    return f"{value}s"


def scale_expr(expr: str, scale: int) -> str:
    expr = re.sub(r"\[(\d+[smhdw])\]", lambda m: f"[{scaled(m.group(1), scale)}]", expr)
    return re.sub(
        r"(\d+(?:\.\d+)?)(\s*# seconds)",
        lambda m: f"{max(1.0, float(m.group(1)) / scale):g}{m.group(2)}",
        expr,
    )


def render_rules_for_test(text: str, scale: int = TIME_SCALE) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(text)
    for group in doc["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["expr"] = scale_expr(rule["expr"], scale)
            if "for" in rule:
                # At least MIN_TEST_FOR_SECONDS: a 1 s `for:` at a 1 s evaluation interval is
                # pending for about one poll, which a stalled poller on a loaded machine misses.
                for_seconds = max(MIN_TEST_FOR_SECONDS, seconds(scaled(rule["for"], scale)))
                rule["for"] = f"{for_seconds}s"
    return doc


def mask_durations(doc: dict[str, Any]) -> str:
    """The rules with every scaled quantity replaced by a placeholder (for the drift check)."""
    text = json.dumps(doc, sort_keys=True)
    text = re.sub(r"\[\d+[smhdw]\]", "[D]", text)
    text = re.sub(r'"for": "\d+[smhdw]"', '"for": "D"', text)
    text = re.sub(r'"interval": "\d+[smhdw]"', '"interval": "D"', text)
    return re.sub(r"\d+(?:\.\d+)?(\s*# seconds)", r"N\1", text)


# ------------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str  # as written in the dashboard
    datasource: str

    @property
    def resolved(self) -> str:
        return self.resolve(TEST_VARIABLES)

    def resolve(self, variables: dict[str, str]) -> str:
        expr = self.expr
        for name in sorted(variables, key=len, reverse=True):
            expr = expr.replace(name, variables[name])
        return expr

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


def dashboard_queries(datasource: str = "prometheus") -> list[PanelQuery]:
    out = []
    for name, board in load_dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                uid = target.get("datasource", panel.get("datasource", {})).get("uid")
                if uid == datasource:
                    out.append(
                        PanelQuery(name, panel["title"], target["refId"], target["expr"], uid)
                    )
    return out


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of the production rule files with ``record`` or ``alert`` (``kind``)."""
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(r for r in group["rules"] if kind in r)
    return out


_COMPARISON = re.compile(r"(>=|<=|>|<)(?!=)")


def signal_of(expr: str) -> str:
    """An alert expression turned into one that returns data whenever its inputs exist: each
    comparison becomes a ``bool`` comparison (0/1 instead of filtering), ``absent(x)`` its
    argument ``x``. Everything else (selectors, windows, aggregations, and/or) is unchanged."""
    absent = re.fullmatch(r"\s*absent\((.*)\)\s*", expr, flags=re.S)
    if absent:
        return absent.group(1)
    return _COMPARISON.sub(lambda m: f"{m.group(1)} bool", expr)


# ---------------------------------------------------------------------------- Prometheus


class PrometheusError(ProcessError):
    pass


@dataclass
class Prometheus:
    """``prometheus`` on a free loopback port with a generated configuration."""

    workdir: Path
    port: int
    targets: dict[str, str]  # job name -> host:port
    rule_files: list[Path] = field(default_factory=list)
    job_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra scrape config
    #: A complete configuration to run instead of the generated one (e.g. the chart's own).
    raw_config: dict[str, Any] | None = None
    extra_flags: list[str] = field(default_factory=list)
    #: Alertmanagers (host:port) the firing and resolved alerts are sent to.
    alertmanagers: list[str] = field(default_factory=list)
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def config(self) -> dict[str, Any]:
        if self.raw_config is not None:
            return self.raw_config
        alerting = {
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": self.alertmanagers}]}]}
        }
        return {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            **(alerting if self.alertmanagers else {}),
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [{"targets": [target]}],
                    **self.job_options.get(job, {}),
                }
                for job, target in {
                    **self.targets,
                    "prometheus": f"127.0.0.1:{self.port}",
                }.items()
            ],
        }

    def start(self) -> Prometheus:
        binary = prometheus_binaries()["prometheus"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        argv = [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *(self.extra_flags or ["--enable-feature=exemplar-storage"]),
            "--web.enable-lifecycle",
        ]
        self.process = Process(argv, self.log_path)
        self.process.start(
            http_ok(f"{self.url}/-/ready"), timeout=60, interval=0.2, error=PrometheusError
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    # ---- HTTP API

    def _get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return result

    def exemplars(self, expr: str, seconds_back: int = 600) -> list[dict[str, Any]]:
        now = time.time()
        result: list[dict[str, Any]] = self._get(
            "/api/v1/query_exemplars", query=expr, start=str(now - seconds_back), end=str(now)
        )
        return result

    def targets_health(self) -> dict[str, str]:
        data = self._get("/api/v1/targets")
        return {t["labels"]["job"]: t["health"] for t in data["activeTargets"]}

    def alerts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/api/v1/alerts")["alerts"]
        return result

    def alert_states(self, name: str) -> set[str]:
        return {a["state"] for a in self.alerts() if a["labels"]["alertname"] == name}

    def rule_health(self) -> list[tuple[str, str, str]]:
        out = []
        for group in self._get("/api/v1/rules")["groups"]:
            for rule in group["rules"]:
                out.append((rule["name"], rule["health"], rule.get("lastError", "")))
        return out

    def metric_names(self) -> set[str]:
        return set(self._get("/api/v1/label/__name__/values"))


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    values = []
    for sample in result:
        value = float(sample["value"][1])
        if not math.isnan(value):
            values.append(value)
    return values


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """The shared polling helper, with the argument order these tests use."""
    return wait_until(predicate, timeout=timeout, interval=interval, what=what)


@contextlib.contextmanager
def running(prom: Prometheus) -> Iterator[Prometheus]:
    prom.start()
    try:
        yield prom
    finally:
        prom.stop()
