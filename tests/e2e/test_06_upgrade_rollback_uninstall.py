"""The release story on real pods, in a namespace of its own: the previous chart release's
`--wait` deadlock reproduced, an upgrade from it to this chart with `--wait` that keeps every
row, `helm rollback`, and `helm uninstall` removing everything but what the chart README says it
keeps."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml
from k8s.e2e import install as e2e

from tests.e2e.conftest import port_forward
from tests.e2e.shop import in_stock_product, place_order, register, wait_settled
from tests.testbed.wait import wait_until

if TYPE_CHECKING:
    from k8s.e2e.install import Install

# Chart 0.1.0, the last release whose migrations were a post-install/pre-upgrade hook Job.
PREVIOUS_RELEASE = "768da75d2b0ea690c60964c861ac01106594317c"
NAMESPACE = "orderflow-upgrade"
REPO = Path(__file__).resolve().parents[2]
# Kinds the chart creates in its namespace (plus the operator's HealthPolicy).
KINDS = (
    "deployments,statefulsets,replicasets,pods,services,configmaps,secrets,serviceaccounts,"
    "jobs,networkpolicies,poddisruptionbudgets,horizontalpodautoscalers,healthpolicies,"
    "persistentvolumeclaims"
)


def _previous_chart(tmp_path: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", PREVIOUS_RELEASE, "charts/orderflow"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    return tmp_path / "charts" / "orderflow"


def _known_to(
    schema: dict[str, Any], values: dict[str, Any], root: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``values`` without the keys ``schema`` does not declare: the e2e values may set options
    newer than the previous chart, whose schema refuses unknown keys. Follows local ``$ref``s;
    an object the schema does not describe key by key is kept whole."""
    root = root or schema
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    if "properties" not in schema:
        return values
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if key in schema["properties"]:
            sub = schema["properties"][key]
            kept[key] = _known_to(sub, value, root) if isinstance(value, dict) else value
    return kept


def _previous_values(chart: Path, values_file: Path, tmp_path: Path) -> Path:
    schema = json.loads((chart / "values.schema.json").read_text())
    values = _known_to(schema, yaml.safe_load(values_file.read_text()))
    path = tmp_path / "previous-values.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=True))
    return path


def _left(install: Install) -> list[str]:
    out = install.kubectl(
        "get", KINDS, "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={install.release}",
        "-o", "json",
    ).stdout  # fmt: skip
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in json.loads(out)["items"])


def test_upgrade_from_the_previous_release_rollback_and_uninstall(
    e2e_install: Install, tmp_path: Path
) -> None:
    install = e2e.Install(e2e_install.bed, namespace=NAMESPACE)
    e2e.restricted_namespace(install.bed, NAMESPACE)
    old_chart = _previous_chart(tmp_path)
    previous_values = _previous_values(old_chart, e2e_install.values_file, tmp_path)
    old = ["-n", NAMESPACE, "-f", str(previous_values)]
    values = ["-n", NAMESPACE, "-f", str(e2e_install.values_file)]

    # 1. The previous chart cannot finish a first install with --wait: the API waits for a
    #    schema that only the post-install hook (run after the wait) would create.
    started = time.monotonic()
    stuck = install.helm(
        "install", install.release, str(old_chart), *old, "--wait", "--timeout", "90s",
        check=False,
    )  # fmt: skip
    assert stuck.returncode != 0, stuck.stdout
    assert "context deadline exceeded" in stuck.stderr, stuck.stderr
    assert install.get("jobs", "-n", NAMESPACE)["items"] == [], "the hook never ran"
    selector = "app.kubernetes.io/component=api"
    api = install.get("pods", "-n", NAMESPACE, "-l", selector)["items"]
    ready = [c["status"] for p in api for c in p["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and set(ready) == {"False"}, "the API waits for a schema that never comes"
    print(f"previous chart: helm install --wait failed after {time.monotonic() - started:.0f}s "
          f"with the API unready and no migration Job (the deadlock)")  # fmt: skip

    # 2. The way that release had to be installed: without --wait (the hook then runs). From
    #    nothing: the failed attempt's volume was initialised with a password whose Secret
    #    that chart deletes on uninstall.
    install.helm("uninstall", install.release, "-n", NAMESPACE, "--wait")
    install.kubectl("delete", "pvc", "--all", "-n", NAMESPACE, "--wait=true")
    install.helm("install", install.release, str(old_chart), *old, "--timeout", "10m")
    install.kubectl(
        "wait", "deployment", "--all", "-n", NAMESPACE, "--for=condition=Available",
        "--timeout=600s",
    )  # fmt: skip
    with (
        port_forward(install, f"svc/{install.release}-api", 8080) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        account = register(client, "upgrade")
        response = place_order(client, account, in_stock_product(client))
        assert response.status_code == 201, response.text
        order_id = response.json()["id"]
        before = wait_settled(client, account, [order_id])

    # 3. Upgrade to this chart with --wait: data kept, every pod Ready.
    seconds = install.install_app()
    with (
        port_forward(install, f"svc/{install.release}-api", 8080) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert wait_settled(client, account, [order_id]) == before
        second = place_order(client, account, in_stock_product(client))
        assert second.status_code == 201, second.text
    print(f"helm upgrade --wait from chart 0.1.0 to this chart: {seconds:.0f}s, data kept")

    # 4. Rollback to the previous chart (revision 1): works with --wait, data kept.
    install.helm("rollback", install.release, "1", "-n", NAMESPACE, "--wait", "--timeout", "10m")
    with (
        port_forward(install, f"svc/{install.release}-api", 8080) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        listed = client.get("/api/orders", headers=account.auth).json()
        assert {o["id"] for o in listed} >= {order_id, second.json()["id"]}

    # 5. Uninstall: only the PostgreSQL volume claim and its password Secret stay (kept on
    #    purpose, charts/orderflow/README.md), so a reinstall finds its data and logs in.
    install.helm(
        "upgrade", install.release, str(e2e.APP_CHART), *values, "--wait", "--timeout", "10m"
    )
    install.helm("uninstall", install.release, "-n", NAMESPACE, "--wait", "--timeout", "5m")
    kept = ("PersistentVolumeClaim/", "Secret/")
    # Pods of the deleted ReplicaSets finish their graceful shutdown after helm returns.
    wait_until(
        lambda: all(k.startswith(kept) for k in _left(install)), timeout=180, what="clean-up"
    )
    left = _left(install)
    print(f"left after helm uninstall: {left}")
    assert any(k.startswith("PersistentVolumeClaim/") for k in left), left

    # 6. Reinstall onto the kept volume: `--wait` succeeds only if the API's migrate init
    #    container logged in with the kept password, and the orders placed before are there.
    #    (The JWT secret was not kept: the customer signs in again.)
    seconds = install.install_app()
    with (
        port_forward(install, f"svc/{install.release}-api", 8080) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        signed_in = client.post(
            "/api/login", json={"email": account.email, "password": account.password}
        )
        assert signed_in.status_code == 200, signed_in.text
        auth = {"Authorization": f"Bearer {signed_in.json()['token']}"}
        listed = client.get("/api/orders", headers=auth).json()
        assert {o["id"] for o in listed} >= {order_id, second.json()["id"]}, listed
    print(f"helm install onto the kept volume: {seconds:.0f}s, logged in, orders kept")
    install.helm("uninstall", install.release, "-n", NAMESPACE, "--wait", "--timeout", "5m")
    install.kubectl("delete", "namespace", NAMESPACE, "--wait=false")
