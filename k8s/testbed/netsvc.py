"""Cluster networking for the real node: kube-proxy (Service IPs) and CoreDNS (names).

Both run as host processes of the run (like a kubelet's static pods would, minus the
images). CoreDNS listens on the node's address, which the kubelet hands to pods as their
DNS server; kube-proxy programs the host's iptables for Services and removes its rules
again on teardown (``kube-proxy --cleanup``).
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from k8s.testbed.procs import free_port
from k8s.testbed.tools import ensure

if TYPE_CHECKING:
    from k8s.testbed.realnode import RealNode


def start_kube_proxy(node: RealNode, server: str, node_name: str, pod_cidr: str) -> None:
    bed = node.bed
    kubeconfig = bed.pki.kubeconfig(node.dir / "kube-proxy.kubeconfig", server, "kube-proxy")
    argv = [
        str(bed.bins["kube-proxy"]),
        f"--kubeconfig={kubeconfig}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={pod_cidr}",
        f"--hostname-override={node_name}",
        f"--healthz-bind-address=127.0.0.1:{free_port()}",
        f"--metrics-bind-address=127.0.0.1:{free_port()}",
        # Leave the host's conntrack table and sysctls alone (0 = as is): shared machine.
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
        # Would set route_localnet on the host; NodePorts on 127.0.0.1 are not needed.
        "--iptables-localhost-nodeports=false",
        "--v=2",
    ]
    bed.sup.start("kube-proxy", argv, tie_to_parent=bed.config.tie_to_parent)


def cleanup_kube_proxy(node: RealNode) -> None:
    """Remove every KUBE-* chain and jump kube-proxy installed (after it stopped)."""
    if not (node.dir / "kube-proxy.kubeconfig").exists():
        return  # never ran
    binary = ensure(["kube-proxy"])["kube-proxy"]  # built already, since it ran
    subprocess.run([str(binary), "--cleanup"], capture_output=True, check=False)


def start_coredns(node: RealNode, server: str, listen_ip: str) -> None:
    bed = node.bed
    kubeconfig = bed.pki.kubeconfig(node.dir / "coredns.kubeconfig", server, "coredns")
    corefile = node.dir / "Corefile"
    corefile.write_text(
        f"""cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {listen_ip}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} orderflow-testbed
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
.:53 {{
    bind {listen_ip}
    errors
    forward . /etc/resolv.conf
    cache 30
}}
"""
    )
    argv = [str(bed.bins["coredns"]), "-conf", str(corefile)]
    bed.sup.start("coredns", argv, tie_to_parent=bed.config.tie_to_parent)


def cleanup_kubelet_iptables() -> None:
    """Remove the chains every kubelet creates on start and never removes (KUBE-FIREWALL,
    its INPUT/OUTPUT jumps, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT): leave the host's
    firewall as we found it. Only ever one real node per machine, so nobody else's."""
    for ipt in ("iptables", "ip6tables"):

        def run(*args: str, ipt: str = ipt) -> bool:
            return subprocess.run([ipt, *args], capture_output=True, check=False).returncode == 0

        for chain in ("INPUT", "OUTPUT"):
            while run("-t", "filter", "-D", chain, "-j", "KUBE-FIREWALL"):
                pass
        for table, chain in (
            ("filter", "KUBE-FIREWALL"),
            ("filter", "KUBE-KUBELET-CANARY"),
            ("nat", "KUBE-KUBELET-CANARY"),
            ("mangle", "KUBE-KUBELET-CANARY"),
            ("mangle", "KUBE-IPTABLES-HINT"),
        ):
            if run("-t", table, "-F", chain):
                run("-t", table, "-X", chain)
