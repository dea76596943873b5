"""Test bed acceptance: the control plane behaves like a real cluster."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.testbed.manifests import IMAGE, condition, pod

if TYPE_CHECKING:
    from tests.testbed.handle import K8sCluster

pytestmark = pytest.mark.k8s


def test_server_reports_pinned_version(k8s_cluster: K8sCluster) -> None:
    versions = json.loads(k8s_cluster.kubectl("version", "-o", "json").stdout)
    client, server = versions["clientVersion"], versions["serverVersion"]
    # Our kubectl is built with the version ldflags too (else it says v0.0.0).
    assert client["gitVersion"] == k8s_cluster.version
    major, minor = k8s_cluster.version.removeprefix("v").split(".")[:2]
    assert (client["major"], client["minor"]) == (major, minor)
    if k8s_cluster.kwok:
        assert server["gitVersion"] == k8s_cluster.version
        assert (server["major"], server["minor"]) == (major, minor)
    else:
        # Someone else's cluster (kind): any real release, never the unset v0.0.0.
        assert server["gitVersion"].startswith("v1.")


def test_deployment_scales_to_three_ready_pods(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    ns = k8s_namespace
    k8s_cluster.kubectl("create", "deployment", "web", f"--image={IMAGE}", "--replicas=1", "-n", ns)
    k8s_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    k8s_cluster.kubectl("scale", "deployment/web", "--replicas=3", "-n", ns)
    k8s_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")

    deployment = k8s_cluster.get("deployment/web", "-n", ns)
    assert deployment["status"]["readyReplicas"] == 3
    pods = k8s_cluster.get("pods", "-n", ns, "-l", "app=web")["items"]
    assert len(pods) == 3
    assert all(condition(p, "Ready") == "True" for p in pods)
    assert all(p["spec"].get("nodeName") for p in pods), "every pod was scheduled"
    if k8s_cluster.kwok:
        nodes = {n["metadata"]["name"]: n for n in k8s_cluster.get("nodes")["items"]}
        assert all(
            nodes[p["spec"]["nodeName"]]["metadata"]["labels"].get("type") == "kwok" for p in pods
        )
        assert all(p["status"].get("podIP") for p in pods)


def test_restricted_namespace_rejects_privileged_pod(
    k8s_cluster: K8sCluster, k8s_restricted_namespace: str
) -> None:
    ns = k8s_restricted_namespace
    bad = pod("bad", security={"privileged": True, "runAsUser": 0})
    rejected = k8s_cluster.kubectl("apply", "-n", ns, "-f", "-", input=bad, check=False)
    assert rejected.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in rejected.stderr
    assert "privileged" in rejected.stderr
    assert k8s_cluster.kubectl("get", "pod", "bad", "-n", ns, check=False).returncode != 0

    # Control: the same namespace admits a compliant pod, so the rejection above is the
    # policy at work and not a broken namespace.
    k8s_cluster.kubectl("apply", "-n", ns, "-f", "-", input=pod("good"))
    k8s_cluster.kubectl("wait", "pod/good", "-n", ns, "--for=condition=Ready", "--timeout=60s")


def test_unlabelled_namespace_admits_privileged_pod(
    k8s_cluster: K8sCluster, k8s_namespace: str
) -> None:
    # The other half of the PodSecurity claim: enforcement comes from the label.
    bad = pod("bad", security={"privileged": True, "runAsUser": 0})
    k8s_cluster.kubectl("apply", "-n", k8s_namespace, "-f", "-", input=bad)


def test_rbac_denies_what_was_not_granted(
    k8s_cluster: K8sCluster, k8s_namespace: str, tmp_path: Path
) -> None:
    ns = k8s_namespace
    who = f"system:serviceaccount:{ns}:reader"
    k8s_cluster.kubectl("create", "serviceaccount", "reader", "-n", ns)
    k8s_cluster.kubectl(
        "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", ns
    )
    k8s_cluster.kubectl(
        "create", "rolebinding", "reader", "--role=pod-reader", f"--serviceaccount={ns}:reader",
        "-n", ns,
    )  # fmt: skip

    def can_i(*args: str) -> str:
        out = k8s_cluster.kubectl("auth", "can-i", *args, f"--as={who}", "-n", ns, check=False)
        return out.stdout.strip()

    assert can_i("list", "pods") == "yes"
    assert can_i("list", "secrets") == "no"
    assert can_i("create", "deployments.apps") == "no"
    assert can_i("list", "pods", "--all-namespaces") == "no"

    # A real request authenticated by the service account's own token (not impersonation).
    token = k8s_cluster.kubectl("create", "token", "reader", "-n", ns, "--duration=10m").stdout
    raw = json.loads(
        k8s_cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout
    )
    cluster = raw["clusters"][0]["cluster"]
    ca = tmp_path / "ca.crt"
    if "certificate-authority-data" in cluster:  # kind embeds it
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        ca = Path(cluster["certificate-authority"])
    as_sa = [
        # An empty kubeconfig: the admin client certificate must not ride along.
        "--kubeconfig=/dev/null",
        f"--server={cluster['server']}",
        f"--certificate-authority={ca}",
        f"--token={token.strip()}",
    ]

    allowed = k8s_cluster.kubectl("get", "pods", "-n", ns, *as_sa, check=False)
    assert allowed.returncode == 0, allowed.stderr
    denied = k8s_cluster.kubectl("get", "secrets", "-n", ns, *as_sa, check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr or "forbidden" in denied.stderr
    assert f'User "{who}" cannot list resource "secrets"' in denied.stderr


def test_controllers_made_default_service_account(k8s_cluster: K8sCluster) -> None:
    sa = k8s_cluster.get("serviceaccount/default", "-n", "default")
    assert sa["metadata"]["name"] == "default"
    # A projected token is signed with the test bed's service-account key.
    token = k8s_cluster.kubectl("create", "token", "default", "-n", "default").stdout
    assert token.count(".") == 2
