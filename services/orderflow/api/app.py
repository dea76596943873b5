"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.types import ASGIApp

import orderflow
from orderflow.api import metrics_server, openapi, reservation_sweeper
from orderflow.api.allow import AllowMiddleware
from orderflow.api.chaos import chaos_middleware
from orderflow.api.deps import provide_context
from orderflow.api.errors import EXCEPTION_HANDLERS
from orderflow.api.login_throttle import LoginThrottle
from orderflow.api.routes.articles import ArticleController
from orderflow.api.routes.catalog import CatalogController
from orderflow.api.routes.health import health_handlers
from orderflow.api.routes.metrics import metrics
from orderflow.api.routes.orders import order_router
from orderflow.api.routes.sink import email_sink
from orderflow.api.routes.users import UserController
from orderflow.domain.users.security import PasswordHashing, TokenCodec
from orderflow.resources import Resources
from orderflow.settings import Settings
from orderflow.telemetry.asgi import ServerTelemetryMiddleware


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        resources = Resources.open(settings)
        app.state.resources = resources
        app.state.login_throttle = LoginThrottle(resources.redis, settings.auth)
        app.state.passwords = PasswordHashing(settings.auth.password_hash_threads)
        try:
            async with (
                reservation_sweeper.running(resources, settings.reservations.sweep_seconds),
                metrics_server.serving(settings.app.host, settings.app.metrics_port),
            ):
                yield
        finally:
            try:
                await resources.close()
            finally:
                app.state.passwords.close()

    middleware: list[Any] = [AllowMiddleware]
    if settings.chaos.latency_ms or settings.chaos.error_rate:
        middleware.append(chaos_middleware(settings.chaos))

    # Off the public port when they have their own place (settings: METRICS_PORT,
    # EMAIL_SINK_ENABLED): what users can reach is only what users need.
    optional_handlers = [
        *([] if settings.app.metrics_port else [metrics]),
        *([email_sink] if settings.app.email_sink_enabled else []),
    ]
    app = Litestar(
        route_handlers=[
            *health_handlers,
            UserController,
            ArticleController,
            CatalogController,
            order_router,
            *optional_handlers,
        ],
        dependencies={
            "ctx": Provide(provide_context),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware,
        lifespan=[lifespan],
        on_startup=[openapi.finish],
        request_max_body_size=settings.app.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="orderflow",
            version=orderflow.__version__,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=False,
        logging_config=None,  # structlog (telemetry.logs) owns logging
    )
    app.state.tokens = TokenCodec(settings.auth.jwt_secret, settings.auth.jwt_expires_in_seconds)
    return app


def create_asgi(settings: Settings) -> ASGIApp:
    """The served application: the Litestar app inside the server-span wrapper, which must sit
    outside Litestar to see unrouted requests too."""
    return ServerTelemetryMiddleware(create_app(settings))
