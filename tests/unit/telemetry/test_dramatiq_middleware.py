"""The Dramatiq tracing middleware, with sync and async actors on a real Redis broker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, Retries
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from orderflow.devservices import Redis
from orderflow.telemetry.dramatiq import OPTIONS_KEY, OpenTelemetryMiddleware


@dataclass
class Harness:
    broker: RedisBroker
    exporter: InMemorySpanExporter
    tracer: trace.Tracer
    done: threading.Semaphore

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]


@pytest.fixture
def harness() -> Iterator[Harness]:
    server = Redis().start()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=server.url,
        middleware=[
            OpenTelemetryMiddleware(tracer_provider=provider),
            Retries(max_retries=1, min_backoff=10, max_backoff=10),
            AsyncIO(),
        ],
    )
    yield Harness(broker, exporter, provider.get_tracer("test"), threading.Semaphore(0))
    broker.close()
    server.stop()


def _run(harness: Harness, messages: int) -> None:
    worker = dramatiq.Worker(harness.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        for _ in range(messages):
            assert harness.done.acquire(timeout=20), "actor did not run"
        harness.broker.join("default", timeout=20_000)
        worker.join()
    finally:
        worker.stop()


def test_sync_actor_gets_a_consumer_span_under_the_producer(harness: Harness) -> None:
    seen: list[trace.SpanContext] = []

    @dramatiq.actor(broker=harness.broker, actor_name="sync_job")
    def sync_job(value: int) -> None:
        seen.append(trace.get_current_span().get_span_context())
        harness.done.release()

    with harness.tracer.start_as_current_span("request") as request:
        message = sync_job.send(3)
    _run(harness, 1)

    [send] = harness.named("send default")
    [process] = harness.named("process default")
    assert send.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert send.parent is not None and send.parent.span_id == request.get_span_context().span_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.context.trace_id == request.get_span_context().trace_id
    # Inside the actor, the consumer span is the current span.
    assert seen[0].span_id == process.context.span_id
    assert process.attributes is not None
    assert process.attributes["messaging.system"] == "dramatiq"
    assert process.attributes["messaging.destination.name"] == "default"
    assert process.attributes["messaging.message.id"] == message.message_id
    assert process.attributes["messaging.dramatiq.actor"] == "sync_job"
    # The carrier replaced nothing else and is a flat W3C header map.
    assert set(message.options[OPTIONS_KEY]) >= {"traceparent"}


def test_async_actor_sees_the_consumer_context(harness: Harness) -> None:
    @dramatiq.actor(broker=harness.broker, actor_name="async_job")
    async def async_job() -> None:
        with harness.tracer.start_as_current_span("inside"):
            pass
        harness.done.release()

    async_job.send()
    _run(harness, 1)
    [process] = harness.named("process default")
    [inside] = harness.named("inside")
    assert inside.parent is not None and inside.parent.span_id == process.context.span_id


def test_failure_is_recorded_and_the_retry_stays_in_the_trace(harness: Harness) -> None:
    attempts: list[int] = []

    @dramatiq.actor(broker=harness.broker, actor_name="flaky")
    def flaky() -> None:
        attempts.append(1)
        harness.done.release()
        if len(attempts) == 1:
            raise RuntimeError("first try fails")

    with harness.tracer.start_as_current_span("request"):
        flaky.send()
    _run(harness, 2)

    first, second = sorted(harness.named("process default"), key=lambda s: s.start_time or 0)
    assert first.status.status_code is StatusCode.ERROR
    assert [e.name for e in first.events] == ["exception"]
    assert second.status.status_code is StatusCode.UNSET
    assert first.context.trace_id == second.context.trace_id
    # The retry was enqueued from inside the failed delivery, then moved from the delay queue
    # by Dramatiq's consumer thread: producer spans lead from the failure to the retry.
    sends = {s.context.span_id: s for s in harness.named("send default")}
    chain: list[ReadableSpan] = []
    parent = second.parent
    while parent is not None and parent.span_id in sends:
        chain.append(sends[parent.span_id])
        parent = sends[parent.span_id].parent
    assert chain and parent is not None and parent.span_id == first.context.span_id
    assert second.attributes is not None and second.attributes["messaging.dramatiq.retries"] == 1


def test_context_is_detached_between_messages(harness: Harness) -> None:
    parents: list[trace.SpanContext] = []

    @dramatiq.actor(broker=harness.broker, actor_name="independent")
    def independent() -> None:
        parents.append(trace.get_current_span().get_span_context())
        harness.done.release()

    for _ in range(2):
        with harness.tracer.start_as_current_span("request"):
            independent.send()
    _run(harness, 2)
    assert len({p.trace_id for p in parents}) == 2
    # The worker thread is clean afterwards: no span of ours leaked into its context.
    processes = harness.named("process default")
    assert all(p.end_time is not None for p in processes)
