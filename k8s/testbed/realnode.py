"""Stage 2: one real node — containerd + runc + CNI bridge from Debian, and the pinned
kubelet — joining the test bed, running containers from locally built images.

Host requirements (root): ``apt-get install containerd runc containernetworking-plugins
debootstrap iptables`` and gcc (for the pause image). The containerd instance is private to
the run (own root, state and socket), so it never touches a Docker engine's containerd.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from k8s.testbed import netsvc
from k8s.testbed.image import PAUSE_IMAGE, build_images
from k8s.testbed.pki import ClientCert
from k8s.testbed.procs import free_port

if TYPE_CHECKING:
    from k8s.testbed.cluster import TestBed

NODE_NAME = "real-node"
TAINT = "orderflow.dev/real-node"
POD_CIDR = "10.88.0.0/16"
BRIDGE = "orderflow0"
FORWARD_COMMENT = "orderflow test bed pods"
CNI_BIN = "/usr/lib/cni"
# crane: the local image registry of a bed with a real node (registry.py).
BINARIES = ["kubelet", "kube-proxy", "coredns", "crane"]
# Installed by `make realnode-deps` (mk/testbed.mk), which `make test` and `make e2e-up` run.
HOST_PACKAGES = ["containerd", "runc", "containernetworking-plugins", "debootstrap", "iptables"]


def client_certs() -> list[ClientCert]:
    return [
        # The Node authorizer and NodeRestriction key off exactly this identity.
        ClientCert("kubelet-client", f"system:node:{NODE_NAME}", ("system:nodes",)),
        # Bound to ClusterRole system:node-proxier by the default RBAC policy.
        ClientCert("kube-proxy", "system:kube-proxy"),
        # CoreDNS needs list/watch on Services, EndpointSlices, Namespaces, Pods: admin on
        # a throwaway test bed rather than a hand-written ClusterRole.
        ClientCert("coredns", "orderflow-coredns", ("system:masters",)),
    ]


class RealNode:
    def __init__(self, bed: TestBed) -> None:
        self.bed = bed
        self.dir = bed.run_dir / "realnode"
        # containerd's state dir and sockets must be short paths on a real tmpfs.
        self.state = Path("/run/orderflow") / bed.config.name
        self.socket = self.state / "containerd.sock"
        # containerd's per-registry hosts.toml files (registry.py writes the bed's own).
        self.registry_config_dir = self.dir / "certs.d"
        self._netns: set[str] = set()

    def check_host(self) -> None:
        missing = [
            p
            for p in ("/usr/bin/containerd", "/usr/sbin/runc", f"{CNI_BIN}/bridge")
            if not Path(p).exists()
        ]
        if missing:
            raise RuntimeError(f"real node needs {missing}: run `make realnode-deps` (as root)")

    # ----------------------------------------------------------------- start
    def start(self, server_ip: str, apiserver_port: int) -> None:
        self.check_host()
        images = build_images()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        self._write_cni()
        self._allow_forwarding()
        self._start_containerd()
        for archive in images.values():
            self.ctr("images", "import", str(archive))  # unpacks for the CRI snapshotter
        self._start_kubelet(server_ip, apiserver_port)
        server = f"https://{server_ip}:{apiserver_port}"
        netsvc.start_coredns(self, server, server_ip)
        netsvc.start_kube_proxy(self, server, NODE_NAME, POD_CIDR)

    def load_docker_images(self, refs: list[str]) -> None:
        """Copy images from the local Docker engine into this node's containerd (what
        `kind load docker-image` does for kind): `docker save | ctr images import`."""
        if not self.socket.exists():
            raise RuntimeError(f"testbed {self.bed.config.name} has no real node")
        save = subprocess.Popen(["docker", "save", *refs], stdout=subprocess.PIPE)
        cmd = ["ctr", "--address", str(self.socket), "--namespace", "k8s.io"]
        imported = subprocess.run(
            [*cmd, "images", "import", "--all-platforms", "-"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        if save.stdout:
            save.stdout.close()
        if save.wait() or imported.returncode:
            raise RuntimeError(f"loading {refs} failed: {imported.stderr}")

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=True,
        )

    def _write_cni(self) -> None:
        conf_dir = self.dir / "cni"
        conf_dir.mkdir(exist_ok=True)
        conf = {
            "cniVersion": "1.0.0",
            "name": "orderflow",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.dir / "cni-ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (conf_dir / "10-orderflow.conflist").write_text(json.dumps(conf, indent=1))

    def _allow_forwarding(self) -> None:
        """Let traffic from and to the pod bridge through the host's FORWARD chain. With
        bridge-nf-call-iptables on, even pod-to-pod packets on the bridge traverse it, and a
        Docker engine on the same host sets its policy to DROP: pods then reach the host
        but not each other, and every ClusterIP to a pod times out."""
        for rule in _forward_rules():
            if not _ok(["iptables", "-C", "FORWARD", *rule]):
                subprocess.run(["iptables", "-I", "FORWARD", "1", *rule], check=True)

    def _start_containerd(self) -> None:
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{self.dir / "containerd"}"
state = "{self.state / "containerd"}"
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # This host withholds CAP_SYS_RESOURCE: lowering oom_score_adj (pause gets -998) fails
  # with EACCES in runc ("can't get final child's PID from pipe"). Clamp instead.
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{self.state / "runc"}"
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.dir / "cni"}"
  [{cri}.registry]
    config_path = "{self.registry_config_dir}"
"""
        path = self.dir / "containerd.toml"
        path.write_text(config)
        self.bed.sup.start(
            "containerd",
            ["/usr/bin/containerd", "--config", str(path)],
            tie_to_parent=self.bed.config.tie_to_parent,
        )
        self.bed._wait(
            lambda: self.socket.exists() and _ok(["ctr", "--address", str(self.socket), "version"]),
            "containerd",
        )

    def _start_kubelet(self, server_ip: str, apiserver_port: int) -> None:
        pki = self.bed.pki
        server = f"https://{server_ip}:{apiserver_port}"
        kubeconfig = pki.kubeconfig(self.dir / "kubelet.kubeconfig", server, "kubelet-client")
        crt, key = pki.cert("kubelet-serving")
        port, healthz = free_port(), free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki.ca_crt)},
            },
            "authorization": {"mode": "Webhook"},
            "address": server_ip,
            "port": port,
            "readOnlyPort": 0,
            "healthzPort": healthz,
            "healthzBindAddress": "127.0.0.1",
            "tlsCertFile": str(crt),
            "tlsPrivateKeyFile": str(key),
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "cgroupDriver": "cgroupfs",
            # This host has cgroup v1 (hybrid); 1.35+ refuses it unless told otherwise.
            "failCgroupV1": False,
            # QoS cgroups (kubepods/burstable/besteffort) on: kubelet 1.36 with them off panics
            # (nil pointer in doPodResizeAction) as soon as a pod with an init container and
            # resources starts, and the in-place resize gate behind it cannot be turned off.
            # Node-allocatable enforcement stays off: the host's cgroups are not ours to cap.
            "cgroupsPerQOS": True,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            # Same missing capability: the kubelet cannot give itself the default -999.
            "oomScoreAdj": 0,
            "clusterDomain": "cluster.local",
            # CoreDNS of this run listens on the node address (netsvc.py).
            "clusterDNS": [server_ip],
            "podCIDR": POD_CIDR,
            "resolvConf": "/etc/resolv.conf",
            "registerWithTaints": (
                [{"key": TAINT, "value": "true", "effect": "NoSchedule"}]
                if self.bed.config.real_node_taint
                else []
            ),
            # A shared CI disk is often >85% full: don't evict the one test pod for it.
            "evictionHard": {
                "memory.available": "50Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
        }
        config_path = self.dir / "kubelet-config.json"
        config_path.write_text(json.dumps(config, indent=1))
        argv = [
            str(self.bed.bins["kubelet"]),
            f"--config={config_path}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={self.dir / 'kubelet'}",
            f"--cert-dir={self.dir / 'kubelet-pki'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={server_ip}",
            "--node-labels=type=real,orderflow.dev/real-node=true",
            "--v=2",
        ]
        self.bed.sup.start("kubelet", argv, tie_to_parent=self.bed.config.tie_to_parent)

    # ----------------------------------------------------------------- stop
    def drain(self) -> None:
        """While kubelet and apiserver still run: delete the node's pods so the kubelet
        stops their sandboxes through the CRI (which runs CNI DEL: no netns, veth or
        iptables rule is left behind)."""
        if not (self.bed.sup.alive("kubelet") and self.bed.sup.alive("kube-apiserver")):
            return
        self.bed.kubectl(
            "delete", "pods", "--all-namespaces", f"--field-selector=spec.nodeName={NODE_NAME}",
            "--grace-period=1", "--wait=false", check=False,
        )  # fmt: skip
        # Sandboxes stop one by one (CNI DEL each); a full release on two cores takes a while.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and self._ctr_lines("tasks", "ls", "-q"):
            time.sleep(0.5)

    def stop_workloads(self) -> None:
        """After the kubelet stopped: kill whatever still runs, so no container or shim
        outlives the test bed."""
        if not self.socket.exists():
            return
        for task in self._ctr_lines("tasks", "ls", "-q"):
            self._ctr_quiet("tasks", "kill", "-s", "SIGKILL", task)
        time.sleep(0.5)
        for task in self._ctr_lines("tasks", "ls", "-q"):
            self._ctr_quiet("tasks", "delete", "-f", task)
        for container in self._ctr_lines("containers", "ls", "-q"):
            self._netns.update(self._netns_of(container))
            self._ctr_quiet("containers", "delete", container)

    def _netns_of(self, container: str) -> list[str]:
        # containerd 1.6 tears the pod network down (CNI DEL) when a sandbox stops but
        # only removes its netns file on RemovePodSandbox, which a stopped kubelet never
        # sends: remember the paths and remove them in cleanup_host.
        cmd = ["ctr", "--address", str(self.socket), "--namespace", "k8s.io"]
        out = subprocess.run(
            [*cmd, "containers", "info", container], capture_output=True, text=True, check=False
        )
        if out.returncode:
            return []
        spec = json.loads(out.stdout).get("Spec") or {}
        namespaces = (spec.get("linux") or {}).get("namespaces") or []
        return [n["path"] for n in namespaces if n.get("type") == "network" and n.get("path")]

    def _ctr_lines(self, *args: str) -> list[str]:
        cmd = ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return out.stdout.split()

    def _ctr_quiet(self, *args: str) -> None:
        cmd = ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args]
        subprocess.run(cmd, capture_output=True, check=False)

    def cleanup_host(self) -> None:
        """After the daemons stopped: mounts, the bridge, the state dir."""
        for root in (self.dir, self.state):
            for mount in sorted(_mounts_under(root), key=len, reverse=True):
                subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        for netns in sorted(self._netns):
            if netns.startswith("/var/run/netns/") or netns.startswith("/run/netns/"):
                subprocess.run(
                    ["ip", "netns", "delete", Path(netns).name], capture_output=True, check=False
                )
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
        _remove_cni_nat_leftovers()
        for rule in _forward_rules():
            while _ok(["iptables", "-D", "FORWARD", *rule]):
                pass
        subprocess.run(["rm", "-rf", str(self.state)], check=False)


def _forward_rules() -> list[list[str]]:
    """FORWARD rules accepting the pod bridge's traffic, both directions (see
    ``RealNode._allow_forwarding``)."""
    comment = ["-m", "comment", "--comment", FORWARD_COMMENT]
    return [[direction, BRIDGE, *comment, "-j", "ACCEPT"] for direction in ("-i", "-o")]


def _remove_cni_nat_leftovers() -> None:
    """The bridge plugin's per-pod masquerade chains (``CNI-<hash>``, jumped to from
    POSTROUTING with a comment naming our network) are removed by CNI DEL; a sandbox that was
    killed instead of stopped (a drain cut short) never gets one. Remove what is ours."""
    listing = subprocess.run(
        ["iptables", "-t", "nat", "-S", "POSTROUTING"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        if 'name: \\"orderflow\\"' not in line:  # the comment the bridge plugin writes
            continue
        rule = shlex.split(line)
        chain = rule[-1]
        subprocess.run(["iptables", "-t", "nat", "-D", *rule[1:]], capture_output=True, check=False)
        if chain.startswith("CNI-"):
            subprocess.run(["iptables", "-t", "nat", "-F", chain], capture_output=True, check=False)
            subprocess.run(["iptables", "-t", "nat", "-X", chain], capture_output=True, check=False)


def _ok(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root)
    found = []
    for line in Path("/proc/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target == prefix or target.startswith(prefix + "/"):
            found.append(target)
    return found
