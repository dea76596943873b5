"""``orderflow``: the one console script (api, worker, migrate, seed, traffic, dev)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from orderflow.settings import SettingsError, get_settings


def _api(_: argparse.Namespace) -> None:
    import uvicorn

    from orderflow.api.app import create_asgi
    from orderflow.gc_tuning import settle_startup_heap
    from orderflow.telemetry.profiling import start_profiling
    from orderflow.telemetry.setup import configure_telemetry

    settings = get_settings()
    telemetry = configure_telemetry("orderflow-api", settings.app.environment)
    profiling = start_profiling(settings.profiling, "orderflow-api")
    # uvicorn puts back the SIGTERM handler it found and raises SIGTERM again once it has shut
    # down gracefully: with the default handler the process died right there, before the
    # flushes below (the last spans, logs, metrics and profile of a stopping pod).
    signal.signal(signal.SIGTERM, _exit_after_graceful_stop)
    app = create_asgi(settings)
    settle_startup_heap()
    try:
        _serve_api(uvicorn, app, settings)
    finally:
        profiling.shutdown()
        telemetry.shutdown()


def _exit_after_graceful_stop(signum: int, frame: object) -> None:
    raise SystemExit(0)  # through the ``finally`` of ``_api``


def _serve_api(uvicorn: Any, app: Any, settings: Any) -> None:
    uvicorn.run(
        app,
        host=settings.app.host,
        port=settings.app.port,
        log_config=None,  # our JSON logging stays in charge
        access_log=False,  # the server span and metrics record every request
        timeout_graceful_shutdown=20,
        proxy_headers=True,
        server_header=False,
    )


def _worker(_: argparse.Namespace) -> None:
    from orderflow.telemetry.profiling import start_profiling
    from orderflow.telemetry.setup import configure_telemetry
    from orderflow.worker.main import run

    settings = get_settings()
    telemetry = configure_telemetry("orderflow-worker", settings.app.environment)
    profiling = start_profiling(settings.profiling, "orderflow-worker")
    try:
        run(settings)
    finally:
        profiling.shutdown()
        telemetry.shutdown()


def _migrate(args: argparse.Namespace) -> None:
    from orderflow.db import migrate

    url = get_settings().database.url
    if args.action == "up":
        migrate.upgrade(url, args.revision or "head", wait_seconds=args.wait_seconds)
        if args.seed:
            _seed(args)
    elif args.action == "down":
        migrate.downgrade(url, args.revision or "-1")
    elif args.action == "version":
        migrate.current(url)
    else:
        if not args.revision:
            raise SystemExit("usage: orderflow migrate create NAME")
        migrate.create(url, args.revision)


def _seed(_: argparse.Namespace) -> None:
    from orderflow.resources import Resources
    from orderflow.seed import seed_catalog

    async def seed() -> int:
        resources = Resources.open(get_settings())
        try:
            async with resources.sessions() as session:
                return await seed_catalog(session)
        finally:
            await resources.close()

    print(f"seeded {asyncio.run(seed())} new products")


def _staff(args: argparse.Namespace) -> None:
    """Staff are made here, by whoever can reach the database, never through the API."""
    from orderflow.domain.users.roles import Role
    from orderflow.domain.users.service import set_role
    from orderflow.resources import Resources

    role = Role.STAFF if args.action == "grant" else Role.CUSTOMER

    async def change() -> bool:
        resources = Resources.open(get_settings())
        try:
            async with resources.sessions() as session:
                return await set_role(session, args.email, role)
        finally:
            await resources.close()

    if not asyncio.run(change()):
        raise SystemExit(f"orderflow: no user with email {args.email!r}")
    print(f"{args.email}: {role}")


def _traffic(args: argparse.Namespace) -> None:
    from orderflow.traffic import run_traffic

    summary = asyncio.run(
        run_traffic(
            args.base_url,
            orders=args.orders,
            concurrency=args.concurrency,
            sleep=args.sleep,
            duration=args.duration,
        )
    )
    print(summary.render())
    if summary.unexpected:
        raise SystemExit(1)


def _dev(_: argparse.Namespace) -> None:
    from orderflow.devrun import run_dev

    run_dev()


def _settings(args: argparse.Namespace) -> None:
    from pathlib import Path

    from orderflow.settings_docs import markdown_table, readme_with_table

    if args.write_readme:
        readme = Path(args.write_readme)
        readme.write_text(readme_with_table(readme.read_text()))
    else:
        print(markdown_table(), end="")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("api", help="serve the HTTP API").set_defaults(run=_api)
    commands.add_parser("worker", help="run the job worker and outbox relay").set_defaults(
        run=_worker
    )
    migrate = commands.add_parser("migrate", help="database migrations")
    migrate.add_argument("action", choices=["up", "down", "version", "create"])
    migrate.add_argument("revision", nargs="?", help="target revision, or NAME for create")
    migrate.add_argument(
        "--wait-seconds",
        type=float,
        default=0.0,
        help="up: wait this long for the database to accept connections (a starting pod)",
    )
    migrate.add_argument(
        "--seed", action="store_true", help="up: then load the demo catalog (idempotent)"
    )
    migrate.set_defaults(run=_migrate)
    commands.add_parser("seed", help="load the demo catalog").set_defaults(run=_seed)
    staff = commands.add_parser("staff", help="grant or revoke the staff role (fulfilment)")
    staff.add_argument("action", choices=["grant", "revoke"])
    staff.add_argument("email", help="the registered user's email")
    staff.set_defaults(run=_staff)
    traffic = commands.add_parser("traffic", help="drive every endpoint in a realistic mix")
    traffic.add_argument("--base-url", default="http://127.0.0.1:8080")
    traffic.add_argument("--orders", type=int, default=20, help="orders to place, in total")
    traffic.add_argument("--concurrency", type=int, default=4, help="simulated shoppers")
    traffic.add_argument("--sleep", type=float, default=0.0, help="pause between actions (s)")
    traffic.add_argument("--duration", type=float, default=0.0, help="keep going for N seconds")
    traffic.set_defaults(run=_traffic)
    commands.add_parser(
        "dev", help="run everything locally: throwaway PostgreSQL/Redis, API, worker"
    ).set_defaults(run=_dev)
    settings = commands.add_parser(
        "settings", help="print the configuration reference (every environment variable)"
    )
    settings.add_argument("--markdown", action="store_true", help="as a Markdown table (default)")
    settings.add_argument(
        "--write-readme", metavar="PATH", help="replace the table between the markers in PATH"
    )
    settings.set_defaults(run=_settings)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from orderflow.telemetry.logs import configure_logging

    configure_logging()
    try:
        args.run(args)
    except SettingsError as exc:
        print(f"orderflow: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
