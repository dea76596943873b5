"""Small manifests and accessors shared by the Kubernetes tests."""

from __future__ import annotations

import json
import os
from typing import Any

# Never pulled on the test bed (kwok runs no containers); on kind the pause image is
# already on every node. Override for clusters that mirror images elsewhere.
IMAGE = os.environ.get("ORDERFLOW_TEST_IMAGE", "registry.k8s.io/pause:3.10")

RESTRICTED_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod(name: str, *, security: dict[str, Any] | None = None, **spec: Any) -> str:
    container = {"name": "main", "image": IMAGE, "securityContext": security or RESTRICTED_SECURITY}
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 0, **spec},
    }
    return json.dumps(body)


def condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond["type"] == kind:
            return str(cond["status"])
    return None
