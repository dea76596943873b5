"""structlog JSON logs on stdout, with the active span's ids on every line."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import structlog
from opentelemetry import trace

if TYPE_CHECKING:
    from structlog.types import EventDict, WrappedLogger


def add_trace_ids(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["traceId"] = format(context.trace_id, "032x")
        event["spanId"] = format(context.span_id, "016x")
    return event


SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    add_trace_ids,
]


class DropStructlogInternals(logging.Filter):
    """For the OTLP handler: structlog's stdlib bridge puts its logger object on every record
    (``_logger``), which is no valid log attribute; the exporter would complain about it in a
    log line of its own, recursively. The stdout handler, earlier in the list, already used it.
    """

    _INTERNAL = ("_logger", "_name", "_from_structlog")

    def filter(self, record: logging.LogRecord) -> bool:
        for name in self._INTERNAL:
            record.__dict__.pop(name, None)
        return True


def configure_logging(level: str = "INFO") -> None:
    """Route structlog and the standard library (uvicorn, dramatiq, sqlalchemy) through one
    JSON renderer on stdout."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    # Keep an OTLP handler that zero-code instrumentation attached: it is the one log export.
    kept = [h for h in root.handlers if type(h).__module__.startswith("opentelemetry")]
    for otlp in kept:
        otlp.addFilter(DropStructlogInternals())
    root.handlers[:] = [handler, *kept]
    root.setLevel(level)
    # One line per outgoing request is noise; the client spans already record them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
