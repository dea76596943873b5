"""telemetry/profiling.py without a Pyroscope: off means nothing started; the labels; how the
span processor sets and clears a thread's tags.

What the running profiler sends is proven against a stand-in in
tests/integration/test_profiling.py.
"""

from __future__ import annotations

import os
import threading

import pyroscope
import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from orderflow.settings import ProfilingSettings
from orderflow.telemetry.profiling import SpanProfiles, profile_labels, start_profiling


def test_off_by_default_starts_nothing() -> None:
    threads = len(os.listdir("/proc/self/task"))
    profiling = start_profiling(ProfilingSettings(), "orderflow-api")
    assert not profiling.active
    assert len(os.listdir("/proc/self/task")) == threads  # no profiler thread
    profiling.shutdown()  # a no-op


def test_labels_are_the_resource_attributes_with_underscores() -> None:
    resource = Resource(
        {
            "service.name": "orderflow-worker",  # the client's own service_name label
            "service.namespace": "orderflow",
            "k8s.namespace.name": "shop",
            "k8s.pod.name": "worker-0",
            "host.name": "node-1",  # not a profile label
        }
    )
    assert profile_labels(resource) == {
        "service_namespace": "orderflow",
        "k8s_namespace_name": "shop",
        "k8s_pod_name": "worker-0",
    }


ORDER = ("span_id", "span_name", "trace_id")


class RecordedThreadTags:
    """Stands in for the native client's per-thread tag store (no profiler runs in a unit
    test): keeps each thread's tags and every state a sampler could have read between calls."""

    def __init__(self) -> None:
        self.tags: dict[int, dict[str, str]] = {}
        self.states: list[tuple[str, ...]] = []

    def add(self, key: str, value: str) -> None:
        self.tags.setdefault(threading.get_ident(), {})[key] = value
        self._seen()

    def remove(self, key: str, value: str) -> None:
        mine = self.tags.setdefault(threading.get_ident(), {})
        if mine.get(key) == value:  # the client removes a tag only with its value
            del mine[key]
        self._seen()

    def _seen(self) -> None:
        self.states.append(tuple(self.tags[threading.get_ident()]))


@pytest.fixture
def thread_tags(monkeypatch: pytest.MonkeyPatch) -> RecordedThreadTags:
    recorded = RecordedThreadTags()
    monkeypatch.setattr(pyroscope, "add_thread_tag", recorded.add)
    monkeypatch.setattr(pyroscope, "remove_thread_tag", recorded.remove)
    return recorded


def test_span_tags_leave_the_thread_in_reverse_and_survive_a_rename(
    thread_tags: RecordedThreadTags,
) -> None:
    """A server span renamed once routed (``GET`` -> ``GET /api/articles``) leaves no tag
    behind, and at every moment between two calls the thread holds a leading part of
    (span_id, span_name, trace_id): a sample never carries a name or trace without its span."""
    provider = TracerProvider()
    provider.add_span_processor(SpanProfiles())
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as server:
        server.update_name("GET /api/articles")
        with tracer.start_as_current_span("SELECT"):  # a child on the same thread: no tags
            pass
        assert thread_tags.tags[threading.get_ident()].keys() == set(ORDER)
    assert thread_tags.tags[threading.get_ident()] == {}
    assert thread_tags.states, "no tag was set"
    assert all(state == ORDER[: len(state)] for state in thread_tags.states), thread_tags.states
    assert ("span_id", "span_name") in thread_tags.states  # the removal passed through it


def test_a_child_on_another_thread_carries_the_roots_tags_while_open(
    thread_tags: RecordedThreadTags,
) -> None:
    """Dramatiq's async actors run on the event-loop thread while the CONSUMER span is held
    on a worker thread: the child's thread gets the root's tags, and loses them at its end."""
    provider = TracerProvider()
    provider.add_span_processor(SpanProfiles())
    tracer = provider.get_tracer(__name__)
    seen: dict[str, str] = {}

    def actor(parent: trace.Span) -> None:
        with tracer.start_as_current_span(
            "order.process", context=trace.set_span_in_context(parent)
        ):
            seen.update(thread_tags.tags[threading.get_ident()])
        seen["after"] = str(thread_tags.tags[threading.get_ident()])

    with tracer.start_as_current_span("process orders", kind=SpanKind.CONSUMER) as consumer:
        loop_thread = threading.Thread(target=actor, args=(consumer,))
        loop_thread.start()
        loop_thread.join()
    context = consumer.get_span_context()
    assert seen == {
        "span_id": format(context.span_id, "016x"),
        "span_name": "process orders",
        "trace_id": format(context.trace_id, "032x"),
        "after": "{}",
    }
    assert all(state == ORDER[: len(state)] for state in thread_tags.states), thread_tags.states
