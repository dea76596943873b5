"""Probe misuse found in a pod template: the patterns that turn a dependency outage into a
restart storm, or make startup depend on crash-looping init containers.

A liveness probe must answer "is this process wedged?"; when it checks a database instead,
a database outage restarts every pod at once and recovery waits for all of them. These are
warnings (condition + Event), not errors: the operator cannot know the endpoint's code, only
recognise the shapes that are almost always wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Paths that by convention check dependencies (readiness or detailed health views).
_DEPENDENCY_PATH = re.compile(
    r"(^|/)(readyz|ready|readiness)(/|$)|(^|/)api/health(/|$)"
    r"|(^|/)health/(ready|readiness|deps|dependencies|detail|details|full)(/|$)",
    re.IGNORECASE,
)
# Commands that talk to another server: a probe or an init container waiting on a dependency.
_DEPENDENCY_TOOLS = re.compile(
    r"\b(nc|ncat|netcat|pg_isready|psql|redis-cli|mysqladmin|wait-for-it(\.sh)?|wait-for|"
    r"dockerize|telnet)\b"
)


@dataclass(frozen=True)
class Finding:
    container: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"container {self.container}: {self.message}"


def _http_target(probe: dict[str, Any] | None) -> tuple[str, str] | None:
    if not probe or "httpGet" not in probe:
        return None
    get = probe["httpGet"]
    return str(get.get("path", "/")), str(get.get("port"))


def _command(probe_or_container: dict[str, Any] | None, key: str) -> str:
    if not probe_or_container:
        return ""
    if key == "exec":
        return " ".join((probe_or_container.get("exec") or {}).get("command") or [])
    return " ".join(
        [*(probe_or_container.get("command") or []), *(probe_or_container.get("args") or [])]
    )


def _container_findings(container: dict[str, Any]) -> list[Finding]:
    name = container.get("name", "?")
    liveness = container.get("livenessProbe")
    readiness = container.get("readinessProbe")
    found: list[Finding] = []
    live_http, ready_http = _http_target(liveness), _http_target(readiness)
    if live_http is not None and live_http == ready_http:
        found.append(
            Finding(
                name,
                "LivenessSameAsReadiness",
                f"livenessProbe and readinessProbe both GET {live_http[0]} on port {live_http[1]}:"
                " a dependency outage would restart the pod instead of only taking it out of"
                " Service endpoints",
            )
        )
    elif live_http is not None and _DEPENDENCY_PATH.search(live_http[0]):
        found.append(
            Finding(
                name,
                "LivenessChecksDependencies",
                f"livenessProbe GETs {live_http[0]}, which by its name checks dependencies:"
                " liveness should check the process only (e.g. /healthz)",
            )
        )
    exec_cmd = _command(liveness, "exec")
    if exec_cmd and _DEPENDENCY_TOOLS.search(exec_cmd):
        found.append(
            Finding(
                name,
                "LivenessChecksDependencies",
                f"livenessProbe runs {exec_cmd!r}, which talks to another server:"
                " liveness should check the process only",
            )
        )
    return found


def _init_findings(container: dict[str, Any]) -> list[Finding]:
    cmd = _command(container, "command")
    if not _DEPENDENCY_TOOLS.search(cmd):
        return []
    return [
        Finding(
            container.get("name", "?"),
            "InitContainerWaitsForDependency",
            f"init container runs {cmd[:120]!r} to wait for a dependency: it crash-loops during an"
            " outage and checks only once; the HealthPolicy readiness gate replaces it",
        )
    ]


def find_misuse(template: dict[str, Any]) -> list[Finding]:
    spec = template.get("spec", {})
    found: list[Finding] = []
    for container in spec.get("containers") or []:
        found.extend(_container_findings(container))
    for container in spec.get("initContainers") or []:
        # Native sidecars (restartPolicy Always) are long-running, not startup gates.
        if container.get("restartPolicy") != "Always":
            found.extend(_init_findings(container))
    return found
