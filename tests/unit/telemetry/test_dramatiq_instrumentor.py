"""DramatiqInstrumentor: the middleware on every new broker, first; found by zero-code mode
through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Retries
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from orderflow.telemetry.dramatiq import (
    OPTIONS_KEY,
    DramatiqInstrumentor,
    OpenTelemetryMiddleware,
)


def _stub_broker() -> StubBroker:
    return StubBroker(middleware=[Retries(max_retries=0), AsyncIO()])


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = DramatiqInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


def test_every_new_broker_gets_the_middleware_first(exporter: InMemorySpanExporter) -> None:
    broker = _stub_broker()
    kinds = [type(m) for m in broker.middleware]
    # First: Dramatiq runs after_* hooks in reverse, so the consumer span outlives Retries.
    assert kinds[0] is OpenTelemetryMiddleware
    assert kinds.count(OpenTelemetryMiddleware) == 1
    assert kinds.index(Retries) > 0

    @dramatiq.actor(broker=broker, actor_name="job")
    def job() -> None:
        """Never run: only sent."""

    message = job.send()
    [send] = exporter.get_finished_spans()
    assert (send.name, send.kind) == ("send default", SpanKind.PRODUCER)
    assert message.options[OPTIONS_KEY]["traceparent"].split("-")[2] == (
        f"{send.context.span_id:016x}"
    )
    broker.close()


def test_uninstrument_restores_plain_brokers_and_leaves_existing_ones_alone() -> None:
    before = _stub_broker()
    instrumentor = DramatiqInstrumentor()
    instrumentor.instrument()
    try:
        assert not any(isinstance(m, OpenTelemetryMiddleware) for m in before.middleware)
    finally:
        instrumentor.uninstrument()
    after = _stub_broker()
    assert not any(isinstance(m, OpenTelemetryMiddleware) for m in after.middleware)
    for broker in (before, after):
        broker.close()


PROBE = """
import json
from dramatiq.brokers.stub import StubBroker
from orderflow.telemetry.dramatiq import DramatiqInstrumentor
broker = StubBroker()
print(json.dumps([
    DramatiqInstrumentor().is_instrumented_by_opentelemetry,
    type(broker.middleware[0]).__name__,
]))
"""


@pytest.mark.parametrize("disabled", ["", "dramatiq"])
def test_zero_code_mode_finds_the_instrumentor_through_its_entry_point(disabled: str) -> None:
    """What `opentelemetry-instrument` (and the OTel Operator's sitecustomize, which runs the
    same loader) does with the installed project: no code of ours calls instrument()."""
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled,
    }
    out = subprocess.run(
        [str(instrument), sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    instrumented, first = json.loads(out.strip().splitlines()[-1])
    expected = not disabled
    assert (instrumented, first == "OpenTelemetryMiddleware") == (expected, expected), out
