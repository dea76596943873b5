"""Shared steps of the live inner-loop tests: the tools as child processes, the API through a
forwarded port, the API pod's identity, the edit whose arrival is timed."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from tests.inner_loop.bed import NAMESPACE

if TYPE_CHECKING:
    from pathlib import Path

    from tests.inner_loop.bed import DevCluster

# The handler the tests edit: the liveness answer (no dependency, so nothing else can change
# the response while the edit travels).
HANDLER = "services/orderflow/api/routes/health.py"
ORIGINAL = 'return {"status": "ok"}'


@dataclass(frozen=True)
class ApiPod:
    name: str
    uid: str
    image: str
    image_id: str
    restarts: int
    gated: bool
    """The pod carries a readiness gate (the operator's, added to the Deployment once it sees
    the API's HealthPolicy)."""


def api_pod(cluster: DevCluster) -> ApiPod:
    """The one running API pod (dev values: one replica)."""
    listed = cluster.bed.kubectl(
        "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=api", "-o", "json"
    )
    items = [
        p
        for p in json.loads(listed.stdout)["items"]
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(items) == 1, [p["metadata"]["name"] for p in items]
    pod = items[0]
    status = next(s for s in pod["status"]["containerStatuses"] if s["name"] == "api")
    return ApiPod(
        name=pod["metadata"]["name"],
        uid=pod["metadata"]["uid"],
        image=status["image"],
        image_id=status["imageID"],
        restarts=status["restartCount"],
        gated=bool(pod["spec"].get("readinessGates")),
    )


def get_json(url: str) -> Any:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def wait_for(check: Any, what: str, timeout: float, log: Path | None = None) -> float:
    """Poll ``check`` every 0.1 s; returns the seconds it took to be truthy."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}")


def edit_handler(checkout: Path) -> str:
    """Add a field with a fresh value to the liveness answer; returns the value."""
    token = uuid.uuid4().hex[:12]
    path = checkout / HANDLER
    text = path.read_text()
    assert ORIGINAL in text
    path.write_text(text.replace(ORIGINAL, f'return {{"status": "ok", "edit": "{token}"}}'))
    return token


def shows(url: str, token: str) -> bool:
    body = get_json(f"{url}/healthz")
    return bool(body and body.get("edit") == token)


def release_policies(cluster: DevCluster) -> None:
    """Delete the HealthPolicies while the operator still runs: it holds a finalizer on each
    (it restores the workload's probes first), and both tools delete the operator together
    with them (`tilt down`), or first (`skaffold delete`, releases in listed order), which
    would leave them, and so the namespace, terminating for ever."""
    cluster.bed.kubectl(
        "delete", "healthpolicies.orderflow.dev", "--all", "-n", NAMESPACE,
        "--ignore-not-found", "--timeout=120s", check=False,
    )  # fmt: skip


def wait_gone(cluster: DevCluster, timeout: float = 180) -> None:
    """Nothing of the deployment left: the namespace deleted, no pod on the node."""
    cluster.bed.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
    wait_for(
        lambda: cluster.bed.kubectl("get", "namespace", NAMESPACE, check=False).returncode,
        f"namespace {NAMESPACE} to be deleted",
        timeout,
    )
    assert cluster.pods() == []


class PortForward:
    """``kubectl port-forward`` to the API Service, started again whenever it exits: kubectl
    gives up ("lost connection to pod") on a connection refused while the process restarts
    after a sync; Tilt's and Skaffold's own forwards reconnect the same way."""

    def __init__(self, cluster: DevCluster, port: int, log: Path) -> None:
        self.cluster, self.port, self.log = cluster, port, log
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        argv = ["kubectl", "port-forward", "-n", NAMESPACE, "svc/orderflow-api"]
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [*argv, f"{self.port}:8080"],
                env=self.cluster.env(self.log.parent),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        """True while forwarding; restarts a forward that exited (and says False once)."""
        if self.proc.poll() is None:
            return True
        self.proc = self._start()
        return False

    def stop(self) -> None:
        stop(self.proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def gated_and_settled(cluster: DevCluster) -> bool:
    """The API's Deployment carries the operator's readiness gate, its controller has rolled
    that template out, and the one running pod is from it. (Status fields alone are not
    enough: until the controller observes the patched generation, they still describe the
    previous rollout, which had settled too.)"""
    deployment = json.loads(
        cluster.bed.kubectl(
            "get", "deployment", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=api",
            "-o", "json",
        ).stdout
    )["items"]  # fmt: skip
    if len(deployment) != 1 or not deployment[0]["spec"]["template"]["spec"].get("readinessGates"):
        return False
    status = deployment[0]["status"]
    observed = status.get("observedGeneration") == deployment[0]["metadata"]["generation"]
    settled = status.get("updatedReplicas") == status.get("replicas") == 1
    try:
        pod = api_pod(cluster)
    except AssertionError:
        return False
    return observed and settled and pod.gated
