"""``promtool check rules`` and ``promtool test rules`` with the pinned promtool, for the
production rules and for the copy the live test renders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.dashboards.promstack import (
    RULE_FILES,
    mask_durations,
    prometheus_binaries,
    render_rules_for_test,
    scaled,
)
from tests.dashboards.rule_tests import unit_tests, write_unit_tests


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = prometheus_binaries()["promtool"]
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_promtool_is_the_pinned_version() -> None:
    out = _promtool("--version")
    assert "promtool, version 3.15.0" in out.stdout, out.stdout + out.stderr


def test_check_rules() -> None:
    assert RULE_FILES, "no rule files"
    out = _promtool("check", "rules", *map(str, RULE_FILES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_check_rules_catches_a_broken_rule(tmp_path: Path) -> None:
    """The check is not vacuous: a bad expression fails it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(rate(y[5m])\n")
    assert _promtool("check", "rules", str(bad)).returncode != 0


def test_rule_unit_tests(tmp_path: Path) -> None:
    """``promtool test rules`` on the shipped rule files; the test file is derived from the
    rules (rule_tests.py) and written to a tmp dir."""
    out = _promtool("test", "rules", str(write_unit_tests(RULE_FILES, tmp_path)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rule_unit_tests_catch_a_silent_alert(tmp_path: Path) -> None:
    """Not vacuous: with an alert's expression that never fires, promtool fails."""
    alerts = next(p for p in RULE_FILES if p.name == "alerts.yaml")
    broken = yaml.safe_load(alerts.read_text())
    rule = next(r for g in broken["groups"] for r in g["rules"] if r.get("alert"))
    rule["expr"] = "vector(1) == 2"
    copy = tmp_path / "alerts.yaml"
    copy.write_text(yaml.safe_dump(broken))
    files = [copy if p == alerts else p for p in RULE_FILES]
    out = _promtool("test", "rules", str(write_unit_tests(files, tmp_path)))
    assert out.returncode != 0, out.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    alerts = {
        r["alert"]
        for path in RULE_FILES
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in unit_tests(RULE_FILES)["tests"]:
        for case in test.get("alert_rule_test", []):
            (fires if case["exp_alerts"] else quiet).add(case["alertname"])
    assert alerts - fires == set(), "alerts never shown to fire"
    assert alerts - quiet == set(), "alerts never shown to stay quiet"


def test_test_rendering_is_valid_and_changes_only_durations(tmp_path: Path) -> None:
    for path in RULE_FILES:
        production = yaml.safe_load(path.read_text())
        rendered = render_rules_for_test(path.read_text())
        assert mask_durations(rendered) == mask_durations(production), path.name
        assert rendered != production
        out_file = tmp_path / path.name
        out_file.write_text(yaml.safe_dump(rendered))
        out = _promtool("check", "rules", str(out_file))
        assert out.returncode == 0, out.stdout + out.stderr


def test_scaling() -> None:
    assert [scaled(d) for d in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "10m", "15m")] == [
        "5s",
        "30s",
        "1m",
        "2m",
        "6m",
        "24m",
        "72m",
        "10s",
        "15s",
    ]
