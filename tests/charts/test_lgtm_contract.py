"""The bundled LGTM against what its image really does.

The ``grafana/otel-lgtm`` image cannot run here (its components are AGPL-licensed and it cannot
be pulled), so its behaviour is recorded as facts, read from the image's source at the pinned
release, in ``data/otel-lgtm-<version>.yaml``: every path a component writes, the ports and the
interfaces they are bound to, the readiness file, the datasource uids, the Grafana environment
the start scripts default. These tests render the chart and check the LGTM Deployment against
those facts, so a chart change that would crash-loop LGTM (a written path on the read-only root)
or silently detach it (a probe or port that does not exist) fails here, and an image bump is a
reviewed diff of the data file.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.charts.chart import CHART, VALUES_FILES, container_env, pod_spec, render, values_id

DATA = Path(__file__).with_name("data")
WRITABLE_VOLUME_KINDS = ("emptyDir", "persistentVolumeClaim", "ephemeral")


def _pinned_tag() -> str:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return str(values["lgtm"]["image"]["tag"])


@cache
def facts() -> dict[str, Any]:
    path = DATA / f"otel-lgtm-{_pinned_tag()}.yaml"
    assert path.exists(), (
        f"no facts for grafana/otel-lgtm {_pinned_tag()} (the chart's lgtm.image.tag): read the "
        f"image's source at that tag and record them in {path.relative_to(CHART.parents[1])}"
    )
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@cache
def _rendered(values: Path | None) -> list[dict[str, Any]]:
    return render(values)


def _bundles(values: Path | None, component: str) -> bool:
    """Whether a values file keeps the bundled ``component`` (the chart's default: on)."""
    if values is None:
        return True
    data = yaml.safe_load(values.read_text()) or {}
    return (data.get(component) or {}).get("enabled", True) is not False


def _lgtm_values() -> list[Path | None]:
    """The values files that bundle LGTM (decided at collection: a file without LGTM has
    nothing to check here, so it is not a test case at all)."""
    return [v for v in VALUES_FILES if _bundles(v, "lgtm")]


def _collector_values() -> list[Path | None]:
    return [v for v in _lgtm_values() if _bundles(v, "collector")]


def _lgtm(values: Path | None) -> dict[str, Any] | None:
    found = [
        o
        for o in _rendered(values)
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-lgtm")
    ]
    return found[0] if found else None


def _deployment(values: Path | None) -> dict[str, Any]:
    obj = _lgtm(values)
    assert obj is not None, f"{values_id(values)} renders no LGTM Deployment"
    return obj


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(obj)["containers"]
    assert [c["name"] for c in containers] == ["lgtm"], containers
    return containers[0]


def _env_value(obj: dict[str, Any], name: str) -> str | None:
    entry = container_env(obj).get(name)
    if entry is None:
        return None
    value = entry.get("value")
    return None if value is None else str(value)


def _under(path: str, directory: str) -> bool:
    path, directory = posixpath.normpath(path), posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _mount_for(obj: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The volume mount that holds ``path`` in the container: the most specific one, as the
    kernel resolves nested mounts."""
    mounts = [m for m in _container(obj).get("volumeMounts", []) if _under(path, m["mountPath"])]
    return max(mounts, key=lambda m: len(m["mountPath"]), default=None)


def _volume(obj: dict[str, Any], name: str) -> dict[str, Any]:
    volumes: dict[str, dict[str, Any]] = {v["name"]: v for v in pod_spec(obj).get("volumes", [])}
    assert name in volumes, f"volume {name} is mounted but not declared"
    return volumes[name]


def _written_paths(obj: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(component, effective path, source, scratch) of every path the image writes with the chart's
    environment: relocations by the documented variables applied, conditional writes only when
    their trigger is set."""
    out = []
    for write in facts()["writes"]:
        triggers = write.get("when", [])
        if triggers and not any(_env_value(obj, t) for t in triggers):
            continue
        path = write["path"]
        if write.get("env") and _env_value(obj, write["env"]):
            path = str(_env_value(obj, write["env"]))
        if write.get("flag"):
            path = _flag_value(_env_value(obj, write["args_env"]) or "", write["flag"]) or path
        out.append((write["component"], path, write["source"], bool(write.get("scratch"))))
    return out


def _flag_value(args: str, flag: str) -> str | None:
    """The value a Go program sees for ``flag`` in arguments split on whitespace (how the
    image's run scripts split their *_EXTRA_ARGS); the last one wins."""
    value = None
    words = args.split()
    for i, word in enumerate(words):
        name, sep, rest = word.lstrip("-").partition("=")
        if not word.startswith("-") or name != flag:
            continue
        value = rest if sep else (words[i + 1] if i + 1 < len(words) else None)
    return value


# ---------------------------------------------------------------------------------- facts


def test_facts_describe_the_pinned_image() -> None:
    data = facts()
    assert data["version"] == _pinned_tag()
    assert data["source"]["tag"] == f"v{_pinned_tag()}"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["lgtm"]["image"]["repository"] == data["image"]


def test_a_values_file_bundles_lgtm() -> None:
    """Guards the parametrisations below against silently testing nothing: the defaults and
    the all-bundled values render LGTM."""
    bundled = {values_id(v) for v in VALUES_FILES if _lgtm(v) is not None}
    assert {"default", "all-bundled-values"} <= bundled, bundled


# -------------------------------------------------------------------------- written paths


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_every_written_path_is_a_writable_mount(values: Path | None) -> None:
    obj = _deployment(values)
    # The premise: the root filesystem is read-only, so only mounted volumes take writes.
    assert _container(obj)["securityContext"]["readOnlyRootFilesystem"] is True
    problems = _write_problems(obj)
    assert not problems, "\n".join(problems)


def _write_problems(obj: dict[str, Any]) -> list[str]:
    problems = []
    for component, path, source, _ in _written_paths(obj):
        mount = _mount_for(obj, path)
        if mount is None:
            problems.append(f"{component} writes {path} ({source}): on the read-only root")
            continue
        volume = _volume(obj, mount["name"])
        kind = next((k for k in WRITABLE_VOLUME_KINDS if k in volume), None)
        if kind is None or mount.get("readOnly"):
            problems.append(
                f"{component} writes {path} ({source}): mounted from volume {mount['name']} "
                f"({', '.join(k for k in volume if k != 'name')}"
                f"{', readOnly' if mount.get('readOnly') else ''}), which is not writable"
            )
    return problems


def test_the_write_check_sees_what_the_image_would_hit() -> None:
    """The check itself: without the Tempo relocation, with /data read-only, or with an extra
    export switched on (the internal collector then writes into /otel-lgtm), it reports."""
    obj = _deployment(None)
    env = _container(obj)["env"]

    def variant(change: Any) -> list[str]:
        copy = json.loads(json.dumps(obj))
        change(_container(copy))
        return _write_problems(copy)

    without_tempo = variant(
        lambda c: c.update(env=[e for e in env if e["name"] != "TEMPO_EXTRA_ARGS"])
    )
    assert any("/var/tempo/live-store/traces" in p for p in without_tempo), without_tempo

    def data_read_only(c: dict[str, Any]) -> None:
        for m in c["volumeMounts"]:
            if m["mountPath"] == "/data":
                m["readOnly"] = True

    assert any("/data/prometheus" in p for p in variant(data_read_only))
    extra_export = variant(
        lambda c: c.update(env=[*env, {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "x"}])
    )
    assert any("otelcol-config-export-http.yaml" in p for p in extra_export), extra_export


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_component_data_is_one_volume(values: Path | None) -> None:
    """Everything the components store (/data, and Tempo's live store under /var/tempo) is on
    one volume: with ``lgtm.persistence.enabled`` the PVC, so traces, logs, metrics and
    Grafana's database survive a restart together; never a stray emptyDir beside the PVC."""
    obj = _deployment(values)
    volumes = set()
    for _, path, _, scratch in _written_paths(obj):
        mount = _mount_for(obj, path)
        if not scratch and mount is not None:
            volumes.add(mount["name"])
    assert len(volumes) == 1, f"component data spread over volumes {volumes}"


# --------------------------------------------------------------------------- ports, probes


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_exposed_ports_are_ports_the_image_listens_on(values: Path | None) -> None:
    obj = _deployment(values)
    listening = {p["port"]: p for p in facts()["ports"]}
    declared = {p["name"]: p["containerPort"] for p in _container(obj)["ports"]}
    for name, port in declared.items():
        assert port in listening, f"container port {name}={port}: nothing in the image listens"
        assert listening[port]["all_interfaces"], (
            f"container port {name}={port} is bound to 127.0.0.1 only in the image "
            f"({listening[port]['source']}): unreachable from other pods"
        )
    # Each name means what the image serves there.
    expected = {"grafana": ("grafana", "http"), "otlp-grpc": ("otelcol", "otlp-grpc"),
                "otlp-http": ("otelcol", "otlp-http"),
                "pyroscope": ("pyroscope", "http")}  # fmt: skip
    for name, port in declared.items():
        assert name in expected, f"container port {name}: not one the chart documents"
        seen = (listening[port]["component"], listening[port]["purpose"])
        assert seen == expected[name], f"container port {name}={port} is {seen} in the image"
    service = next(
        o
        for o in _rendered(values)
        if o["kind"] == "Service" and o["metadata"]["name"] == obj["metadata"]["name"]
    )
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in declared, port


@pytest.mark.parametrize("values", _collector_values(), ids=values_id)
def test_the_collector_sends_to_the_image_otlp_grpc_port(values: Path | None) -> None:
    collector = next(
        (
            o
            for o in _rendered(values)
            if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-collector")
        ),
        None,
    )
    assert collector is not None, "no bundled collector"
    endpoint = _env_value(collector, "LGTM_OTLP_ENDPOINT") or ""
    port = int(endpoint.rsplit(":", 1)[1])
    assert {"port": port, "purpose": "otlp-grpc"}.items() <= next(
        p for p in facts()["ports"] if p["port"] == port
    ).items()


def _exec(probe: dict[str, Any]) -> list[str]:
    command: list[str] = probe.get("exec", {}).get("command", [])
    return command


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_probes_use_the_image_readiness_signals(values: Path | None) -> None:
    obj = _deployment(values)
    container = _container(obj)
    ready = facts()["readiness"]["file"]
    for name in ("startupProbe", "readinessProbe"):
        assert ready in _exec(container[name]), f"{name}: {container[name]}"
    liveness = container["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    port = ports.get(liveness["port"], liveness["port"])
    health = {
        (urlsplit(url).port, urlsplit(url).path)
        for url in facts()["readiness"]["component_health"].values()
    }
    assert (port, liveness["path"]) in health, liveness


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_a_restarted_container_is_not_ready_before_its_stack(values: Path | None) -> None:
    """run-all.sh creates the readiness file and never removes it. On a volume (the chart's
    /tmp emptyDir lives as long as the pod), a restarted container would find the previous
    run's file and pass its probes at once: the chart must remove it before the image's
    command starts."""
    obj = _deployment(values)
    container = _container(obj)
    data = facts()
    ready = data["readiness"]["file"]
    mount = _mount_for(obj, ready)
    if mount is None or data["readiness"]["removed_at_start"]:
        return
    command = [*container.get("command", []), *container.get("args", [])]
    assert command, f"{ready} is on volume {mount['name']}: the image's CMD must not run as is"
    # The image's shell runs: remove the file, then exec the image's own command (PID 1 stays
    # run-all.sh, with its signal handling), in the image's working directory.
    shell = data["runtime"]["shell"].split()
    assert command[: len(shell) + 1] == [*shell, "-c"] and len(command) == len(shell) + 2, command
    assert shlex.split(command[-1]) == ["rm", "-f", ready, "&&", "exec", *data["runtime"]["cmd"]]
    assert container.get("workingDir", data["runtime"]["workdir"]) == data["runtime"]["workdir"]


# -------------------------------------------------------------------- configuration files


def _provisioning(values: Path | None) -> dict[str, str]:
    cm = next(
        o
        for o in _rendered(values)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-lgtm-provisioning")
    )
    data: dict[str, str] = cm["data"]
    return data


def _mount_path_of(obj: dict[str, Any], sub_path: str) -> str:
    paths: list[str] = [
        m["mountPath"]
        for m in _container(obj)["volumeMounts"]
        if m["name"] == "provisioning" and m.get("subPath") == sub_path
    ]
    assert len(paths) == 1, paths
    return paths[0]


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_configuration_replaces_the_image_files(values: Path | None) -> None:
    """Mounted at the very path the image reads (a different file name beside it would load
    the image's datasources too: two datasources per uid)."""
    obj = _deployment(values)
    files = facts()["config_files"]
    assert _mount_path_of(obj, "datasources.yaml") == files["grafana_datasources"]["path"]
    assert _mount_path_of(obj, "prometheus.yaml") == files["prometheus"]["path"]
    if "dashboards.yaml" in _provisioning(values):
        dashboards = _mount_path_of(obj, "dashboards.yaml")
        assert posixpath.dirname(dashboards) == files["grafana_dashboard_providers_dir"]["path"]


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_datasources_keep_the_image_uids_and_addresses(values: Path | None) -> None:
    _deployment(values)
    datasources = yaml.safe_load(_provisioning(values)["datasources.yaml"])["datasources"]
    provisioned = {d["uid"]: d for d in datasources}
    for uid, upstream in facts()["datasources"].items():
        assert uid in provisioned, f"datasource uid {uid} of the image is not provisioned"
        assert provisioned[uid]["type"] == upstream["type"]
        assert provisioned[uid]["url"] == upstream["url"]
    # and every uid the dashboards use is one of them
    used: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ds = node.get("datasource")
            if isinstance(ds, dict) and isinstance(ds.get("uid"), str):
                used.add(ds["uid"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((CHART / "files" / "grafana-dashboards").glob("*.json")):
        walk(json.loads(path.read_text()))
    assert used, "no datasource uid found in the dashboards"
    assert used <= set(provisioned), used - set(provisioned)


# --------------------------------------------------------------------------------- Grafana


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_grafana_is_not_anonymous_admin(values: Path | None) -> None:
    """The image turns anonymous access on with the Admin role unless told otherwise, and
    logs in as admin/admin: the chart sets both, explicitly."""
    obj = _deployment(values)
    defaults = facts()["grafana_env"]["defaults"]
    assert defaults["GF_AUTH_ANONYMOUS_ENABLED"] == "true"  # why the chart must say it
    anonymous = _env_value(obj, "GF_AUTH_ANONYMOUS_ENABLED")
    assert anonymous in {"true", "false"}, "left to the image's default (anonymous on)"
    if anonymous == "true":
        assert _env_value(obj, "GF_AUTH_ANONYMOUS_ORG_ROLE") == "Viewer"
    env = container_env(obj)
    for name in ("GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD"):
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
        assert ref and ref.get("name") and ref.get("key"), f"{name} not from a Secret: {ref}"


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_no_grafana_path_the_image_overwrites(values: Path | None) -> None:
    """GF_PATHS_HOME/DATA/PLUGINS are exported by run-grafana.sh whatever the environment
    says: setting them in the chart would only mislead a reader."""
    obj = _deployment(values)
    overwritten = set(facts()["grafana_env"]["overwritten_by_image"]) & set(container_env(obj))
    assert not overwritten, overwritten


@pytest.mark.parametrize("values", _lgtm_values(), ids=values_id)
def test_component_logs_reach_the_pod_log(values: Path | None) -> None:
    """Without ENABLE_LOGS_*, every component's output goes to /dev/null: a component that
    fails at start would leave only "exited before becoming ready" in ``kubectl logs``."""
    obj = _deployment(values)
    logs = facts()["component_logs"]
    assert _env_value(obj, logs["all"]) == "true" or all(
        _env_value(obj, name) == "true" for name in logs["per_component"]
    )
