"""Stage 2: a real kubelet (pinned build) + containerd node runs a container from a locally
built image (debootstrap base). Runs with `make test-k8s REAL_NODE=1` (or
`--k8s-real-node`); without it they are deselected."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from k8s.testbed.image import BASE_IMAGE
from k8s.testbed.realnode import NODE_NAME, TAINT

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

# Selected only with `--k8s-real-node` (make test-k8s REAL_NODE=1): it needs root, containerd
# and the optional kubelet/kube-proxy/CoreDNS builds. Without the option these tests are
# deselected at collection (tests/testbed/plugin.py), never silently skipped.
pytestmark = [pytest.mark.k8s, pytest.mark.real_node]

SCRIPT = 'echo "hello from $(cat /etc/debian_version)"; exec sleep 3600'


def test_real_node_runs_local_image(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    assert k8s_cluster.real_node, "the test bed was started without its real node"
    ns = k8s_namespace
    node = k8s_cluster.get(f"node/{NODE_NAME}")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == k8s_cluster.version
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")

    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: hello}}
spec:
  nodeSelector: {{type: real}}
  tolerations: [{{key: {TAINT}, operator: Exists, effect: NoSchedule}}]
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BASE_IMAGE}
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", {SCRIPT!r}]
"""
    k8s_cluster.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    k8s_cluster.kubectl("wait", "pod/hello", "-n", ns, "--for=condition=Ready", "--timeout=90s")

    pod = k8s_cluster.get("pod/hello", "-n", ns)
    assert pod["spec"]["nodeName"] == NODE_NAME
    assert pod["status"]["podIP"].startswith("10.88."), "IP from the CNI bridge, not kwok"
    # Logs and exec go apiserver -> kubelet (client cert, kubelet serving cert from our CA).
    logs = k8s_cluster.kubectl("logs", "hello", "-n", ns).stdout
    assert logs.startswith("hello from 12."), logs
    out = k8s_cluster.kubectl("exec", "hello", "-n", ns, "--", "cat", "/etc/os-release").stdout
    assert "bookworm" in out


def test_real_node_has_cluster_dns_and_service_routing(
    k8s_cluster: K8sCluster, k8s_namespace: str
) -> None:
    assert k8s_cluster.real_node, "the test bed was started without its real node"
    ns = k8s_namespace
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  nodeSelector: {{type: real}}
  tolerations: [{{key: {TAINT}, operator: Exists, effect: NoSchedule}}]
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BASE_IMAGE}
    imagePullPolicy: Never
    command: ["sleep", "3600"]
"""
    k8s_cluster.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    k8s_cluster.kubectl("wait", "pod/client", "-n", ns, "--for=condition=Ready", "--timeout=90s")

    def in_pod(script: str) -> str:
        return k8s_cluster.kubectl("exec", "client", "-n", ns, "--", "bash", "-c", script).stdout

    # CoreDNS answers for the cluster domain with the Service's ClusterIP ...
    resolved = in_pod("getent hosts kubernetes.default.svc.cluster.local")
    cluster_ip = k8s_cluster.get("service/kubernetes", "-n", "default")["spec"]["clusterIP"]
    assert resolved.split()[0] == cluster_ip
    # ... the pod's search path makes short names work, as in any cluster ...
    assert in_pod("getent hosts kubernetes.default").split()[0] == cluster_ip
    # ... and kube-proxy routes the ClusterIP to the apiserver (a TCP connect through DNAT).
    out = in_pod(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{cluster_ip}/443' && echo connected")
    assert out.strip() == "connected"
