"""Structural checks of the rendered dashboards and rules (no servers needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orderflow_dashboards import render
from tests.dashboards.promstack import (
    CHART,
    KNOWN_DATASOURCES,
    REPO,
    dashboard_queries,
    load_dashboards,
    rules,
)

CHART_DATASOURCES = REPO / "charts" / "orderflow" / "files" / "grafana" / "datasources.yaml"
RUNBOOK = REPO / "grafana-dashboards" / "RUNBOOK.md"
DASHBOARDS = load_dashboards()
#: Words that would pin a panel to one deployment: instance/pod/host names or addresses.
HARD_CODED = re.compile(
    r"""(instance|pod|host|node|container|hostname)\s*=~?\s*"(?!\$)[^"]+"|"""
    r"""\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b|localhost|\.svc\b|cluster\.local""",
    re.IGNORECASE,
)


def _panels() -> list[tuple[str, dict[str, Any]]]:
    return [(name, p) for name, board in DASHBOARDS.items() for p in board["panels"]]


def test_chart_files_are_the_generators_output() -> None:
    """The one drift check: the chart ships exactly what ``orderflow_dashboards`` renders (no
    stale file, no stray hand-written dashboard or rule file beside them)."""
    stale = [str(path.relative_to(REPO)) for path in render.stale(CHART)]
    assert not stale, f"run `make dashboards`: {stale}"


def test_expected_dashboards_exist() -> None:
    uids = {board["uid"] for board in DASHBOARDS.values()}
    assert {
        "orderflow-overview",
        "orderflow-api-red",
        "orderflow-worker",
        "orderflow-business",
        "orderflow-database-cache",
        "orderflow-self-observability",
        "orderflow-operator",
    } <= uids
    assert len(uids) == len(DASHBOARDS), "dashboard uids must be unique"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_ids_unique_and_layout_sane(name: str) -> None:
    panels = DASHBOARDS[name]["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), ids
    assert panels, "a dashboard without panels"
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (p["title"], pos)


@pytest.mark.parametrize(
    ("name", "panel"),
    [pytest.param(n, p, id=f"{n}:{p['title']}") for n, p in _panels()],
)
def test_panel_contract(name: str, panel: dict[str, Any]) -> None:
    assert len(panel.get("description", "")) >= 60, "a description of what it shows / bad"
    assert re.search(r"\bBad\b", panel["description"]), "say what bad looks like"
    uids = {panel["datasource"]["uid"]} | {t["datasource"]["uid"] for t in panel["targets"]}
    assert uids <= KNOWN_DATASOURCES, uids
    assert panel["targets"], "a panel without a query"
    for target in panel["targets"]:
        expr = target["expr"]
        assert expr.strip()
        assert not HARD_CODED.search(expr), f"hard-coded instance: {expr}"
        assert "vector(" not in expr, "vector(0) would hide a missing metric: use `or 0 * x`"
        if "_duration_seconds_bucket" in expr:
            assert target.get("exemplar") is True, f"latency query without exemplars: {expr}"


def test_logs_panel_filters_by_trace_id_variable() -> None:
    logs = [p for _, p in _panels() if p["datasource"]["uid"] == "loki"]
    assert logs, "a Loki logs panel"
    for panel in logs:
        assert panel["type"] == "logs"
        assert all("$trace_id" in t["expr"] for t in panel["targets"])
    for name, board in DASHBOARDS.items():
        uses = any("$trace_id" in t["expr"] for p in board["panels"] for t in p["targets"])
        declared = {v["name"] for v in board["templating"]["list"]}
        if uses:
            assert "trace_id" in declared, name


def test_variables_used_are_declared() -> None:
    builtin = {"__rate_interval", "__interval", "__range", "__all"}
    for name, board in DASHBOARDS.items():
        declared = {v["name"] for v in board["templating"]["list"]}
        for p in board["panels"]:
            for t in p["targets"]:
                used = set(re.findall(r"\$\{?(\w+)", t["expr"]))
                assert used <= declared | builtin, (name, p["title"], used - declared)
        for v in board["templating"]["list"]:
            if v["type"] == "query":
                assert v["datasource"]["uid"] in KNOWN_DATASOURCES


def test_chart_provisions_the_datasource_uids_we_use() -> None:
    """The chart (charts/orderflow, another engineer's) provisions prometheus/tempo/loki, and
    its Prometheus datasource links exemplars' ``trace_id`` to Tempo."""
    provisioned = yaml.safe_load(CHART_DATASOURCES.read_text())["datasources"]
    uids = {d["uid"] for d in provisioned}
    assert uids >= KNOWN_DATASOURCES, uids
    prom = next(d for d in provisioned if d["uid"] == "prometheus")
    links = prom["jsonData"]["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": "tempo"}.items() <= links[0].items()


def test_alerts_have_summary_runbook_section_and_dashboard() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    uids = {b["uid"] for b in DASHBOARDS.values()}
    alerts = rules("alert")
    assert len(alerts) >= 15
    for rule in alerts:
        ann = rule["annotations"]
        assert ann["summary"] and ann["description"], rule["alert"]
        path, _, anchor = ann["runbook_url"].partition("#")
        assert (REPO / path).resolve() == RUNBOOK.resolve(), ann["runbook_url"]
        assert anchor in anchors, f"{rule['alert']}: no section #{anchor} in RUNBOOK.md"
        assert ann["dashboard_url"].removeprefix("/d/") in uids, ann["dashboard_url"]
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["for"], "every alert waits (pending first)"


def test_slo_journeys_have_fast_and_slow_burn_alerts() -> None:
    alerts = {r["alert"] for r in rules("alert")}
    for journey in ("Login", "OrderPlacement", "OrderSettlement"):
        for kind in ("Availability", "Latency"):
            assert {f"{journey}{kind}BurnRateFast", f"{journey}{kind}BurnRateSlow"} <= alerts
    recorded = {(r["record"], r["labels"]["slo"]) for r in rules("record")}
    for rule in rules("alert"):
        for name, slo in re.findall(
            r'(slo:sli_error:ratio_rate\w+)\{slo="([\w-]+)"\}', rule["expr"]
        ):
            assert (name, slo) in recorded, f"{rule['alert']} reads an unrecorded {name}"


def test_every_prometheus_query_is_collected() -> None:
    """The live test evaluates what dashboard_queries() returns: it must see every target."""
    total = sum(
        1 for _, p in _panels() for t in p["targets"] if t["datasource"]["uid"] == "prometheus"
    )
    assert len(dashboard_queries()) == total > 30


def test_collector_config_differs_from_the_test_config_only_in_telemetry() -> None:
    mine = yaml.safe_load((Path(__file__).parent / "collector-selfmetrics.yaml").read_text())
    theirs = yaml.safe_load((REPO / "otel" / "collector-test.yaml").read_text())
    assert mine["service"]["telemetry"]["metrics"]["readers"]
    mine["service"].pop("telemetry")
    theirs["service"].pop("telemetry")
    assert mine == theirs
