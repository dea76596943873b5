"""The operator never turns a Secret into readable status (on the test bed, the real operator).

The policy is the one a security review wrote down: a `tcp` dependency whose address is the
app's `JWT_SECRET` (`secretRef` to the Secret the app chart renders). Anyone who may create a
HealthPolicy would otherwise read the signing key from the status and forge tokens. After the
operator has handled it, the value must appear in no status, pod condition, Event, operator
log line, metric or exported span.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import TYPE_CHECKING, Any

import pytest

from tests.operator.test_operator_k8s import _deployment, _policy, _until
from tests.testbed.wait import wait_until

if TYPE_CHECKING:
    from tests.operator.conftest import OperatorBed

pytestmark = pytest.mark.k8s
# DEBUG logs of kopf and every library (connection attempts, request lines, object diffs)
# are where a value would slip out first.
OPERATOR_VERBOSE = True

APP_CHART = "charts/orderflow"
RELEASE = "shop"
APP_SECRET = f"{RELEASE}-orderflow-app"


def _issue_policy(name: str, target: str, secret: str) -> str:
    """Exactly the policy of the report: type tcp, secretRef to the app's JWT_SECRET."""
    return _policy(
        name,
        {
            "targetRef": {"kind": "Deployment", "name": target},
            "dependencies": [
                {
                    "name": "exfil",
                    "type": "tcp",
                    "secretRef": {"name": secret, "key": "JWT_SECRET"},
                    "intervalSeconds": 2,
                    "timeoutSeconds": 1,
                }
            ],
        },
    )


def _jwt_secret(bed: OperatorBed, secret: str) -> str:
    data = bed.cluster.get(f"secret/{secret}", "-n", bed.app_namespace)["data"]
    return base64.b64decode(data["JWT_SECRET"]).decode()


def _everything_readable(bed: OperatorBed, policy: str) -> dict[str, str]:
    """What the operator wrote or emitted, by where a user could read it."""
    cluster, ns = bed.cluster, bed.app_namespace
    return {
        "policy (status, annotations)": json.dumps(cluster.get(f"healthpolicy/{policy}", "-n", ns)),
        "pods (conditions)": json.dumps(cluster.get("pods", "-n", ns)),
        "events": json.dumps(cluster.get("events", "-n", ns)),
        "operator log": bed.operator.log(),
        "metrics": bed.operator.metrics(),
        "spans": "\n".join(
            f"{s.attributes} {s.status_message} {s.raw!r}" for s in bed.receiver.spans
        ),
    }


def _assert_nowhere(bed: OperatorBed, policy: str, value: str) -> None:
    assert re.search(r'"severity":\s*"debug"', bed.operator.log()), "the log is at DEBUG"
    # Generous: the value, its halves, and case-insensitively (a library may fold case).
    pieces = {value, value[: len(value) // 2], value[len(value) // 2 :]}
    for where, text in _everything_readable(bed, policy).items():
        for piece in pieces:
            assert piece.lower() not in text.lower(), f"a piece of the secret is in the {where}"


def _last_error(bed: OperatorBed, policy: str) -> str | None:
    status: dict[str, Any] = (
        bed.cluster.get(f"healthpolicy/{policy}", "-n", bed.app_namespace).get("status") or {}
    )
    deps = status.get("dependencies") or []
    return deps[0].get("lastError") if deps and deps[0].get("lastCheck") else None


def _gate_message(bed: OperatorBed, app: str) -> str | None:
    pods = bed.cluster.get("pods", "-n", bed.app_namespace, "-l", f"app={app}")["items"]
    for pod in pods:
        for cond in pod["status"].get("conditions") or []:
            if cond["type"] == "orderflow.dev/dependencies-ready" and cond["status"] == "False":
                return str(cond.get("message", ""))
    return None


def _run(bed: OperatorBed, name: str, secret: str) -> tuple[str, str, str]:
    cluster, ns = bed.cluster, bed.app_namespace
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_deployment(name, replicas=1))
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_issue_policy(name, name, secret))
    error = _until(lambda: _last_error(bed, name), what="the check's lastError")
    gate = _until(lambda: _gate_message(bed, name), timeout=90, what="the closed gate on the pod")
    event = _until(
        lambda: [
            e["message"]
            for e in cluster.get("events", "-n", ns)["items"]
            if e["involvedObject"].get("name") == name and e["reason"] == "DependencyUnhealthy"
        ],
        what="a DependencyUnhealthy Event",
    )[0]
    # The spans of this policy's checks reached the receiver (batch delay: 200 ms).
    wait_until(
        lambda: any(
            s.attributes.get("orderflow.healthpolicy") == name and s.status_code == 2
            for s in bed.receiver.spans
        ),
        timeout=30,
        what="failed check spans exported",
    )
    return error, gate, event


def test_the_app_jwt_secret_is_refused_unread(operator_bed: OperatorBed) -> None:
    """The Secret as the app chart renders it does not opt JWT_SECRET in: the operator reads
    nothing and says why."""
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    rendered = cluster.helm(
        "template", RELEASE, APP_CHART, "-n", ns, "--show-only", "templates/app-secret.yaml"
    ).stdout
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=rendered)
    value = _jwt_secret(operator_bed, APP_SECRET)
    assert len(value) >= 32

    error, gate, event = _run(operator_bed, "issue-policy", APP_SECRET)
    assert "not labelled orderflow.dev/health-check=true" in error, error
    assert f"secret {APP_SECRET}/JWT_SECRET" in event
    assert "exfil" in gate
    status = cluster.get("healthpolicy/issue-policy", "-n", ns)["status"]
    assert status["dependencies"][0]["address"] == f"secret {APP_SECRET}/JWT_SECRET"
    _assert_nowhere(operator_bed, "issue-policy", value)


def test_an_opted_in_secret_value_is_redacted_everywhere(operator_bed: OperatorBed) -> None:
    """Even a Secret opted in to health checks, used where its value makes no address: the
    check fails, and every text about the failure names the Secret, never its value."""
    cluster, ns = operator_bed.cluster, operator_bed.app_namespace
    jwt = secrets.token_urlsafe(36)
    cluster.kubectl(
        "create", "secret", "generic", "opted-in", "-n", ns, f"--from-literal=JWT_SECRET={jwt}"
    )
    cluster.kubectl("label", "secret/opted-in", "-n", ns, "orderflow.dev/health-check=true")
    value = _jwt_secret(operator_bed, "opted-in")

    error, gate, event = _run(operator_bed, "opted-in", "opted-in")
    # The check did read and use the value (the error is about the address, not the Secret).
    assert "AddressError" in error and "secret opted-in/JWT_SECRET" in error, error
    assert "secret opted-in/JWT_SECRET" in gate
    assert "secret opted-in/JWT_SECRET" in event
    _assert_nowhere(operator_bed, "opted-in", value)
