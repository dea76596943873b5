"""The chart's Alertmanager, run for real: its configuration and arguments read from the rendered
chart (templates/alertmanager.yaml), the pinned binary (tools/go/alertmanager), and a webhook
receiver recording what it is sent.

Only the container's paths are mapped onto a work directory (the ConfigMap's and the Secret's
mount points, the data directory) and its listen address onto a free loopback port; every
route, receiver, template and flag is the rendered one.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from k8s.testbed.procs import Process, http_ok
from k8s.testbed.tools import ensure

from tests.charts.chart import find, pod_spec, render
from tests.support.receiver import RecordingServer, Reply, Request

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def alertmanager_binaries() -> dict[str, Path]:
    """alertmanager and amtool, built from tools/go/alertmanager on first use (then cached)."""
    return ensure(["alertmanager", "amtool"])


@dataclass(frozen=True)
class RenderedAlertmanager:
    """What the chart renders for Alertmanager: its ConfigMap's files, its container's
    arguments and mounts, and the bundled Prometheus' configuration next to it."""

    files: dict[str, str]  # ConfigMap key -> content
    args: list[str]
    mounts: dict[str, str]  # volume name -> mount path in the container
    service_port: int
    service_name: str
    prometheus_config: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = yaml.safe_load(self.files["alertmanager.yaml"])
        return config

    def flag(self, name: str) -> str:
        prefix = f"--{name}="
        return next(a.removeprefix(prefix) for a in self.args if a.startswith(prefix))

    def write(self, workdir: Path, secrets: dict[str, str] | None = None) -> Path:
        """The ConfigMap (and ``secrets``, as the Secret's keys) as files under ``workdir``, with
        the container's mount paths replaced by where they were written. Returns the config
        file."""
        places = {"config": workdir / "config"}
        if secrets is not None:
            places["secrets"] = workdir / "secrets"
            places["secrets"].mkdir(parents=True, exist_ok=True)
            for key, value in secrets.items():
                (places["secrets"] / key).write_text(value)
        places["config"].mkdir(parents=True, exist_ok=True)
        for key, content in self.files.items():
            mapped = content
            for volume, local in places.items():
                mapped = mapped.replace(self.mounts[volume] + "/", f"{local}/")
            (places["config"] / key).write_text(mapped)
        config_file = places["config"] / self.flag("config.file").rpartition("/")[2]
        assert config_file.exists(), f"--config.file names no key of the ConfigMap: {self.args}"
        return config_file


def render_alertmanager(values: Path, *extra: str) -> RenderedAlertmanager:
    objects = render(values, *extra)
    deployment = find(objects, "Deployment", "alertmanager")
    container = pod_spec(deployment)["containers"][0]
    service = find(objects, "Service", "alertmanager")
    provisioning = find(objects, "ConfigMap", "lgtm-provisioning")["data"]
    return RenderedAlertmanager(
        files=dict(find(objects, "ConfigMap", "alertmanager")["data"]),
        args=list(container["args"]),
        mounts={m["name"]: m["mountPath"] for m in container["volumeMounts"]},
        service_port=int(service["spec"]["ports"][0]["port"]),
        service_name=service["metadata"]["name"],
        prometheus_config=yaml.safe_load(provisioning["prometheus.yaml"]),
    )


@dataclass
class Alertmanager:
    """``alertmanager`` with the rendered arguments, on a free loopback port."""

    rendered: RenderedAlertmanager
    workdir: Path
    port: int
    process: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def args(self, config_file: Path) -> list[str]:
        local = {
            "config.file": str(config_file),
            "storage.path": str(self.workdir / "data"),
            "web.listen-address": self.address,
        }
        out = []
        for arg in self.rendered.args:
            name = arg.removeprefix("--").partition("=")[0]
            out.append(f"--{name}={local[name]}" if name in local else arg)
        return out

    def start(self, secrets: dict[str, str] | None = None) -> Alertmanager:
        binary = alertmanager_binaries()["alertmanager"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.rendered.write(self.workdir, secrets)
        self.process = Process([str(binary), *self.args(config_file)], self.log_path)
        self.process.start(http_ok(f"http://{self.address}/-/ready"), timeout=30, interval=0.2)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


class WebhookReceiver(RecordingServer):
    """Records every notification Alertmanager POSTs (its webhook JSON payload)."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict[str, Any]] = []

    def handle(self, request: Request) -> Reply:
        self.payloads.append(json.loads(request.body or b"{}"))
        return Reply(200)

    @property
    def url(self) -> str:
        return f"{self.base_url}/alerts"

    def notifications(self, alertname: str, status: str, since: int = 0) -> list[dict[str, Any]]:
        """The alerts named ``alertname`` with ``status`` (firing/resolved), as sent in the
        notifications from the ``since``-th on."""
        with self.lock:
            return [
                alert
                for payload in self.payloads[since:]
                for alert in payload.get("alerts", [])
                if alert["labels"].get("alertname") == alertname and alert["status"] == status
            ]


@contextlib.contextmanager
def receiving() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
