"""Typed view of a HealthPolicy spec.

The API server has already validated and defaulted what we read (structural schema + CEL);
the defaults here only matter for objects stored before a default was introduced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class DependencyType(StrEnum):
    POSTGRES = "postgres"
    REDIS = "redis"
    HTTP = "http"
    TCP = "tcp"
    OTLP = "otlp"


class ProbeKind(StrEnum):
    """Probe kinds, valued by their field name in a Kubernetes container."""

    LIVENESS = "livenessProbe"
    READINESS = "readinessProbe"
    STARTUP = "startupProbe"


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True)
class Dependency:
    name: str
    type: DependencyType
    address: str | None = None
    secret_ref: SecretRef | None = None
    critical: bool = True
    interval_seconds: int = 10
    timeout_seconds: int = 3

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Dependency:
        ref = raw.get("secretRef")
        return cls(
            name=str(raw["name"]),
            type=DependencyType(raw["type"]),
            address=raw.get("address"),
            secret_ref=SecretRef(name=ref["name"], key=ref["key"]) if ref else None,
            critical=bool(raw.get("critical", True)),
            interval_seconds=int(raw.get("intervalSeconds", 10)),
            timeout_seconds=int(raw.get("timeoutSeconds", 3)),
        )

    @property
    def shown_address(self) -> str:
        """Where it points, safe for status and events (never a Secret's content)."""
        if self.secret_ref is not None:
            return f"secret {self.secret_ref.name}/{self.secret_ref.key}"
        return self.address or ""


@dataclass(frozen=True)
class Probe:
    path: str
    port: int
    scheme: str = "HTTP"
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Probe:
        return cls(
            path=str(raw["path"]),
            port=int(raw["port"]),
            scheme=str(raw.get("scheme", "HTTP")),
            initial_delay_seconds=int(raw.get("initialDelaySeconds", 0)),
            period_seconds=int(raw.get("periodSeconds", 10)),
            timeout_seconds=int(raw.get("timeoutSeconds", 1)),
            failure_threshold=int(raw.get("failureThreshold", 3)),
        )

    def to_container_probe(self) -> dict[str, Any]:
        """The probe as it goes into a container spec (only httpGet: see the CRD's docs)."""
        return {
            "httpGet": {"path": self.path, "port": self.port, "scheme": self.scheme},
            "initialDelaySeconds": self.initial_delay_seconds,
            "periodSeconds": self.period_seconds,
            "timeoutSeconds": self.timeout_seconds,
            "failureThreshold": self.failure_threshold,
            "successThreshold": 1,
        }


@dataclass(frozen=True)
class Probes:
    container: str | None = None
    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Probes:
        raw = raw or {}

        def one(key: str) -> Probe | None:
            value = raw.get(key)
            return Probe.from_dict(value) if value else None

        return cls(
            container=raw.get("container"),
            liveness=one("liveness"),
            readiness=one("readiness"),
            startup=one("startup"),
        )

    def by_kind(self) -> dict[ProbeKind, Probe]:
        declared = {
            ProbeKind.LIVENESS: self.liveness,
            ProbeKind.READINESS: self.readiness,
            ProbeKind.STARTUP: self.startup,
        }
        return {kind: probe for kind, probe in declared.items() if probe is not None}


@dataclass(frozen=True)
class TargetRef:
    kind: str
    name: str

    @property
    def api_path(self) -> str:
        """Collection path segment under /apis/apps/v1/namespaces/NS/."""
        return {"Deployment": "deployments", "StatefulSet": "statefulsets"}[self.kind]


@dataclass(frozen=True)
class PolicySpec:
    target: TargetRef
    probes: Probes
    dependencies: tuple[Dependency, ...]

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PolicySpec:
        ref = raw["targetRef"]
        return cls(
            target=TargetRef(kind=str(ref.get("kind", "Deployment")), name=str(ref["name"])),
            probes=Probes.from_dict(raw.get("probes")),
            dependencies=tuple(Dependency.from_dict(d) for d in raw.get("dependencies") or ()),
        )
