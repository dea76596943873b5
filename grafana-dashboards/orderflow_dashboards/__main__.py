"""Write the chart's dashboards and rules, or check that they are current.

python -m orderflow_dashboards                 # write charts/orderflow/files/...
python -m orderflow_dashboards --check         # exit 1 if a file is stale
python -m orderflow_dashboards --chart DIR     # another chart directory
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orderflow_dashboards.render import stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orderflow_dashboards",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    parser.add_argument(
        "--chart",
        type=Path,
        default=Path("charts/orderflow"),
        help="the Helm chart to write into (default: %(default)s, from the repository root)",
    )
    args = parser.parse_args(argv)
    chart: Path = args.chart
    if not (chart / "Chart.yaml").is_file():
        parser.error(f"{chart} is not a Helm chart (no Chart.yaml): run from the repository root")
    changed = stale(chart) if args.check else write(chart)
    for path in changed:
        print(f"{'stale' if args.check else 'updated'}: {path}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
