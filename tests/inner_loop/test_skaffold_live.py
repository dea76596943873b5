"""Skaffold against the test bed's real node (tests/inner_loop/bed.py), in a copy of the
checkout: `skaffold run` builds the three images with the local Docker engine, pushes them to
the registry the cluster advertises (as `--default-repo`, what `make skaffold-run` passes),
installs the operator chart and then the app chart and waits for every workload; `skaffold
dev` (profile `dev`) syncs an edited Python file into the running API container, timed from
the save to the changed answer. Each run is deleted afterwards, nothing left running."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import pytest
from k8s.testbed.procs import free_port

from tests.inner_loop.bed import NAMESPACE, checkout_copy
from tests.inner_loop.live import (
    PortForward,
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

if TYPE_CHECKING:
    from pathlib import Path

    from tests.inner_loop.bed import DevCluster

pytestmark = pytest.mark.timeout(1800)

BUILT = {"orderflow-api", "orderflow-worker", "orderflow-operator"}
APP_VALUES = "valuesFiles: [charts/orderflow/values.yaml]"


def prepare(cluster: DevCluster, tools: dict[str, Path], tmp: Path) -> tuple[Path, dict[str, str]]:
    """A checkout whose skaffold.yaml differs from the shipped one by the bed's values file
    after the app release's own (the stand-in images, the host sink), and the environment."""
    checkout = checkout_copy(tmp / "checkout")
    config = checkout / "skaffold.yaml"
    text = config.read_text()
    assert APP_VALUES in text
    values = f"valuesFiles: [charts/orderflow/values.yaml, {cluster.values_file}]"
    config.write_text(text.replace(APP_VALUES, values))
    env = {
        **cluster.env(tmp),
        "SKAFFOLD_UPDATE_CHECK": "false",
        "SKAFFOLD_INTERACTIVE": "false",
    }
    subprocess.run(
        [str(tools["skaffold"]), "config", "set", "--global", "collect-metrics", "false"],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    cluster.fresh_volumes()
    return checkout, env


def common(checkout: Path, cluster: DevCluster, *profile: str) -> list[str]:
    return [
        "--filename", str(checkout / "skaffold.yaml"), "--default-repo", cluster.registry,
        *(["--profile", *profile] if profile else []),
    ]  # fmt: skip


def check_deployed(cluster: DevCluster) -> None:
    """Every pod Ready, the built images pulled from the registry, the operator's release
    (its CRD) installed before the app's."""
    pods = json.loads(cluster.bed.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout)
    registry = cluster.registry + "/"
    images = {c["image"] for p in pods["items"] for c in p["spec"]["containers"]}
    pushed = {i.removeprefix(registry).split(":")[0] for i in images if i.startswith(registry)}
    assert pushed >= BUILT, images

    def not_ready() -> list[str]:
        listed = cluster.bed.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout
        return [
            pod["metadata"]["name"]
            for pod in json.loads(listed)["items"]
            if pod["status"].get("phase") != "Succeeded"
            and {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}.get("Ready")
            != "True"
        ]

    # Skaffold's status check follows the Deployments; a pod's readiness gate (the operator's
    # dependency checks) may open a little later.
    wait_for(lambda: not not_ready(), "every pod Ready", 180)
    # The app chart renders its HealthPolicies only where the operator's CRD is served: in
    # the installed release they prove the operator chart went first.
    manifest = subprocess.run(
        ["helm", "get", "manifest", "orderflow", "-n", NAMESPACE],
        env=cluster.env(cluster.bed.run_dir), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert manifest.count("kind: HealthPolicy") == 2, manifest[-2000:]


def delete(tools: dict[str, Path], checkout: Path, cluster: DevCluster, env: dict[str, str],
           *profile: str) -> None:  # fmt: skip
    release_policies(cluster)
    subprocess.run(
        [str(tools["skaffold"]), "delete", *common(checkout, cluster, *profile)],
        cwd=checkout, env=env, capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    wait_gone(cluster)


def test_skaffold_run_deploys_every_workload_ready(
    dev_cluster: DevCluster, tools: dict[str, Path], tmp_path: Path
) -> None:
    checkout, env = prepare(dev_cluster, tools, tmp_path)
    log = tmp_path / "skaffold-run.log"
    started = time.monotonic()
    try:
        with log.open("wb") as out:
            proc = subprocess.run(
                [str(tools["skaffold"]), "run", "--port-forward=off",
                 *common(checkout, dev_cluster)],
                cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        seconds = time.monotonic() - started
        assert proc.returncode == 0, log.read_text(errors="replace")[-6000:]
        check_deployed(dev_cluster)
        print(
            f"\nskaffold run: deployed and stable after {seconds:.0f}s (builds and pushes included)"
        )
    finally:
        delete(tools, checkout, dev_cluster, env)


def test_skaffold_dev_syncs_a_python_file(
    dev_cluster: DevCluster, tools: dict[str, Path], tmp_path: Path
) -> None:
    checkout, env = prepare(dev_cluster, tools, tmp_path)
    log = tmp_path / "skaffold-dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [str(tools["skaffold"]), "dev", "--port-forward=off", "--cleanup=true",
             *common(checkout, dev_cluster, "dev")],
            cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    forward = None
    try:
        started = time.monotonic()
        wait_for(
            lambda: "Watching for changes" in log.read_text(errors="replace"),
            "skaffold dev to deploy",
            900,
            log,
        )
        first = time.monotonic() - started
        check_deployed(dev_cluster)
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        forward = PortForward(dev_cluster, port, tmp_path / "port-forward.log")
        wait_for(lambda: get_json(f"{api}/healthz") == {"status": "ok"}, "the API", 60)
        # The operator's readiness-gate patch rolls the API a second time: start from the pod
        # that outlives it.
        wait_for(lambda: gated_and_settled(dev_cluster), "the API's gated rollout", 300, log)
        before = api_pod(dev_cluster)

        token = edit_handler(checkout)
        seconds = wait_for(
            lambda: forward.alive() and shows(api, token), "the synced handler's answer", 120, log
        )
        after = api_pod(dev_cluster)
        assert after == before, (before, after)
        assert "Syncing 1 files" in log.read_text(errors="replace")
        print(f"\nskaffold dev: deployed after {first:.0f}s; sync: edit visible after "
              f"{seconds:.1f}s (same pod, image and restartCount)")  # fmt: skip
    finally:
        if forward is not None:
            forward.stop()
        release_policies(dev_cluster)
        dev.send_signal(signal.SIGINT)  # skaffold dev cleans up (deletes the releases)
        try:
            dev.wait(180)
        except subprocess.TimeoutExpired:
            stop(dev)
        delete(tools, checkout, dev_cluster, env, "dev")
