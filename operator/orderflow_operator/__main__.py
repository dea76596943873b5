"""``python -m orderflow_operator``: run the operator (kopf) in this process.

    python -m orderflow_operator --namespace shop              # one or more namespaces
    python -m orderflow_operator --all-namespaces              # cluster-wide
    python -m orderflow_operator -n shop --peering orderflow-operator   # HA: one active

Credentials: the pod's ServiceAccount, else $KUBECONFIG. Ports: liveness (kopf's endpoint,
``/healthz``) and Prometheus metrics. OTLP traces when OTEL_EXPORTER_OTLP_ENDPOINT is set.
"""

from __future__ import annotations

import argparse
import os
import sys

import kopf

# Imported for its side effect: registers the handlers in kopf's default registry.
from orderflow_operator import (
    handlers,  # noqa: F401
    metrics,
    telemetry,
)
from orderflow_operator.checks import egress


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m orderflow_operator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="serve this namespace (repeatable); default: $WATCH_NAMESPACES (comma-separated)",
    )
    scope.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="serve every namespace (needs the cluster-wide RBAC)",
    )
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument(
        "--peering",
        default=env("KOPF_PEERING"),
        help="KopfPeering object name: replicas elect one active operator",
    )
    peering.add_argument(
        "--standalone",
        action="store_true",
        help="no peering (a single replica, or local development)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=int(env("KOPF_PRIORITY", "0")),
        help="peering priority; 0 = random per process (see handlers)",
    )
    parser.add_argument("--liveness-port", type=int, default=int(env("LIVENESS_PORT", "8080")))
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(env("METRICS_PORT", "9090")),
        help="0 disables the Prometheus endpoint",
    )
    parser.add_argument(
        "--allow-link-local",
        action="store_true",
        default=env("ALLOW_LINK_LOCAL_CHECKS", "") == "true",
        help="let checks reach link-local and cloud metadata addresses (refused by default)",
    )
    parser.add_argument("--text-logs", action="store_true", help="human-readable, not JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    namespaces = args.namespace or [
        ns.strip() for ns in os.environ.get("WATCH_NAMESPACES", "").split(",") if ns.strip()
    ]
    if not namespaces and not args.all_namespaces:
        print("name --namespace (or $WATCH_NAMESPACES) or --all-namespaces", file=sys.stderr)
        return 2
    telemetry.setup_logging(verbose=args.verbose, json_logs=not args.text_logs)
    egress.Egress.allow_link_local = args.allow_link_local
    telemetry.setup_tracing()
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    kopf.run(
        clusterwide=args.all_namespaces,
        namespaces=namespaces,
        standalone=args.standalone or not args.peering,
        peering_name=args.peering,
        priority=args.priority or None,
        liveness_endpoint=f"http://0.0.0.0:{args.liveness_port}/healthz"
        if args.liveness_port
        else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
