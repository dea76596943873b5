"""``db.client.connections.usage`` read from the pools when metrics are collected.

The SQLAlchemy instrumentation keeps this up-down counter by hand: four SDK measurements per
request (idle -1 and used +1 at checkout, the reverse at checkin), each building an attribute
dict that every metric reader (the Prometheus bridge and the OTLP exporter) then hashes and
aggregates, with an exemplar offered too. The pool already knows both numbers. Here the same
metric (name, unit, ``pool.name`` and ``state`` attributes, which the dashboards' pool panels
read) is an observable up-down counter over each engine's pool, and the instrumentation's
per-checkout updates are switched off. Its spans are untouched.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.instrumentation.sqlalchemy import engine as instrumented
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.semconv.metrics import MetricInstruments
from sqlalchemy.engine import Engine

from orderflow.domain.telemetry import meter

_engines: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()
_installed = False


def _observe(_options: CallbackOptions) -> Iterable[Observation]:
    observations = []
    for engine, attributes in list(_engines.items()):
        pool = engine.pool
        checkedin = getattr(pool, "checkedin", None)
        checkedout = getattr(pool, "checkedout", None)
        if checkedin is None or checkedout is None:  # a pool that keeps no connections
            continue
        observations.append(Observation(checkedin(), {**attributes, "state": "idle"}))
        observations.append(Observation(checkedout(), {**attributes, "state": "used"}))
    return observations


def install() -> None:
    """Before any engine is created (the instrumentation attaches at engine creation)."""
    global _installed  # noqa: PLW0603 - once per process
    if _installed:
        return
    _installed = True
    tracer_class: Any = instrumented.EngineTracer
    original_init: Callable[..., None] = tracer_class.__init__

    def init(self: Any, tracer: Any, engine: Engine, *args: Any, **kwargs: Any) -> None:
        original_init(self, tracer, engine, *args, **kwargs)
        _engines[engine] = dict(self._engine_attrs)

    def untracked(self: Any, *_args: Any) -> None:
        del self

    tracer_class.__init__ = init
    for name in ("_pool_connect", "_pool_close", "_pool_checkin", "_pool_checkout"):
        setattr(tracer_class, name, untracked)
    meter.create_observable_up_down_counter(
        MetricInstruments.DB_CLIENT_CONNECTIONS_USAGE,
        callbacks=[_observe],
        unit="connections",
        description="The number of connections that are currently in state described by the "
        "state attribute.",
    )
