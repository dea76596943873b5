"""Kubernetes test bed fixtures (pytest plugin: tests.testbed.plugin)."""
