"""Polling helpers for the tests: the test bed's (k8s/testbed/wait.py), so there is one."""

from __future__ import annotations

from k8s.testbed.wait import holds_for, poll, wait_until

__all__ = ["holds_for", "poll", "wait_until"]
