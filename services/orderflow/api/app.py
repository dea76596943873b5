"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.types import ASGIApp

import orderflow
from orderflow.api.chaos import chaos_middleware
from orderflow.api.deps import provide_context
from orderflow.api.errors import EXCEPTION_HANDLERS
from orderflow.api.routes.articles import ArticleController
from orderflow.api.routes.catalog import CatalogController
from orderflow.api.routes.health import health_handlers
from orderflow.api.routes.metrics import metrics
from orderflow.api.routes.orders import order_router
from orderflow.api.routes.sink import email_sink
from orderflow.api.routes.users import UserController
from orderflow.domain.users.security import TokenCodec
from orderflow.resources import Resources
from orderflow.settings import Settings
from orderflow.telemetry.asgi import ServerTelemetryMiddleware


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        resources = Resources.open(settings)
        app.state.resources = resources
        try:
            yield
        finally:
            await resources.close()

    middleware = []
    if settings.chaos.latency_ms or settings.chaos.error_rate:
        middleware.append(chaos_middleware(settings.chaos))

    app = Litestar(
        route_handlers=[
            *health_handlers,
            metrics,
            UserController,
            ArticleController,
            CatalogController,
            order_router,
            email_sink,
        ],
        dependencies={
            "ctx": Provide(provide_context),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware,
        lifespan=[lifespan],
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
