"""Through `kubectl port-forward` to the API Service, as a user would: register, order, and see
the worker confirm; then `orderflow traffic` as a Job inside the cluster against the Service's
DNS name."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import httpx

from tests.e2e.shop import in_stock_product, place_order, register, wait_settled

if TYPE_CHECKING:
    from k8s.e2e.install import Install


def test_orders_placed_through_the_service_are_settled_by_the_worker(api_url: str) -> None:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        account = register(client, "e2e")
        product = in_stock_product(client, 5)
        ids = []
        for _ in range(5):
            response = place_order(client, account, product)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        settled = wait_settled(client, account, ids)
    print(f"orders through the port-forward: {settled}")
    # The shipped values decline a share of payments (app.paymentFailureRate): both outcomes
    # are the saga working; only a stuck order is a failure.
    assert set(settled.values()) <= {"confirmed", "failed"}, settled
    assert "confirmed" in settled.values(), settled


def traffic_job(install: Install, name: str, orders: int) -> str:
    """A Job running `orderflow traffic` in the API image against the Service DNS name, under
    the namespace's restricted Pod Security; returns its logs."""
    api = install.get("deployment", f"{install.release}-api", "-n", install.namespace)
    image = api["spec"]["template"]["spec"]["containers"][0]["image"]
    url = f"http://{install.release}-api.{install.namespace}.svc.cluster.local:8080"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [{
                        "name": "traffic",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "args": ["traffic", "--base-url", url, "--orders", str(orders),
                                 "--concurrency", "4"],
                        "env": [{"name": "OTEL_SDK_DISABLED", "value": "true"}],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "resources": {"requests": {"cpu": "50m", "memory": "96Mi"},
                                      "limits": {"cpu": "1", "memory": "256Mi"}},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                }
            },
        },
    }  # fmt: skip
    install.kubectl("apply", "-n", install.namespace, "-f", "-", input=json.dumps(job))
    done = install.kubectl(
        "wait", f"job/{name}", "-n", install.namespace, "--for=condition=Complete",
        "--timeout=300s", check=False,
    )  # fmt: skip
    logs = install.kubectl("logs", f"job/{name}", "-n", install.namespace, check=False).stdout
    assert done.returncode == 0, f"traffic job did not complete:\n{logs}\n{done.stderr}"
    return logs


def test_traffic_job_inside_the_cluster_uses_the_service_dns_name(e2e_install: Install) -> None:
    logs = traffic_job(e2e_install, "traffic-e2e", orders=20)
    print(logs)
    # `orderflow traffic` exits 1 on any unexpected answer; Complete means none happened.
    placed = re.search(r"(\d+) orders placed", logs)
    assert placed and int(placed.group(1)) == 20, logs
    assert "UNEXPECTED" not in logs
