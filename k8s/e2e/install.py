"""``make e2e-up`` / ``make e2e-down``: the test bed with its real node as the only node, every
image built and loaded, the operator chart and then the app chart installed with
``helm install --wait``, left running for ``kubectl`` and the ``tests/e2e`` suite.

What differs from a user's install, and why (everything else is the shipped values):
- images: built here and loaded into the node (no registry), so repository/tag/pullPolicy;
- LGTM off, the Collector exporting to a host sink instead (``sink.py``): LGTM cannot run here;
- the built-in stand-in email provider on (``app.email.builtinSink``): the shipped values name
  no provider, and the traced order must reach an email call;
- PersistentVolumes are pre-created on the node (``hostPath``), because the test bed has no
  storage provisioner; the chart's PVC binds to one as it would to a provisioned volume.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from k8s.e2e import images as image_builds
from k8s.e2e import otel_agent, otel_operator, sink
from k8s.testbed.cluster import Config, TestBed, host_ip
from k8s.testbed.realnode import NODE_NAME, RealNode
from k8s.testbed.tools import ensure

ROOT = Path(__file__).resolve().parents[2]
APP_CHART = ROOT / "charts" / "orderflow"
OPERATOR_CHART = ROOT / "charts" / "orderflow-operator"
BED_NAME = "e2e"
NAMESPACE = "orderflow"
OPERATOR_NAMESPACE = "orderflow-system"
RELEASE = "orderflow"
OPERATOR_RELEASE = "orderflow-operator"
# One per PostgreSQL install of the suite (Retain: a released volume is not bound again): the
# main release, the OTel Operator scenario's, and two for the upgrade story.
VOLUMES = 5
VOLUME_SIZE = "5Gi"
HELM_TIMEOUT = "10m"


def _log(message: str) -> None:
    print(f"e2e: {message}", file=sys.stderr, flush=True)


def bed() -> TestBed:
    return TestBed(Config(name=BED_NAME, nodes=0, real_node=True, real_node_taint=False))


@dataclass
class Install:
    """The running end-to-end install (what the tests get)."""

    bed: TestBed
    namespace: str = NAMESPACE
    release: str = RELEASE
    # Seconds `up()` took (reported by the tests; 0 when not measured).
    setup_seconds: float = 0.0

    @property
    def kubeconfig(self) -> Path:
        return self.bed.kubeconfig

    @property
    def values_file(self) -> Path:
        return self.bed.run_dir / "e2e-values.yaml"

    @property
    def operator_values_file(self) -> Path:
        return self.bed.run_dir / "e2e-operator-values.yaml"

    def env(self) -> dict[str, str]:
        return self.bed.env()

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(ensure(["helm"])["helm"]), *args]
        proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, check=False)
        if check and proc.returncode:
            raise RuntimeError(f"helm {' '.join(args[:2])} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.bed.kubectl(*args, check=check, input=input)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def install_app(self, chart: Path = APP_CHART, *extra: str) -> float:
        """``helm upgrade --install --wait`` of the app chart; returns the seconds it took."""
        started = time.monotonic()
        self.helm(
            "upgrade", "--install", self.release, str(chart), "-n", self.namespace,
            "-f", str(self.values_file), "--wait", "--timeout", HELM_TIMEOUT, *extra,
        )  # fmt: skip
        return time.monotonic() - started


def _images_values(built: list[image_builds.Image]) -> tuple[dict[str, Any], dict[str, Any]]:
    app: dict[str, Any] = {}
    operator: dict[str, Any] = {}
    for image in built:
        target = operator if image.repository == "orderflow-operator" else app
        node = target
        for key in image.values_key.split("."):
            node = node.setdefault(key, {})
        node.update(repository=image.repository, tag=image.tag, pullPolicy="Never")
    return app, operator


def _load_images(node: RealNode, built: list[image_builds.Image]) -> None:
    present = set(node.ctr("images", "ls", "-q").stdout.split())

    def normalised(ref: str) -> str:
        return ref if "/" in ref.split(":", maxsplit=1)[0] else f"docker.io/library/{ref}"

    missing = [i.ref for i in built if normalised(i.ref) not in present]
    if missing:
        _log(f"loading {len(missing)} image(s) into the real node")
        node.load_docker_images(missing)


def _volumes(bed: TestBed) -> None:
    """hostPath PersistentVolumes on the real node, for the chart's PVCs to bind."""
    items = []
    for index in range(VOLUMES):
        path = bed.run_dir / "volumes" / f"pv-{index}"
        path.mkdir(parents=True, exist_ok=True)
        # Any UID may own the data (the pod's fsGroup does not apply to hostPath).
        path.chmod(0o777)
        items.append({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"e2e-pv-{index}", "labels": {"orderflow.dev/e2e": "true"}},
            "spec": {
                "capacity": {"storage": VOLUME_SIZE},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(path), "type": "Directory"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]},
                ]}]}},
            },
        })  # fmt: skip
    bed.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )


def restricted_namespace(bed: TestBed, name: str) -> None:
    bed.kubectl("create", "namespace", name, check=False)
    bed.kubectl(
        "label", "namespace", name, "--overwrite",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )  # fmt: skip


def otel_operator_values(testbed: TestBed) -> dict[str, Any]:
    """The OpenTelemetry Operator running on the bed (``otel_operator.py``) and its Python agent
    image on the node (``otel_agent.py``); returns the app chart's ``otelOperator`` values."""
    agent = otel_agent.build()
    _load_images(RealNode(testbed), [agent])
    otel_operator.start(testbed)
    values: dict[str, Any] = _images_values([agent])[0]["otelOperator"]
    return {**values, "enabled": True}


def up(with_otel_operator: bool = False) -> Install:
    """Idempotent: builds what is missing, starts what is not running, upgrades in place.
    ``with_otel_operator``: the API and worker instrumented by the OpenTelemetry Operator's
    injection (``make e2e-up OTEL_OPERATOR=1``) instead of the SDK set up by the app."""
    started = time.monotonic()
    testbed = bed()
    testbed.ensure_tools()
    built = image_builds.build_all()
    _log(f"images ready after {time.monotonic() - started:.0f}s")
    testbed.start()
    install = Install(testbed)
    _load_images(RealNode(testbed), built)
    _volumes(testbed)
    endpoint = sink.start(testbed, host_ip())
    app_values, operator_values = _images_values(built)
    app_values.update(
        lgtm={"enabled": False},
        app={"email": {"builtinSink": True}},
        externalLgtm={"otlpEndpoint": endpoint, "insecure": True},
    )
    if with_otel_operator:
        _log("starting the OpenTelemetry Operator (its webhook admits the app's pods)")
        app_values["otelOperator"] = otel_operator_values(testbed)
    operator_values["watch"] = {"namespaces": [NAMESPACE]}
    install.values_file.write_text(yaml.safe_dump(app_values, sort_keys=True))
    install.operator_values_file.write_text(yaml.safe_dump(operator_values, sort_keys=True))
    restricted_namespace(testbed, OPERATOR_NAMESPACE)
    restricted_namespace(testbed, NAMESPACE)
    _log("installing the operator chart (it serves the HealthPolicy CRD the app chart uses)")
    install.helm(
        "upgrade", "--install", OPERATOR_RELEASE, str(OPERATOR_CHART), "-n", OPERATOR_NAMESPACE,
        "-f", str(install.operator_values_file), "--wait", "--timeout", HELM_TIMEOUT,
    )  # fmt: skip
    _log("installing the app chart: helm upgrade --install --wait")
    seconds = install.install_app()
    _log(f"app chart Ready in {seconds:.0f}s; whole e2e-up {time.monotonic() - started:.0f}s")
    return install


def down() -> None:
    """Stop everything of the end-to-end bed and delete its run directory (volumes too)."""
    bed().stop(remove=True)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args in (["up"], ["up", "--otel-operator"]):
        install = up(with_otel_operator="--otel-operator" in args)
        print(f"KUBECONFIG={install.kubeconfig}")
        print(f"NAMESPACE={install.namespace}")
        return 0
    if args == ["down"]:
        down()
        _log("stopped; nothing of the end-to-end bed is left running")
        return 0
    print("usage: python -m k8s.e2e up [--otel-operator] | down", file=sys.stderr)
    return 2
