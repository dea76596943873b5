"""The HealthPolicy custom resource: API coordinates and the typed spec model.

The OpenAPI schema itself (defaults, validation, printer columns) lives in the operator
chart (``charts/orderflow-operator/crds/``): the API server is what enforces it, and the
chart is how it gets there. ``models`` mirrors the defaults so a spec read from an older
object still parses.
"""

from __future__ import annotations

GROUP = "orderflow.dev"
VERSION = "v1alpha1"
PLURAL = "healthpolicies"
KIND = "HealthPolicy"
