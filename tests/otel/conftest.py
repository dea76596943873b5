"""A real, pinned OpenTelemetry Collector for the telemetry tests (tests/support/collector.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.collector import collector_binary, collector_fixture

otel_collector = collector_fixture(scope="module")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A cold Collector build takes minutes: do it once before the tests run, outside
    # pytest-timeout's per-test limit (a no-op when `make collector` already ran).
    here = Path(__file__).parent
    if not config.option.collectonly and any(item.path.is_relative_to(here) for item in items):
        collector_binary()
