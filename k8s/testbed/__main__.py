"""CLI: ``python -m k8s.testbed start|stop|status|kubeconfig|load-image [--name NAME]``."""

from __future__ import annotations

import argparse
import sys

from k8s.testbed.cluster import Config, TestBed
from k8s.testbed.realnode import RealNode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8s.testbed", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "kubeconfig", "load-image"])
    parser.add_argument("images", nargs="*", help="load-image: Docker image references")
    parser.add_argument(
        "--name", default="default", help="run directory name (default: %(default)s)"
    )
    parser.add_argument(
        "--nodes", type=int, default=3, help="kwok fake nodes (default: %(default)s)"
    )
    parser.add_argument(
        "--real-node", action="store_true", help="also join a real kubelet + containerd node"
    )
    parser.add_argument(
        "--untainted",
        action="store_true",
        help="register the real node without its taint (pods need no toleration)",
    )
    args = parser.parse_intermixed_args(argv)

    config = Config(
        name=args.name,
        nodes=args.nodes,
        real_node=args.real_node,
        real_node_taint=not args.untainted,
    )
    bed = TestBed(config)
    if args.command == "start":
        bed.start()
        print(f"export KUBECONFIG={bed.kubeconfig}")
    elif args.command == "stop":
        bed.stop(remove=True)
        print(f"testbed {args.name}: stopped", file=sys.stderr)
    elif args.command == "load-image":
        # Real node only: kwok nodes run no containers, so they need no images.
        RealNode(bed).load_docker_images(args.images)
    elif args.command == "kubeconfig":
        print(bed.kubeconfig)
    else:
        status = bed.sup.status()
        for name, alive in status.items():
            print(f"{name:26} {'running' if alive else 'DEAD'}")
        if not status:
            print(f"testbed {args.name}: not running ({bed.run_dir})")
        return 0 if status and all(status.values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
