"""The OpenTelemetry Operator on the end-to-end bed (``make e2e-up OTEL_OPERATOR=1``,
``tests/e2e``): the real operator, built from its Go module (``tools/go/otel-operator``), run
out of cluster as one of the bed's supervised processes, with its admission webhooks registered
at a URL the kube-apiserver (a host process) reaches and a serving certificate from the bed's
own CA. Its CRDs and webhook rules are the ones shipped inside the module, read from the Go
module cache, so they are exactly the version that runs.

``make e2e-down`` needs nothing extra: the process belongs to the bed's supervisor, and the
CRDs and webhook configurations live in the bed's etcd.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from k8s.testbed.cluster import http_ok
from k8s.testbed.procs import free_port
from k8s.testbed.tools import ensure

if TYPE_CHECKING:
    from k8s.testbed.cluster import TestBed

ROOT = Path(__file__).resolve().parents[2]
TOOL_DIR = ROOT / "tools" / "go" / "otel-operator"
MODULE = "github.com/open-telemetry/opentelemetry-operator"
PROCESS = "otel-operator"
CERT = "otel-operator-webhook"
# Our names for the module's two webhook configurations (upstream's are kustomize templates).
WEBHOOK_NAMES = {
    "MutatingWebhookConfiguration": "opentelemetry-operator-mutation",
    "ValidatingWebhookConfiguration": "opentelemetry-operator-validation",
}


@cache
def module_dir() -> Path:
    """The operator module's source in the Go module cache, at the version the wrapper pins
    (downloaded when missing, which the tool build did already)."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", MODULE],
        cwd=TOOL_DIR,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Path(json.loads(out)["Dir"])


def crd_files() -> list[Path]:
    return sorted((module_dir() / "config" / "crd" / "bases").glob("*.yaml"))


def webhook_configurations(url: str, ca_bundle: bytes) -> list[dict[str, Any]]:
    """The module's webhook configurations, each service reference replaced by ``url`` + path."""
    docs = yaml.safe_load_all((module_dir() / "config" / "webhook" / "manifests.yaml").read_text())
    configurations = []
    for doc in docs:
        if not doc:
            continue
        doc["metadata"] = {"name": WEBHOOK_NAMES[doc["kind"]]}
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {
                "url": f"{url}{path}",
                "caBundle": base64.b64encode(ca_bundle).decode(),
            }
        configurations.append(doc)
    return configurations


def _run_dir(bed: TestBed) -> Path:
    return bed.run_dir / PROCESS


def _tls_serving(port: int, ca: Path) -> bool:
    """The webhook port completes a TLS handshake with a certificate from the bed's CA."""
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except OSError:
        return False


def start(bed: TestBed) -> None:
    """CRDs, the operator process, then its webhooks (once per bed; a no-op when running)."""
    if bed.sup.alive(PROCESS):
        return
    binary = ensure([PROCESS])[PROCESS]
    bed.kubectl("apply", "--server-side", *(f"--filename={f}" for f in crd_files()))
    bed.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        *(f"crd/{yaml.safe_load(f.read_text())['metadata']['name']}" for f in crd_files()),
    )  # fmt: skip
    # controller-runtime reads its serving pair from $TMPDIR/k8s-webhook-server/serving-certs.
    tmp = _run_dir(bed) / "tmp"
    certs = tmp / "k8s-webhook-server" / "serving-certs"
    certs.mkdir(parents=True, exist_ok=True)
    bed.pki.server_cert(CERT, "opentelemetry-operator-webhook", ["127.0.0.1"], ["localhost"])
    crt, key = bed.pki.cert(CERT)
    shutil.copy2(crt, certs / "tls.crt")
    shutil.copy2(key, certs / "tls.key")
    webhook, probes, metrics = free_port(), free_port(), free_port()
    argv = [
        str(binary),
        f"--webhook-port={webhook}",
        f"--health-probe-addr=127.0.0.1:{probes}",
        f"--metrics-addr=127.0.0.1:{metrics}",
        "--enable-leader-election=false",
    ]
    # The bed's admin identity (a test bed; in a cluster the operator's chart brings its RBAC).
    env = {**os.environ, "KUBECONFIG": str(bed.kubeconfig), "TMPDIR": str(tmp)}
    bed.sup.start(PROCESS, argv, tie_to_parent=False, env=env)
    bed._wait(lambda: http_ok(f"http://127.0.0.1:{probes}/readyz"), "the OTel Operator's readyz")
    bed._wait(lambda: _tls_serving(webhook, bed.pki.ca_crt), "the OTel Operator's webhook")
    configurations = webhook_configurations(
        f"https://127.0.0.1:{webhook}", bed.pki.ca_crt.read_bytes()
    )
    bed.kubectl(
        "apply", "-f", "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": configurations}),
    )  # fmt: skip
