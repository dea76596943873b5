"""Continuous CPU profiling to Pyroscope, linked to traces: the fourth signal.

``pyroscope-io`` samples this process's own Python stacks from native threads (py-spy reading
the interpreter's memory, non-blocking, only threads on CPU holding the GIL) and pushes one
pprof profile per 10 s to ``<PYROSCOPE_SERVER_ADDRESS>/push.v1.PusherService/Push``, plus a
last one when it is shut down. ``SpanProfiles`` (``pyroscope-otel``'s span processor, fixed
below) tags the samples taken on a thread while a root span (the API's server span, the
worker's CONSUMER span) or its work on another thread is running there with ``span_id``,
``span_name`` and ``trace_id``, and sets ``pyroscope.profile.id`` on the span: Grafana's Tempo
datasource uses that to open the span's profile.

The tags are per OS thread. The API serves every request on one event-loop thread, and
Dramatiq runs every async actor on one loop thread: samples taken while two requests (or
messages) overlap there carry the tags of one of them (see docs/profiles.md).

Fork safety: the client starts its threads here and warns in a forked child; orderflow never
forks after this (one process per pod), and the dev runner starts separate processes.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import pyroscope
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from pyroscope.otel import (
    PROFILE_ID_PYROSCOPE_TAG_KEY,
    SPAN_NAME_PYROSCOPE_TAG_KEY,
    TRACE_ID_PYROSCOPE_TAG_KEY,
    PyroscopeSpanProcessor,
)

from orderflow.settings import ProfilingSettings

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 3.0

# Resource attributes repeated as profile labels, so a profile is found by the same names as
# the process's traces and metrics. Pyroscope would rewrite dots to underscores itself;
# service.name is the client's own `service_name` label (the application name).
_LABELLED_ATTRIBUTES = (
    "service.namespace",
    "service.version",
    "deployment.environment.name",
    "k8s.namespace.name",
    "k8s.pod.name",
)


@dataclass(frozen=True)
class Profiling:
    active: bool
    """The profiler runs in this process (and must be stopped on shutdown)."""
    application_name: str = ""
    """The ``service_name`` label of the profiles: the process's OpenTelemetry service.name."""

    def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """Push what was sampled since the last upload and stop the profiler's threads, waiting
        at most ``timeout`` seconds: the client's last push waits up to 10 s for a Pyroscope
        that does not answer, which a pod's termination grace period cannot spare."""
        if not self.active:
            return
        stopping = threading.Thread(
            target=pyroscope.shutdown, name="pyroscope-shutdown", daemon=True
        )
        stopping.start()
        stopping.join(timeout)
        if stopping.is_alive():
            log.warning("profiling: the last profile was not delivered within %.0f s", timeout)


Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Tagged:
    tags: Tags
    thread: int


class SpanProfiles(PyroscopeSpanProcessor):  # type: ignore[misc]
    """pyroscope-otel's span processor (1.1.0), with two fixes for how orderflow runs spans.

    * It removes a thread's tags by the span's name at its end. A server span starts as ``GET``
      and is renamed ``GET /api/articles/{slug}`` once the request is routed, so its
      ``span_name`` tag stayed on the thread for good. Here a span's tags are removed exactly
      as they were added.
    * It tags only the thread a root span starts on. Dramatiq runs async actors on its own
      event-loop thread while the worker thread that holds the CONSUMER span waits, so the
      actor's work had no label. Here a child of a tagged span that starts on another thread
      tags that thread with the root's tags while it is open.

    The client sets one tag per call, and its sampler may read a thread's tags between two
    calls. Tags are added as upstream adds them (``span_id``, ``span_name``, ``trace_id``) and
    removed in reverse, so a sample taken mid-way carries a leading part of that sequence:
    never a ``span_name`` or ``trace_id`` without the ``span_id`` it belongs to.
    """

    def __init__(self) -> None:
        self._tagged: dict[int, _Tagged] = {}  # span id -> the tags it added, on which thread

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        super().on_start(span, parent_context)  # a root: pyroscope.profile.id and its tags
        thread = threading.get_ident()
        parent = span.parent
        if parent is None or parent.is_remote:  # upstream's test for a root
            tags = (
                (PROFILE_ID_PYROSCOPE_TAG_KEY, format(span.context.span_id, "016x")),
                (SPAN_NAME_PYROSCOPE_TAG_KEY, span.name),
                (TRACE_ID_PYROSCOPE_TAG_KEY, format(span.context.trace_id, "032x")),
            )
            self._tagged[span.context.span_id] = _Tagged(tags, thread)
            return
        owner = self._tagged.get(parent.span_id)
        if owner is None or owner.thread == thread:
            return
        self._tagged[span.context.span_id] = _Tagged(owner.tags, thread)
        for key, value in owner.tags:
            pyroscope.add_thread_tag(key, value)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.get_span_context()
        tagged = self._tagged.pop(context.span_id, None) if context is not None else None
        if tagged is None:
            return
        for key, value in reversed(tagged.tags):
            pyroscope.remove_thread_tag(key, value)


def _resource(default_service_name: str) -> Resource:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):  # ours or zero-code's: the exact one spans carry
        return provider.resource
    # No SDK (OTEL_SDK_DISABLED): the same rules as telemetry.setup, read from the environment.
    named = bool(os.environ.get("OTEL_SERVICE_NAME"))
    return Resource.create({} if named else {"service.name": default_service_name})


def profile_labels(resource: Resource) -> dict[str, str]:
    """The profile labels taken from the resource (``k8s.pod.name`` -> ``k8s_pod_name``)."""
    return {
        name.replace(".", "_"): str(resource.attributes[name])
        for name in _LABELLED_ATTRIBUTES
        if resource.attributes.get(name)
    }


def start_profiling(settings: ProfilingSettings, default_service_name: str) -> Profiling:
    """Start the profiler if ``PROFILING_ENABLED``; call after ``configure_telemetry`` (whose
    tracer provider gets the span processor) and before the first span."""
    if not settings.enabled:
        return Profiling(active=False)
    resource = _resource(default_service_name)
    name = str(resource.attributes.get("service.name", default_service_name))
    started = pyroscope.configure(
        application_name=name,
        server_address=settings.server_address,
        sample_rate=settings.sample_rate,
        tags=profile_labels(resource),
    )
    if not started:
        # Profiles are an aid, not a dependency: the service runs on without them.
        log.warning("profiling: the Pyroscope client did not start; running without profiles")
        return Profiling(active=False)
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.add_span_processor(SpanProfiles())
    log.info(
        "profiling: CPU profiles of %s to %s at %d Hz",
        name,
        settings.server_address,
        settings.sample_rate,
    )
    return Profiling(active=True, application_name=name)
