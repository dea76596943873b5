"""Fixtures of the end-to-end suite: the running install (``k8s/e2e``), a port-forward to a
Service, and the host OTLP sink's output."""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from k8s.e2e import install as e2e
from k8s.e2e import sink
from k8s.testbed.procs import free_port
from k8s.testbed.tools import ensure

from tests.support.collector import LogRecord, Span, _JsonLines, parse_logs, parse_traces

if TYPE_CHECKING:
    from collections.abc import Iterator

    from k8s.e2e.install import Install


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Bringing the install up on a cold machine builds images and starts the bed inside the
    # first test's setup, which pytest-timeout counts. The suite runs on the test bed's real
    # node whatever cluster the other suites get (`testbed`: deselected when they get another).
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.timeout(1800))
            item.add_marker(pytest.mark.testbed)


@pytest.fixture(scope="session")
def e2e_install() -> Iterator[Install]:
    started = time.monotonic()
    install = e2e.up()
    install.setup_seconds = time.monotonic() - started
    yield install
    # Destructive suite: nothing of it may outlive the session (the last test checks that
    # `down` leaves nothing behind; this is the safety net when it did not run).
    e2e.down()


@contextlib.contextmanager
def port_forward(install: Install, target: str, remote_port: int) -> Iterator[str]:
    """``kubectl port-forward`` to ``target`` (e.g. ``svc/orderflow-api``); yields the base
    URL on loopback once a connection goes through."""
    port = free_port()
    kubectl = str(ensure(["kubectl"])["kubectl"])
    proc = subprocess.Popen(
        [kubectl, "port-forward", "-n", install.namespace, target, f"{port}:{remote_port}"],
        env=install.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"port-forward to {target} failed: {out}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def api_url(e2e_install: Install) -> Iterator[str]:
    with port_forward(e2e_install, f"svc/{e2e_install.release}-api", 8080) as url:
        yield url


class SinkReader:
    """What the host OTLP sink received (the in-cluster Collector exports to it)."""

    def __init__(self, install: Install) -> None:
        self._traces = _JsonLines(sink.out_dir(install.bed) / "traces.jsonl")
        self._logs = _JsonLines(sink.out_dir(install.bed) / "logs.jsonl")

    def spans(self) -> list[Span]:
        return [s for request in self._traces.read() for s in parse_traces(request)]

    def logs(self) -> list[LogRecord]:
        return [r for request in self._logs.read() for r in parse_logs(request)]


@pytest.fixture(scope="session")
def otlp_sink(e2e_install: Install) -> SinkReader:
    return SinkReader(e2e_install)
