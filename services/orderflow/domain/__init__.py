"""Business logic. Knows nothing of HTTP, Dramatiq or the OpenTelemetry SDK (only its API)."""
