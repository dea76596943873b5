"""orderflow's Grafana dashboards, SLO recording rules and alerts, as code.

``panels.py`` and ``slo.py`` hold them as data; ``render.py`` writes the JSON and YAML the
chart ships (``python -m orderflow_dashboards``).
"""
