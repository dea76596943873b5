"""Operator tests. The operator is its own package (operator/, a workspace member installed in
the dev venv), imported like any dependency.

The fixtures below run the operator for real: its CRDs and RBAC from the chart, a process of
``python -m orderflow_operator`` authenticated with a token of the chart's ServiceAccount (so the
tests prove the least-privilege rules are enough), real dependency servers."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from k8s.testbed.procs import Process, free_port, http_ok

from tests.operator.otlp_receiver import OtlpReceiver

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "orderflow-operator"
RELEASE = "orderflow-operator"  # the chart's full name, hence the ServiceAccount's name
PEERING = "orderflow-operator"


@dataclass
class OperatorProcess:
    kubeconfig: Path
    namespace: str
    log_path: Path
    otlp_endpoint: str
    verbose: bool = False  # --verbose: kopf and every library at DEBUG
    liveness_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: Process | None = None

    def start(self) -> OperatorProcess:
        env = {
            "KUBECONFIG": str(self.kubeconfig),
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        argv = [
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
            *(["--verbose"] if self.verbose else []),
        ]
        # Signals reach the operator alone, as the kubelet sends them to the container.
        self.process = Process(argv, self.log_path, env, own_session=False).start(
            http_ok(f"http://127.0.0.1:{self.liveness_port}/healthz"),
            timeout=60,
            error=AssertionError,
        )
        return self

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
        if self.process is not None:
            self.process.stop()
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
    k8s_cluster: K8sCluster,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[OperatorBed]:
    """A test module may set ``OPERATOR_VERBOSE = True`` to run the operator with --verbose."""
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
        verbose=bool(getattr(request.module, "OPERATOR_VERBOSE", False)),
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
        # The chart's admission policy is cluster-scoped (named after the namespace).
        k8s_cluster.kubectl(
            "delete", "validatingadmissionpolicy,validatingadmissionpolicybinding",
            f"{RELEASE}-{ops}", f"{RELEASE}-{ops}-pods", "--ignore-not-found",
        )  # fmt: skip
