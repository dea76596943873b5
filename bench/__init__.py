"""Benchmark harness (``make bench``): orderflow with telemetry off and fully on,
a FastAPI peer and a raw-asyncpg ceiling, measured side by side in one run.

Never imported by the product or the test suite; nothing here asserts on timing.
"""
