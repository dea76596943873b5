"""orderflow operator: HealthPolicy keeps liveness, readiness and dependency checks honest.

Layers (dependencies point downwards only):

- ``handlers`` / ``__main__``: kopf wiring and the process entry point.
- ``monitor`` (the per-policy check loop) and ``target`` (workload patching) use
  ``kube`` (a small async API client), ``checks`` (one module per dependency type),
  ``state``/``status`` (in-memory health and its rendering), ``metrics``, ``telemetry``.
- ``crd``, ``pods``, ``misuse``, ``conditions``: pure data and functions, no I/O.
"""

from __future__ import annotations
