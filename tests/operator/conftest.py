"""Operator tests: the package lives in operator/ (not installed into the venv), so put that
directory on sys.path before any test module imports ``orderflow_operator``."""

from __future__ import annotations

import sys
from pathlib import Path

OPERATOR_DIR = Path(__file__).resolve().parents[2] / "operator"
if str(OPERATOR_DIR) not in sys.path:
    sys.path.insert(0, str(OPERATOR_DIR))


# --- The operator on the test bed --------------------------------------------------------------
# Everything below runs the operator for real: its CRDs and RBAC from the chart, a process of
# `python -m orderflow_operator` authenticated with a token of the chart's ServiceAccount (so
# the tests prove the least-privilege rules are enough), real dependency servers.

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

from orderflow.devservices import free_port  # noqa: E402
from tests.operator.otlp_receiver import OtlpReceiver  # noqa: E402
from tests.testbed.wait import wait_until  # noqa: E402

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

REPO = OPERATOR_DIR.parent
CHART = REPO / "charts" / "orderflow-operator"
RELEASE = "orderflow-operator"  # the chart's full name, hence the ServiceAccount's name
PEERING = "orderflow-operator"


@dataclass
class OperatorProcess:
    kubeconfig: Path
    namespace: str
    log_path: Path
    otlp_endpoint: str
    liveness_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(OPERATOR_DIR), os.environ.get("PYTHONPATH", "")]),
            "KUBECONFIG": str(self.kubeconfig),
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orderflow_operator",
                "--namespace",
                self.namespace,
                "--peering",
                PEERING,
                "--liveness-port",
                str(self.liveness_port),
                "--metrics-port",
                str(self.metrics_port),
            ],
            env=env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self._live, timeout=60, what=f"operator liveness endpoint\n{self.log()[-3000:]}")
        return self

    def _live(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"operator exited {self.process.returncode}:\n{self.log()[-5000:]}"
            )
        try:
            return httpx.get(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def checks_done(self, namespace: str, policy: str) -> float:
        """How many checks this process ran for a policy (its check-duration histogram)."""
        prefix = "orderflow_operator_dependency_check_duration_seconds_count{"
        for line in self.metrics().splitlines():
            if (
                line.startswith(prefix)
                and f'policy="{policy}"' in line
                and (f'namespace="{namespace}"' in line)
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@dataclass
class OperatorBed:
    cluster: K8sCluster
    ops_namespace: str
    app_namespace: str
    operator: OperatorProcess
    receiver: OtlpReceiver
    sa_kubeconfig: Path

    @property
    def service_account(self) -> str:
        return f"system:serviceaccount:{self.ops_namespace}:{RELEASE}"


def install_crds(cluster: K8sCluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/healthpolicies.orderflow.dev",
        "crd/kopfpeerings.kopf.dev",
    )


def _namespace(cluster: K8sCluster, name: str, restricted: bool) -> None:
    labels = (
        "  labels:\n    pod-security.kubernetes.io/enforce: restricted\n"
        "    pod-security.kubernetes.io/enforce-version: latest\n"
        if restricted
        else ""
    )
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n{labels}",
    )
    cluster.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")


def _token_kubeconfig(cluster: K8sCluster, namespace: str, path: Path) -> Path:
    token = cluster.kubectl(
        "create", "token", RELEASE, "-n", namespace, "--duration=2h"
    ).stdout.strip()
    admin = cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout
    config = json.loads(admin)
    config["users"] = [{"name": "operator", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "operator"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def operator_bed(
    k8s_cluster: K8sCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorBed]:
    suffix = uuid.uuid4().hex[:6]
    ops, app = f"op-system-{suffix}", f"op-apps-{suffix}"
    tmp = tmp_path_factory.mktemp("operator")
    install_crds(k8s_cluster)
    _namespace(k8s_cluster, ops, restricted=True)
    _namespace(k8s_cluster, app, restricted=False)
    rendered = k8s_cluster.helm(
        "template", RELEASE, str(CHART), "--namespace", ops, "--set", f"watch.namespaces={{{app}}}"
    ).stdout
    k8s_cluster.kubectl("apply", "-f", "-", input=rendered)  # every object names its namespace
    receiver = OtlpReceiver().start()
    operator = OperatorProcess(
        kubeconfig=_token_kubeconfig(k8s_cluster, ops, tmp / "operator.kubeconfig"),
        namespace=app,
        log_path=tmp / "operator.log",
        otlp_endpoint=receiver.endpoint,
    )
    operator.start()
    bed = OperatorBed(k8s_cluster, ops, app, operator, receiver, operator.kubeconfig)
    try:
        yield bed
    finally:
        # Policies first, while the operator runs: their finalizers would block the namespace.
        k8s_cluster.kubectl(
            "delete", "healthpolicies", "--all", "-n", app, "--timeout=60s", check=False
        )
        bed.operator.stop()
        receiver.stop()
        for ns in (app, ops):
            k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")
