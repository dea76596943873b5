"""Route handlers, one module per bounded context."""
