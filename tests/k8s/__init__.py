"""Acceptance tests of the Kubernetes test bed (issue 4)."""
