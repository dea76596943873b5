"""A real, pinned OpenTelemetry Collector for the telemetry tests (tests/support/collector.py)."""

from __future__ import annotations

from tests.support.collector import collector_fixture

otel_collector = collector_fixture(scope="module")
