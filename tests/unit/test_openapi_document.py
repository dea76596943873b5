"""The OpenAPI completion covers every operation the app has: a new route without an entry in
the table would go out with Litestar's error shape, which the API never sends."""

from __future__ import annotations

from typing import Any

from litestar._openapi.plugin import OpenAPIPlugin

from orderflow.api.app import create_app
from orderflow.api.fields import INT64_MAX
from orderflow.api.openapi import CLOSED_INPUTS, HEALTH_PATHS, OPERATIONS, complete
from orderflow.settings import Settings


def document() -> dict[str, Any]:
    app = create_app(Settings())  # no lifespan: nothing connects
    schema: dict[str, Any] = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    complete(schema)
    return schema


def test_every_operation_is_described() -> None:
    paths = document()["paths"]
    served = {(m, p) for p, item in paths.items() for m in item if m != "parameters"}
    probes = {("get", "/healthz"), *(("get", p) for p in HEALTH_PATHS)}
    assert served - probes == set(OPERATIONS), "add the route to api/openapi.py OPERATIONS"


def test_errors_bodies_and_bounds_are_what_the_api_does() -> None:
    doc = document()
    for path, item in doc["paths"].items():
        if path in HEALTH_PATHS or path == "/healthz":
            continue
        for operation in item.values():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)
            if operation.get("requestBody"):
                assert "413" in operation["responses"]
    schemas = doc["components"]["schemas"]
    assert all(schemas[name]["additionalProperties"] is False for name in CLOSED_INPUTS)
    price = schemas["NewOrderLine"]["properties"]["price"]
    assert price["maximum"] == INT64_MAX and isinstance(price["maximum"], int)
