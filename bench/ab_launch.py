"""``python -m bench.ab_launch VARIANT``: apply one bench.ab_patches variant, then run
``orderflow api`` in this process."""

from __future__ import annotations

import sys

from bench.ab_patches import VARIANTS


def main() -> None:
    VARIANTS[sys.argv[1]]()
    from orderflow.cli import main as orderflow_main  # noqa: PLC0415 - after the patch

    orderflow_main(["api"])


if __name__ == "__main__":
    main()
