"""The chart's Alertmanager as shipped: its rendered configuration (default route timings, every
receiver kind) accepted by the pinned Alertmanager's own loader (``amtool check-config``),
routed by severity (``amtool config routes test``), notification texts carrying each shipped
rule's runbook link (``amtool template render``), the bundled Prometheus pointed at it, its
network flows, and receiver credentials only from an existing Secret.

tests/dashboards/test_alert_delivery.py runs it live with faster route timings.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chart import CHART, RELEASE, find, helm, pod_labels, render
from tests.dashboards.alertstack import (
    RenderedAlertmanager,
    alertmanager_binaries,
    render_alertmanager,
)

ALL_BUNDLED = CHART / "ci" / "all-bundled-values.yaml"
SECRET = "orderflow-alerting"
#: One receiver of each kind; route timings left at the chart's defaults.
RECEIVERS: dict[str, Any] = {
    "alertmanager": {
        "enabled": True,
        "existingSecret": SECRET,
        "receivers": [
            {
                "name": "oncall",
                "severities": ["page"],
                "slack": {"urlKey": "chat-url", "channel": "#orderflow-oncall"},
                "webhook": {"urlKey": "pager-url"},
            },
            {
                "name": "team",
                "severities": ["page", "ticket"],
                "email": {"to": "orderflow-team@example.test"},
                "webhook": {"url": "http://tickets.example.test/orderflow"},
            },
        ],
        "smtp": {
            "smarthost": "smtp.example.test:587",
            "from": "alerts@example.test",
            "authUsername": "alerts",
            "authPasswordKey": "smtp-password",
        },
    }
}
SECRET_FILES = {
    "chat-url": "https://chat.example.test/hooks/T0/B0/chat-token",
    "pager-url": "https://pager.example.test/v1/hook/pager-token",
    "smtp-password": "smtp-password-value",
}


def _values(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    amtool = alertmanager_binaries()["amtool"]
    return subprocess.run([str(amtool), *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[RenderedAlertmanager, Path]:
    tmp = tmp_path_factory.mktemp("alertmanager")
    rendered = render_alertmanager(_values(tmp, RECEIVERS))
    return rendered, rendered.write(tmp, SECRET_FILES)


def test_off_by_default_and_prometheus_alerts_nowhere() -> None:
    objects = render(None)
    assert not [o for o in objects if o["metadata"]["name"].endswith("-alertmanager")]
    prometheus = yaml.safe_load(
        find(objects, "ConfigMap", "lgtm-provisioning")["data"]["prometheus.yaml"]
    )
    assert "alerting" not in prometheus


def test_bundled_prometheus_sends_to_the_alertmanager_service(
    shipped: tuple[RenderedAlertmanager, Path],
) -> None:
    rendered, _ = shipped
    [manager] = rendered.prometheus_config["alerting"]["alertmanagers"]
    assert manager["static_configs"] == [
        {"targets": [f"{rendered.service_name}:{rendered.service_port}"]}
    ]


def test_shipped_config_is_accepted_by_alertmanager(
    shipped: tuple[RenderedAlertmanager, Path],
) -> None:
    _, config_file = shipped
    proc = _amtool("check-config", str(config_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout and " - 3 receivers" in proc.stdout, proc.stdout


def test_shipped_route_timings_are_the_documented_defaults(
    shipped: tuple[RenderedAlertmanager, Path],
) -> None:
    rendered, _ = shipped
    route = rendered.config["route"]
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["alertmanager"]["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        defaults["groupWait"],
        defaults["groupInterval"],
        defaults["repeatInterval"],
    )
    assert route["group_by"] == defaults["groupBy"]


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=page", "slo=login-availability"], "oncall,team"),
        (["severity=ticket", "slo=login-availability"], "team"),
        (["severity=info"], "unrouted"),
    ],
)
def test_alerts_route_by_severity(
    shipped: tuple[RenderedAlertmanager, Path], labels: list[str], receivers: str
) -> None:
    _, config_file = shipped
    proc = _amtool(
        "config", "routes", "test", f"--config.file={config_file}",
        f"--verify.receivers={receivers}", *labels,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_shipped_rule_has_a_severity_that_reaches_someone(
    shipped: tuple[RenderedAlertmanager, Path],
) -> None:
    _, config_file = shipped
    for rule in _shipped_alert_rules():
        proc = _amtool(
            "config", "routes", "test", f"--config.file={config_file}",
            f"alertname={rule['alert']}", *(f"{k}={v}" for k, v in rule["labels"].items()),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "unrouted" not in proc.stdout, f"{rule['alert']} reaches nobody: {proc.stdout}"


def test_runbook_links_can_point_where_the_repository_is_browsed() -> None:
    base = "https://git.example.test/shop/orderflow/blob/v1/"
    shipped = {r["alert"]: r["annotations"]["runbook_url"] for r in _shipped_alert_rules()}
    linked = {
        r["alert"]: r["annotations"]["runbook_url"]
        for r in _shipped_alert_rules("--set", f"lgtm.alertRules.runbookBaseUrl={base}")
    }
    assert linked == {name: base + url for name, url in shipped.items()}


def _shipped_alert_rules(*extra: str) -> list[dict[str, Any]]:
    rules = find(render(None, *extra), "ConfigMap", "lgtm-rules")["data"]
    out = [
        rule
        for body in rules.values()
        for group in yaml.safe_load(body)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert out
    return out


@pytest.mark.parametrize("template", ["orderflow.text", "orderflow.title"])
def test_notification_texts_carry_the_runbook_link(
    shipped: tuple[RenderedAlertmanager, Path], tmp_path: Path, template: str
) -> None:
    """Every shipped alert, as Alertmanager would pass it to the chat and email receivers."""
    _, config_file = shipped
    [templates] = yaml.safe_load(config_file.read_text())["templates"]
    for rule in _shipped_alert_rules():
        annotations = rule["annotations"]
        data = {
            "receiver": "oncall",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": rule["alert"], **rule["labels"]},
                    "annotations": annotations,
                    "startsAt": "2026-01-01T00:00:00Z",
                }
            ],
            "groupLabels": {"alertname": rule["alert"]},
            "commonLabels": {"alertname": rule["alert"], **rule["labels"]},
            "commonAnnotations": annotations,
            "externalURL": "http://alertmanager.example.test",
        }
        (tmp_path / "data.json").write_text(json.dumps(data))
        proc = _amtool(
            "template", "render", f"--template.glob={templates}",
            f'--template.text={{{{ template "{template}" . }}}}',
            f"--template.data={tmp_path / 'data.json'}",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        if template == "orderflow.text":
            assert f"Runbook: {rule['annotations']['runbook_url']}" in proc.stdout, proc.stdout
        else:
            assert proc.stdout.startswith("[FIRING:1] " + rule["alert"]), proc.stdout


def test_flows_prometheus_to_alertmanager_to_receivers_only() -> None:
    objects = render(ALL_BUNDLED)
    alertmanager = find(objects, "Deployment", "alertmanager")
    lgtm = find(objects, "Deployment", "lgtm")
    policy = find(objects, "NetworkPolicy", "alertmanager")
    [ingress] = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": 9093, "protocol": "TCP"}]
    [peer] = ingress["from"]  # the bundled Prometheus only (alertmanagerIngressFrom empty)
    assert peer["podSelector"]["matchLabels"].items() <= pod_labels(lgtm).items()
    [egress] = policy["spec"]["egress"]
    assert sorted(p["port"] for p in egress["ports"]) == [443, 587]
    lgtm_policy = find(objects, "NetworkPolicy", "lgtm")
    [to_alertmanager] = lgtm_policy["spec"]["egress"]
    assert to_alertmanager["ports"] == [{"port": 9093, "protocol": "TCP"}]
    selector = to_alertmanager["to"][0]["podSelector"]["matchLabels"]
    assert selector.items() <= pod_labels(alertmanager).items()


def test_alertmanager_runs_locked_down() -> None:
    """Beyond the hygiene every workload gets (test_chart_static.py): the data directory is
    the only writable path, and the single replica runs no gossip cluster."""
    objects = render(ALL_BUNDLED)
    deployment = find(objects, "Deployment", "alertmanager")
    spec = deployment["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["runAsUser"] == 65534
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/alertmanager"}
    assert "--storage.path=/alertmanager" in container["args"]
    assert "--cluster.listen-address=" in container["args"]
    assert deployment["spec"]["replicas"] == 1


@pytest.mark.parametrize(
    ("receiver", "message"),
    [
        ({"slack": {"urlKey": "chat-url"}}, "alertmanager.existingSecret is required"),
        ({"webhook": {"urlKey": "pager-url"}}, "alertmanager.existingSecret is required"),
        ({"email": {"to": "a@example.test"}}, "needs alertmanager.smtp.smarthost"),
        ({"webhook": {"url": "http://x.test"}, "twice": True}, 'the name "r" is used twice'),
    ],
)
def test_receiver_settings_fail_clearly(
    tmp_path: Path, receiver: dict[str, Any], message: str
) -> None:
    one = {"name": "r", "severities": ["page"], **receiver}
    twice = one.pop("twice", False)
    values = {"alertmanager": {"enabled": True, "receivers": [one, one] if twice else [one]}}
    proc = helm("template", RELEASE, str(CHART), "-f", str(_values(tmp_path, values)), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("receiver", "message"),
    [
        # A chat webhook URL is its credential: the schema has no place for it in values.
        (
            {"severities": ["page"], "slack": {"url": "https://chat.example.test/x"}},
            "'url' not allowed",
        ),
        ({"severities": ["urgent"], "webhook": {"url": "http://x.test"}}, "/severities/0"),
        ({"webhook": {"url": "http://x.test"}}, "missing property 'severities'"),
    ],
)
def test_receiver_schema_rejects(tmp_path: Path, receiver: dict[str, Any], message: str) -> None:
    values = {"alertmanager": {"enabled": True, "receivers": [{"name": "r", **receiver}]}}
    proc = helm("template", RELEASE, str(CHART), "-f", str(_values(tmp_path, values)), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_needs_the_bundled_prometheus() -> None:
    proc = helm(
        "template", RELEASE, str(CHART), "--set", "alertmanager.enabled=true",
        "--set", "lgtm.enabled=false", "--set", "externalLgtm.otlpEndpoint=lgtm.example.test:4317",
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "alertmanager.enabled needs lgtm.enabled" in proc.stderr, proc.stderr


def test_credentials_never_rendered(shipped: tuple[RenderedAlertmanager, Path]) -> None:
    """The chart creates no Secret for Alertmanager and its configuration names files only."""
    rendered, _ = shipped
    text = rendered.files["alertmanager.yaml"]
    for value in SECRET_FILES.values():
        assert value not in text
    assert text.count("_file: /etc/alertmanager/secrets/") == 3
