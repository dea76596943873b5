"""Process-level telemetry set-up (SDK, exporters, logging). Called once by entry points."""
