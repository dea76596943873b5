"""Kubernetes test bed built from source: etcd + control plane + kwok fake nodes.

See k8s/testbed/README.md. Entry points: ``python -m k8s.testbed start|stop|status`` and
the pytest plugin ``tests.testbed.plugin``.
"""

from __future__ import annotations

from k8s.testbed.cluster import Config, TestBed

__all__ = ["Config", "TestBed"]
