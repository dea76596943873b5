"""Acceptance tests of the Kubernetes test bed."""
