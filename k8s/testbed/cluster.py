"""The test bed: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
with fake nodes, all from the project's pinned tool builds, state in one run directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8s.testbed import netsvc, realnode, registry
from k8s.testbed.nodes import KWOK_ANNOTATION, fake_node
from k8s.testbed.pki import ClientCert, Pki
from k8s.testbed.procs import Supervisor, free_port
from k8s.testbed.tools import bin_dir, ensure, kubernetes_version

STAGES = Path(__file__).with_name("kwok-stages.yaml")
SERVICE_CIDR = "10.96.0.0/16"
BINARIES = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
    "helm",
]

_CLIENTS = [
    ClientCert("admin", "orderflow-admin", ("system:masters",)),
    ClientCert("controller-manager", "system:kube-controller-manager"),
    ClientCert("scheduler", "system:kube-scheduler"),
    # kwok plays every kubelet at once (node status, leases, pod status and deletion):
    # node-scoped kubelet identities cannot do that, so it runs as an admin.
    ClientCert("kwok", "kwok-controller", ("system:masters",)),
    # The apiserver's identity towards kubelets (logs/exec on a real node).
    ClientCert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)),
]


def default_root() -> Path:
    env = os.environ.get("ORDERFLOW_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "orderflow"
    return base / "testbed"


def host_ip() -> str:
    """The host's primary address (no packet is sent); loopback when there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


@dataclass
class Config:
    name: str = "default"
    root: Path | None = None
    nodes: int = 3
    # Parent-death signal on every daemon: right for pytest, wrong for `make cluster`.
    tie_to_parent: bool = False
    timeout: float = 120.0
    # Stage 2: also run a real kubelet + containerd node (see realnode.py).
    real_node: bool = False
    # Taint the real node so only pods that ask for it land there (kwok suites share the
    # bed). Off for the end-to-end bed (k8s/e2e), where the chart runs with its shipped values
    # and the real node is the only node.
    real_node_taint: bool = True

    @property
    def run_dir(self) -> Path:
        return (self.root or default_root()) / self.name


class TestBed:
    __test__ = False  # not a pytest test class despite the name

    def __init__(self, config: Config) -> None:
        self.config = config
        self.run_dir = config.run_dir
        self.pki = Pki(self.run_dir / "pki")
        self.sup = Supervisor(self.run_dir)
        self.kubeconfig = self.run_dir / "kubeconfig"
        self.state_file = self.run_dir / "state.json"
        self.bins: dict[str, Path] = {}

    # ----------------------------------------------------------------- tools
    def ensure_tools(self) -> dict[str, Path]:
        self.bins = ensure(BINARIES + (realnode.BINARIES if self.config.real_node else []))
        return self.bins

    @property
    def version(self) -> str:
        return kubernetes_version()

    def env(self) -> dict[str, str]:
        bindir = str(bin_dir())
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
        }

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bins.get("kubectl") or ensure(["kubectl"])["kubectl"]), *args]
        proc = subprocess.run(
            cmd, env=self.env(), input=input, capture_output=True, text=True, check=False
        )
        if check and proc.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    # ----------------------------------------------------------------- lifecycle
    def running(self) -> bool:
        status = self.sup.status()
        return bool(status) and all(status.values()) and self.kubeconfig.exists()

    def start(self) -> None:
        if self.running():
            has_real = realnode.RealNode(self).dir.exists()
            if self.config.real_node and not has_real:
                raise RuntimeError(
                    f"testbed {self.config.name} runs without a real node: stop it first"
                )
            self.ensure_tools()
            return
        self.stop(remove=True)  # leftovers of a crashed run
        self.ensure_tools()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        ip = host_ip()
        clients = _CLIENTS + (realnode.client_certs() if self.config.real_node else [])
        self.pki.create(["127.0.0.1", ip, "10.96.0.1"], clients)
        if self.config.real_node:
            if ip == "127.0.0.1":
                raise RuntimeError("a real node needs a non-loopback host address")
            self.pki.server_cert(
                "kubelet-serving", realnode.NODE_NAME, [ip, "127.0.0.1"], [realnode.NODE_NAME]
            )
        ports = {
            n: free_port()
            for n in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler")
        }
        server = f"https://127.0.0.1:{ports['apiserver']}"
        for client in ("controller-manager", "scheduler", "kwok"):
            self.pki.kubeconfig(self.run_dir / f"{client}.kubeconfig", server, client)
        phases: dict[str, float] = {}

        def phase(name: str) -> None:
            phases[name] = round(time.monotonic() - started, 1)

        try:
            phase("pki")
            self._start_etcd(ports)
            phase("etcd")
            self._start_apiserver(ports, ip)
            phase("apiserver")
            # The user-facing kubeconfig is written only once the apiserver answers.
            self.pki.kubeconfig(self.kubeconfig, server, "admin")
            self._start_controllers(ports)
            self._create_nodes()
            self._start_kwok()
            self._wait_ready()
            phase("nodes+default-sa")
            if self.config.real_node:
                node = realnode.RealNode(self)
                node.start(ip, ports["apiserver"])
                self._wait(self._real_node_ready, "the real node to be Ready")
                phase("real-node")
                registry.start(self, node)
                phase("registry")
        except BaseException:
            self.stop(remove=False)  # keep logs for the post-mortem
            raise
        state = {"server": server, "ports": ports, "version": self.version, "phases": phases}
        self.state_file.write_text(json.dumps(state))
        # Cumulative seconds per phase: where a slow start went, without reading logs.
        steps = ", ".join(f"{k} {v}s" for k, v in phases.items())
        print(f"testbed: {self.config.name} ready ({steps})", file=sys.stderr)

    def stop(self, remove: bool = True) -> None:
        node = realnode.RealNode(self)
        if node.dir.exists():
            # Pods deleted through the kubelet first (clean CNI teardown), then the kubelet
            # (it would restart containers), then any container left, then containerd:
            # no container or shim may outlive the test bed.
            node.drain()
            self.sup.stop("kubelet")
            node.stop_workloads()
            self.sup.stop("containerd")
        self.sup.stop_all()
        if node.dir.exists():
            netsvc.cleanup_kube_proxy(node)
            netsvc.cleanup_kubelet_iptables()
            node.cleanup_host()
        if remove and self.run_dir.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # ----------------------------------------------------------------- daemons
    def _start_etcd(self, ports: dict[str, int]) -> None:
        client = f"http://127.0.0.1:{ports['etcd']}"
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        argv = [
            str(self.bins["etcd"]),
            "--name=testbed",
            f"--data-dir={self.run_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=testbed={peer}",
            # Throwaway data: durability costs seconds per test on slow disks.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        self.sup.start("etcd", argv, tie_to_parent=self.config.tie_to_parent)
        self._wait(lambda: http_ok(f"{client}/health"), "etcd /health")

    def _start_apiserver(self, ports: dict[str, int], ip: str) -> None:
        crt, key = self.pki.cert("apiserver")
        kcrt, kkey = self.pki.cert("apiserver-kubelet-client")
        argv = [
            str(self.bins["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            # All interfaces: a real kubelet (stage 2) joins over the host address.
            "--bind-address=0.0.0.0",
            f"--advertise-address={ip}",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={crt}",
            f"--tls-private-key-file={key}",
            f"--client-ca-file={self.pki.ca_crt}",
            f"--kubelet-client-certificate={kcrt}",
            f"--kubelet-client-key={kkey}",
            f"--kubelet-certificate-authority={self.pki.ca_crt}",
            # Node names do not resolve here; reach a (real) kubelet by its IP.
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--authorization-mode=Node,RBAC",
            # PodSecurity is on by default since 1.25; listed so nobody wonders.
            "--enable-admission-plugins=NodeRestriction,PodSecurity",
            f"--service-account-key-file={self.pki.sa_pub}",
            f"--service-account-signing-key-file={self.pki.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]
        if ip == "127.0.0.1":
            # The `kubernetes` Endpoints may not hold a loopback address.
            argv.append("--endpoint-reconciler-type=none")
        self.sup.start("kube-apiserver", argv, tie_to_parent=self.config.tie_to_parent)
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_crt))
        ctx.load_cert_chain(*map(str, self.pki.cert("admin")))
        url = f"https://127.0.0.1:{ports['apiserver']}/readyz"
        self._wait(lambda: http_ok(url, ctx), "kube-apiserver /readyz")

    def _start_controllers(self, ports: dict[str, int]) -> None:
        kc = str(self.run_dir / "controller-manager.kubeconfig")
        ca_crt, ca_key = self.pki.ca_crt, self.pki.ca_key
        self.sup.start(
            "kube-controller-manager",
            [
                str(self.bins["kube-controller-manager"]),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['controller-manager']}",
                f"--service-account-private-key-file={self.pki.sa_key}",
                f"--root-ca-file={ca_crt}",
                # Each controller acts as its own service account, as in a real cluster,
                # so RBAC problems show up here rather than in production.
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={ca_crt}",
                f"--cluster-signing-key-file={ca_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--leader-elect=false",
                "--v=1",
            ],
            tie_to_parent=self.config.tie_to_parent,
        )
        kc = str(self.run_dir / "scheduler.kubeconfig")
        self.sup.start(
            "kube-scheduler",
            [
                str(self.bins["kube-scheduler"]),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['scheduler']}",
                "--leader-elect=false",
                "--v=1",
            ],
            tie_to_parent=self.config.tie_to_parent,
        )

    def _create_nodes(self) -> None:
        items = [fake_node(f"kwok-node-{i}", i, self.version) for i in range(self.config.nodes)]
        if not items:
            return  # a bed whose only node is the real one (k8s/e2e)
        self.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
        )

    def _start_kwok(self) -> None:
        argv = [
            str(self.bins["kwok"]),
            f"--kubeconfig={self.run_dir / 'kwok.kubeconfig'}",
            f"--config={STAGES}",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.1/16",
            "--node-ip=10.250.0.1",
        ]
        self.sup.start("kwok", argv, tie_to_parent=self.config.tie_to_parent)

    def _wait_ready(self) -> None:
        def nodes_ready() -> bool:
            out = self.kubectl("get", "nodes", "-l", "type=kwok", "-o", "json", check=False)
            if out.returncode:
                return False
            nodes = json.loads(out.stdout)["items"]
            ready = [n for n in nodes if _condition(n, "Ready") == "True"]
            return len(ready) == self.config.nodes

        def default_sa() -> bool:
            # Pods cannot be created before the controller-manager made it.
            return (
                self.kubectl(
                    "get", "serviceaccount", "default", "-n", "default", check=False
                ).returncode
                == 0
            )

        self._wait(nodes_ready, f"{self.config.nodes} kwok nodes Ready")
        self._wait(default_sa, "the default ServiceAccount")

    def _real_node_ready(self) -> bool:
        return _real_node_ready_impl(self)

    def _wait(self, check: Any, what: str) -> None:
        deadline = time.monotonic() + self.config.timeout
        while time.monotonic() < deadline:
            dead = [n for n, alive in self.sup.status().items() if not alive]
            if dead:
                raise RuntimeError(
                    f"testbed: {', '.join(dead)} exited; see {self.sup.log_dir}/{dead[0]}.log"
                )
            if check():
                return
            time.sleep(0.25)
        raise TimeoutError(f"testbed: timed out waiting for {what}; logs in {self.sup.log_dir}")


def _real_node_ready_impl(bed: TestBed) -> bool:
    out = bed.kubectl("get", "node", realnode.NODE_NAME, "-o", "json", check=False)
    return out.returncode == 0 and _condition(json.loads(out.stdout), "Ready") == "True"


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        # The URL is always our own http(s) endpoint, never user input.
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False
