"""The OpenTelemetry *API* objects the domain uses (the SDK is configured by entry points)."""

from __future__ import annotations

from opentelemetry import metrics, trace

import orderflow

tracer = trace.get_tracer("orderflow", orderflow.__version__)
meter = metrics.get_meter("orderflow", orderflow.__version__)
