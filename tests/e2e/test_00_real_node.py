"""The test bed's real node itself: a real kubelet (pinned build) + containerd runs containers
from locally built images, pods with init containers, restartable sidecars and resources (which
crashed kubelet 1.36 without QoS cgroups), and gives pods cluster DNS and Service routing."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest
from k8s.testbed.image import BASE_IMAGE
from k8s.testbed.realnode import NODE_NAME, TAINT

from tests.testbed.handle import K8sCluster

if TYPE_CHECKING:
    from collections.abc import Iterator

    from k8s.e2e.install import Install


@pytest.fixture
def k8s_cluster(e2e_install: Install) -> K8sCluster:
    """The end-to-end bed seen through the handle the other Kubernetes suites use."""
    return K8sCluster(
        kubeconfig=e2e_install.kubeconfig, version=e2e_install.bed.version, kwok=True,
        real_node=True,
    )  # fmt: skip


@pytest.fixture
def k8s_namespace(k8s_cluster: K8sCluster) -> Iterator[str]:
    name = f"t-realnode-{uuid.uuid4().hex[:6]}"
    k8s_cluster.kubectl("create", "namespace", name)
    k8s_cluster.kubectl(
        "wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s"
    )
    yield name
    k8s_cluster.kubectl("delete", "namespace", name, "--wait=false")


SCRIPT = 'echo "hello from $(cat /etc/debian_version)"; exec sleep 3600'


def _run_pod(cluster: K8sCluster, ns: str, name: str, command: list[str]) -> None:
    """One container of the local base image on the real node, Ready."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"type": "real"},
            "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": BASE_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": command,
                }
            ],
        },
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    cluster.kubectl("wait", f"pod/{name}", "-n", ns, "--for=condition=Ready", "--timeout=90s")


def test_real_node_runs_local_image(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    assert k8s_cluster.real_node, "the test bed was started without its real node"
    ns = k8s_namespace
    node = k8s_cluster.get(f"node/{NODE_NAME}")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == k8s_cluster.version
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")

    _run_pod(k8s_cluster, ns, "hello", ["/bin/sh", "-c", SCRIPT])

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
    _run_pod(k8s_cluster, ns, "client", ["sleep", "3600"])

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


def test_pod_with_init_container_sidecar_and_resources_runs_and_the_kubelet_survives(
    k8s_cluster: K8sCluster, k8s_namespace: str
) -> None:
    """The shape of the API pods (init container), of OTel Operator injection (init container)
    and of most charts (resources): kubelet 1.36 without QoS cgroups panicked in
    doPodResizeAction on exactly this and left the node NotReady."""
    ns = k8s_namespace
    resources = {
        "requests": {"cpu": "10m", "memory": "16Mi"},
        "limits": {"cpu": "200m", "memory": "64Mi"},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "shaped"},
        "spec": {
            "nodeSelector": {"type": "real"},
            "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 1,
            "initContainers": [
                {"name": "setup", "image": BASE_IMAGE, "imagePullPolicy": "Never",
                 "command": ["sh", "-c", "echo prepared > /work/ready"], "resources": resources,
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
                # A restartable init container: a native sidecar.
                {"name": "sidecar", "image": BASE_IMAGE, "imagePullPolicy": "Never",
                 "restartPolicy": "Always", "command": ["sleep", "3600"], "resources": resources},
            ],
            "containers": [
                {"name": "main", "image": BASE_IMAGE, "imagePullPolicy": "Never",
                 "command": ["sh", "-c", "cat /work/ready; exec sleep 3600"],
                 "resources": resources,
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
            ],
            "volumes": [{"name": "work", "emptyDir": {}}],
        },
    }  # fmt: skip
    k8s_cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    k8s_cluster.kubectl("wait", "pod/shaped", "-n", ns, "--for=condition=Ready", "--timeout=120s")
    status = k8s_cluster.get("pod/shaped", "-n", ns)["status"]
    inits = {s["name"]: s for s in status["initContainerStatuses"]}
    assert inits["setup"]["state"]["terminated"]["exitCode"] == 0
    assert inits["sidecar"]["started"] is True and "running" in inits["sidecar"]["state"]
    assert status["qosClass"] == "Burstable"
    assert (
        k8s_cluster.kubectl("logs", "shaped", "-c", "main", "-n", ns).stdout.strip() == "prepared"
    )
    node = k8s_cluster.get(f"node/{NODE_NAME}")
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True", "the kubelet survived"
