"""The first `helm install --wait` on real pods: every pod of the release Running and Ready
without a restart, the schema migrated by the API pods' init container, images, probes and
volumes as the chart ships them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml
from k8s.testbed.realnode import NODE_NAME

from orderflow.db.migrate import schema_head

if TYPE_CHECKING:
    from k8s.e2e.install import Install


def _pods(install: Install, namespace: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = install.get("pods", "-n", namespace or install.namespace)["items"]
    return [p for p in items if p["status"].get("phase") != "Succeeded"]


def test_every_pod_runs_ready_on_the_real_node_without_restarts(e2e_install: Install) -> None:
    print(f"e2e install up (images, bed, both charts, --wait) in {e2e_install.setup_seconds:.0f}s")
    pods = _pods(e2e_install)
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
    assert components == {"api", "worker", "postgresql", "redis", "collector"}, components
    for pod in pods + _pods(e2e_install, "orderflow-system"):
        name = pod["metadata"]["name"]
        assert pod["spec"]["nodeName"] == NODE_NAME, name
        assert pod["status"]["phase"] == "Running", name
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", (name, pod["status"]["conditions"])
        restarts = {c["name"]: c["restartCount"] for c in pod["status"]["containerStatuses"]}
        assert set(restarts.values()) == {0}, (name, restarts)
        assert pod["status"]["podIP"].startswith("10.88."), "an address from the real CNI"


def test_values_override_only_images_and_the_telemetry_destination(e2e_install: Install) -> None:
    """What makes this the shipped configuration: the e2e values file holds image
    coordinates, LGTM off and the external OTLP endpoint that replaces it, and the built-in
    email sink as the provider (the shipped values name none) — nothing else."""
    values = yaml.safe_load(e2e_install.values_file.read_text())
    allowed = {"repository", "tag", "pullPolicy"}
    for key, node in values.items():
        if key == "lgtm":
            assert node == {"enabled": False}
        elif key == "externalLgtm":
            assert set(node) == {"otlpEndpoint", "insecure"}
        elif key == "app":
            assert node == {"email": {"builtinSink": True}}
        else:
            assert set(node) == {"image"} and set(node["image"]) == allowed, key


def test_the_api_pods_migrated_the_schema_in_their_init_container(e2e_install: Install) -> None:
    api = [
        p
        for p in _pods(e2e_install)
        if p["metadata"]["labels"].get("app.kubernetes.io/component") == "api"
    ]
    assert api
    for pod in api:
        (init,) = pod["status"]["initContainerStatuses"]
        assert init["name"] == "migrate"
        assert init["state"]["terminated"]["exitCode"] == 0
        assert init["restartCount"] == 0
    postgres = next(
        p["metadata"]["name"]
        for p in _pods(e2e_install)
        if p["metadata"]["labels"].get("app.kubernetes.io/component") == "postgresql"
    )
    version = e2e_install.kubectl(
        "exec", "-n", e2e_install.namespace, postgres, "--",
        "psql", "-U", "orderflow", "-d", "orderflow", "-tAc",
        "SELECT version_num FROM alembic_version",
    ).stdout.strip()  # fmt: skip
    assert version == schema_head()
    # No hook Job is left behind or was ever needed.
    assert e2e_install.get("jobs", "-n", e2e_install.namespace)["items"] == []
