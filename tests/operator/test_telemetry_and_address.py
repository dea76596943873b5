"""Small pure pieces: log/trace correlation and dependency address parsing."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from orderflow_operator.checks.address import AddressError, Endpoint, parse
from orderflow_operator.telemetry import TraceContextFilter


def _record() -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, "msg", None, None)


def test_log_records_carry_the_active_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("dependency.check") as span:
        record = _record()
        assert TraceContextFilter().filter(record)
    context = span.get_span_context()
    assert getattr(record, "traceId", None) == format(context.trace_id, "032x")
    assert getattr(record, "spanId", None) == format(context.span_id, "016x")


def test_no_span_no_ids() -> None:
    record = _record()
    TraceContextFilter().filter(record)
    assert not hasattr(record, "traceId")


@pytest.mark.parametrize(
    ("address", "endpoint"),
    [
        ("db:5432", Endpoint("db", 5432)),
        ("[::1]:6379", Endpoint("::1", 6379)),
        ("postgresql://u:p@db.svc/orders", Endpoint("db.svc", 5432, "postgresql")),
        ("redis://cache:6380/0", Endpoint("cache", 6380, "redis")),
        ("https://collector", Endpoint("collector", 443, "https")),
    ],
)
def test_parse(address: str, endpoint: Endpoint) -> None:
    assert parse(address) == endpoint


@pytest.mark.parametrize("address", ["db", "db:http", "db:0", "db:70000", "http://h:99999/"])
def test_parse_rejects(address: str) -> None:
    with pytest.raises(AddressError):
        parse(address)
