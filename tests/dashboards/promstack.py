"""A real Prometheus (the pinned build from tools/go/prometheus) for the dashboard tests, the
queries of the rendered dashboards and rules, and the test rendering of the rules.

Test rendering of the rules (``render_rules_for_test``): production windows (5m ... 3d) and
``for:`` durations are far longer than a test can wait. The test loads a copy in which every
range selector ``[<n><unit>]``, every ``for:`` and every threshold marked ``# seconds`` is
divided by ``TIME_SCALE`` (60: an hour becomes a minute), and the groups are evaluated every
second. Nothing else changes: same expressions, same metric names and label matchers, same
burn factors, same record names (``slo:sli_error:ratio_rate1h`` still names the "long fast"
window). ``test_promtool.py`` asserts that the two copies are identical once durations are
masked, so the test copy cannot drift from production.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml
from k8s.testbed.tools import ensure

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO / "grafana-dashboards"
ALERTS_DIR = DASHBOARDS_DIR / "alerts"
RULE_FILES = sorted(ALERTS_DIR.glob("*.yaml"))
TIME_SCALE = 60
KNOWN_DATASOURCES = {"prometheus", "tempo", "loki"}

#: Grafana's built-in variables and the dashboards' own, as the test substitutes them.
#: Multi-value variables become ``.*`` (Grafana's "All"); a rate interval of 30 s holds ~30
#: samples at the test's 1 s scrape interval.
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
                rule["for"] = scaled(rule["for"], scale)
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
        expr = self.expr
        for name in sorted(TEST_VARIABLES, key=len, reverse=True):
            expr = expr.replace(name, TEST_VARIABLES[name])
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


class PrometheusError(RuntimeError):
    pass


@dataclass
class Prometheus:
    """``prometheus`` on a free loopback port with a generated configuration."""

    workdir: Path
    port: int
    targets: dict[str, str]  # job name -> host:port
    rule_files: list[Path] = field(default_factory=list)
    job_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra scrape config
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
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
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(binary),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--enable-feature=exemplar-storage",
                    "--web.enable-lifecycle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited:\n{self.log()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            time.sleep(0.2)
        raise PrometheusError(f"prometheus not ready in 60 s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
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


def wait_for(
    predicate: Any, timeout: float, what: str, interval: float = 0.5
) -> Any:  # pragma: no cover - trivial
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not within {timeout:.0f}s (last: {last!r})")


@contextlib.contextmanager
def running(prom: Prometheus) -> Iterator[Prometheus]:
    prom.start()
    try:
        yield prom
    finally:
        prom.stop()
