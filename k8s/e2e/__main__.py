"""CLI: ``python -m k8s.e2e up|down`` (``make e2e-up`` / ``make e2e-down``)."""

from __future__ import annotations

import sys

from k8s.e2e.install import main

if __name__ == "__main__":
    sys.exit(main())
