"""Rendering the orderflow chart and checking what it renders (shared by the chart tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from k8s.testbed.tools import ensure

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "orderflow"
# None stands for the chart's default values.
VALUES_FILES: list[Path | None] = [None, *sorted((CHART / "ci").glob("*.yaml"))]
RELEASE = "of"
# What the operator chart's CRD serves; `helm template` renders the HealthPolicies only with it.
HEALTH_POLICY_API = "orderflow.dev/v1alpha1/HealthPolicy"
WITH_HEALTH_POLICY = ("--api-versions", HEALTH_POLICY_API)

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}
REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


def values_id(values: Path | None) -> str:
    return values.stem if values else "default"


def values_args(values: Path | None) -> list[str]:
    return ["-f", str(values)] if values else []


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(ensure(["helm"])["helm"]), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def render_text(values: Path | None, *extra: str, chart: Path = CHART) -> str:
    return helm("template", RELEASE, str(chart), *values_args(values), *extra).stdout


def render(values: Path | None, *extra: str, chart: Path = CHART) -> list[dict[str, Any]]:
    return parse(render_text(values, *extra, chart=chart))


def parse(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of any workload kind."""
    kind = obj["kind"]
    spec: dict[str, Any]
    if kind == "Pod":
        spec = obj["spec"]
    elif kind == "CronJob":
        spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = obj["spec"]["template"]["spec"]
    return spec


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "Pod":
        metadata = obj["metadata"]
    elif obj["kind"] == "CronJob":
        metadata = obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
    else:
        metadata = obj["spec"]["template"]["metadata"]
    labels: dict[str, str] = metadata.get("labels", {})
    return labels


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def find(objects: list[dict[str, Any]], kind: str, name_suffix: str) -> dict[str, Any]:
    """The one object of this kind whose name ends with ``-<name_suffix>``."""
    found = [
        o
        for o in objects
        if o["kind"] == kind and o["metadata"]["name"].endswith(f"-{name_suffix}")
    ]
    assert len(found) == 1, f"{kind} *-{name_suffix}: {len(found)} found"
    return found[0]


def container_env(obj: dict[str, Any], index: int = 0) -> dict[str, dict[str, Any]]:
    """Environment of a workload's container, by name."""
    return {e["name"]: e for e in pod_spec(obj)["containers"][index].get("env", [])}


def _security_problems(
    where: str, container: dict[str, Any], pod_security: dict[str, Any]
) -> list[str]:
    problems: list[str] = []
    sc = container.get("securityContext") or {}
    capabilities = sc.get("capabilities") or {}

    def effective(key: str) -> Any:
        return sc.get(key, pod_security.get(key))

    checks = {
        "allowPrivilegeEscalation must be false": sc.get("allowPrivilegeEscalation") is False,
        "readOnlyRootFilesystem must be true": sc.get("readOnlyRootFilesystem") is True,
        "must not be privileged": not sc.get("privileged"),
        "capabilities.drop must be [ALL]": capabilities.get("drop") == ["ALL"],
        "must not add capabilities": not capabilities.get("add"),
        "runAsNonRoot must be true": effective("runAsNonRoot") is True,
        "must not run as UID 0": effective("runAsUser") != 0,
        "seccompProfile must be RuntimeDefault": (effective("seccompProfile") or {}).get("type")
        == "RuntimeDefault",
    }
    problems += [f"{where}: {what}" for what, ok in checks.items() if not ok]
    return problems


def _container_problems(
    where: str, container: dict[str, Any], pod_security: dict[str, Any], *, probes: bool
) -> list[str]:
    problems = _security_problems(where, container, pod_security)
    image = str(container.get("image", ""))
    name, _, tag = image.rpartition(":")
    if not name or not tag or "/" in tag or tag == "latest":
        problems.append(f"{where}: image {image!r} is not pinned to a tag other than latest")
    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        for key in ("cpu", "memory"):
            if not (resources.get(section) or {}).get(key):
                problems.append(f"{where}: resources.{section}.{key} missing")
    if probes:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if not container.get(probe):
                problems.append(f"{where}: {probe} missing")
    return problems


def hygiene_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Everything production hygiene asks of every workload, as readable problems."""
    problems: list[str] = []
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    for obj in workloads(objects):
        ref = f"{obj['kind']}/{obj['metadata']['name']}"
        for label in REQUIRED_LABELS:
            if label not in obj["metadata"].get("labels", {}):
                problems.append(f"{ref}: label {label} missing")
            if label not in pod_labels(obj):
                problems.append(f"{ref}: pod template label {label} missing")
        spec = pod_spec(obj)
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{ref}: automountServiceAccountToken must be false")
        account = spec.get("serviceAccountName", "default")
        if account not in accounts:
            problems.append(f"{ref}: ServiceAccount {account!r} is not one of the chart's")
        elif accounts[account].get("automountServiceAccountToken") is not False:
            problems.append(f"ServiceAccount/{account}: automountServiceAccountToken not false")
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append(f"{ref}: uses host namespaces")
        pod_security = spec.get("securityContext") or {}
        if pod_security.get("runAsNonRoot") is not True:
            problems.append(f"{ref}: pod securityContext.runAsNonRoot must be true")
        if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{ref}: pod seccompProfile must be RuntimeDefault")
        # Run-to-completion pods (Jobs) have no probes; long-running containers need all three.
        long_running = obj["kind"] not in {"Job", "CronJob"}
        for container in spec.get("containers", []):
            where = f"{ref} container {container['name']}"
            problems += _container_problems(where, container, pod_security, probes=long_running)
        for container in spec.get("initContainers", []):
            where = f"{ref} initContainer {container['name']}"
            problems += _container_problems(where, container, pod_security, probes=False)
    return problems


def memory_mib(quantity: str) -> float:
    units = {
        "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20,
    }  # fmt: skip
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / 2**20


def steady_memory_requests_mib(objects: list[dict[str, Any]]) -> dict[str, float]:
    """Memory requested by each long-running workload at its minimum scale (HPA minReplicas)."""
    hpa_min = {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"]["minReplicas"]
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    totals: dict[str, float] = {}
    for obj in workloads(objects):
        if obj["kind"] in {"Job", "CronJob"}:
            continue
        name = obj["metadata"]["name"]
        replicas = hpa_min.get(name, obj["spec"].get("replicas", 1))
        per_pod = sum(
            memory_mib(c["resources"]["requests"]["memory"]) for c in pod_spec(obj)["containers"]
        )
        totals[f"{obj['kind']}/{name}"] = per_pod * replicas
    return totals
