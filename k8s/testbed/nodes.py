"""The kwok-managed fake nodes of the test bed."""

from __future__ import annotations

from typing import Any

# kwok manages (and only manages) nodes carrying this annotation.
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def fake_node(name: str, index: int, version: str) -> dict[str, Any]:
    zone = "abc"[index % 3]
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                # Zones so topology spread constraints in the charts have something to spread over.
                "topology.kubernetes.io/zone": f"zone-{zone}",
            },
        },
        # Report the pinned kubelet version, as a real node of this control plane would.
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": f"10.250.0.{index + 1}"},
                {"type": "Hostname", "address": name},
            ],
            "capacity": capacity,
            "allocatable": capacity,
            "nodeInfo": {
                "kubeletVersion": version,
                "kubeProxyVersion": "",
                "containerRuntimeVersion": "kwok://v0.8.0",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "kwok simulated node",
                "kernelVersion": "kwok",
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
            },
        },
    }
