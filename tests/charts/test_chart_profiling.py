"""The chart's profiling switch: on with the bundled LGTM, off without it, an explicit value
wins; the address is the bundled Pyroscope (its port as recorded in the LGTM facts file) and
the NetworkPolicies open exactly that flow; Grafana links a span to its profile.

tests/integration/test_profiling.py proves what the app pushes at those settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chart import CHART, RELEASE, container_env, find, helm, pod_labels, render
from tests.support.pyroscope import CPU_PROFILE_TYPE, PUSH_PATH

EXTERNAL = CHART / "ci" / "external-values.yaml"  # lgtm.enabled=false
FACTS = Path(__file__).parent / "data" / "otel-lgtm-0.31.0.yaml"
LGTM = f"{RELEASE}-orderflow-lgtm"
APPS = ("api", "worker")


def profiling_env(objects: list[dict[str, Any]]) -> dict[str, dict[str, str | None]]:
    """PROFILING_ENABLED / PYROSCOPE_* of the API and the worker."""
    out = {}
    for app in APPS:
        env = container_env(find(objects, "Deployment", app))
        out[app] = {
            name: env[name].get("value") if name in env else None
            for name in ("PROFILING_ENABLED", "PYROSCOPE_SERVER_ADDRESS", "PYROSCOPE_SAMPLE_RATE")
        }
    return out


def policy_ports(policy: dict[str, Any], direction: str) -> set[int]:
    return {p["port"] for rule in policy["spec"].get(direction, []) for p in rule.get("ports", [])}


def peers_on_port(policy: dict[str, Any], direction: str, port: int) -> list[dict[str, Any]]:
    side = "to" if direction == "egress" else "from"
    return [
        peer
        for rule in policy["spec"].get(direction, [])
        if port in {p["port"] for p in rule.get("ports", [])}
        for peer in rule.get(side, [])
    ]


def pyroscope_port() -> int:
    facts = yaml.safe_load(FACTS.read_text())
    [port] = [p for p in facts["ports"] if p["component"] == "pyroscope" and p["purpose"] == "http"]
    assert port["all_interfaces"], "Pyroscope must listen beyond 127.0.0.1 to be pushed to"
    assert PUSH_PATH in port["source"], "the push API the client uses is served on this port"
    return int(port["port"])


def test_on_with_the_bundled_lgtm_pushing_to_its_pyroscope() -> None:
    objects = render(None)
    port = pyroscope_port()
    address = f"http://{LGTM}:{port}"
    assert profiling_env(objects) == {
        app: {
            "PROFILING_ENABLED": "true",
            "PYROSCOPE_SERVER_ADDRESS": address,
            "PYROSCOPE_SAMPLE_RATE": "100",
        }
        for app in APPS
    }
    service = find(objects, "Service", "lgtm")
    [svc_port] = [p for p in service["spec"]["ports"] if p["port"] == port]
    lgtm = find(objects, "Deployment", "lgtm")
    container_ports = {
        p["name"]: p["containerPort"]
        for p in lgtm["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert container_ports[svc_port["targetPort"]] == port

    # Exactly the app -> Pyroscope flow is opened, both ways.
    lgtm_labels = pod_labels(lgtm)
    for app in APPS:
        policy = find(objects, "NetworkPolicy", app)
        [peer] = peers_on_port(policy, "egress", port)
        assert peer["podSelector"]["matchLabels"].items() <= lgtm_labels.items()
    ingress = peers_on_port(find(objects, "NetworkPolicy", "lgtm"), "ingress", port)
    assert sorted(
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in ingress
    ) == [
        "api",
        "worker",
    ]


def test_grafana_opens_a_spans_profile_from_tempo() -> None:
    """The provisioned Tempo datasource links spans to the Pyroscope datasource, asking for the
    profile type the Python client pushes, with the service name mapped to its label."""
    provisioning = find(render(None), "ConfigMap", "lgtm-provisioning")
    datasources = yaml.safe_load(provisioning["data"]["datasources.yaml"])["datasources"]
    by_type = {d["type"]: d for d in datasources}
    pyroscope = by_type["grafana-pyroscope-datasource"]
    assert pyroscope["url"] == f"http://127.0.0.1:{pyroscope_port()}"
    link = by_type["tempo"]["jsonData"]["tracesToProfiles"]
    assert link["datasourceUid"] == pyroscope["uid"]
    assert link["profileTypeId"] == CPU_PROFILE_TYPE
    assert link["customQuery"] is False  # the span's pyroscope.profile.id selects its samples
    assert {"key": "service.name", "value": "service_name"} in link["tags"]


def test_off_without_the_bundled_lgtm() -> None:
    objects = render(EXTERNAL)
    assert profiling_env(objects) == {
        app: {
            "PROFILING_ENABLED": "false",
            "PYROSCOPE_SERVER_ADDRESS": None,
            "PYROSCOPE_SAMPLE_RATE": None,
        }
        for app in APPS
    }
    for app in APPS:
        assert pyroscope_port() not in policy_ports(find(objects, "NetworkPolicy", app), "egress")


def test_explicitly_off_with_the_bundled_lgtm() -> None:
    objects = render(None, "--set", "profiling.enabled=false")
    assert {env["PROFILING_ENABLED"] for env in profiling_env(objects).values()} == {"false"}
    for name in (*APPS, "lgtm"):
        policy = find(objects, "NetworkPolicy", name)
        assert pyroscope_port() not in policy_ports(policy, "egress") | policy_ports(
            policy, "ingress"
        )


def test_explicitly_on_with_an_external_pyroscope() -> None:
    address = "https://profiles.example.test"
    objects = render(
        EXTERNAL,
        "--set",
        "profiling.enabled=true",
        "--set",
        f"profiling.serverAddress={address}",
        "--set",
        "profiling.sampleRate=50",
    )
    assert profiling_env(objects) == {
        app: {
            "PROFILING_ENABLED": "true",
            "PYROSCOPE_SERVER_ADDRESS": address,
            "PYROSCOPE_SAMPLE_RATE": "50",
        }
        for app in APPS
    }
    cidrs = yaml.safe_load(EXTERNAL.read_text())["networkPolicy"]["externalCIDRs"]
    for app in APPS:
        peers = peers_on_port(find(objects, "NetworkPolicy", app), "egress", 443)
        assert [p["ipBlock"]["cidr"] for p in peers] == cidrs


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["profiling.enabled=true"], "needs profiling.serverAddress"),
        (["profiling.enabled=true", "profiling.serverAddress=pyroscope:4040"], "serverAddress"),
        (["profiling.enabled=true", "profiling.sampleRate=0"], "sampleRate"),
    ],
)
def test_refused_settings(values: list[str], message: str) -> None:
    args = [arg for value in values for arg in ("--set", value)]
    proc = helm("template", RELEASE, str(CHART), "-f", str(EXTERNAL), *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
