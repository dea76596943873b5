"""The OpenAPI document, made to tell the truth.

Litestar documents what it can infer: success bodies, and a 400 in its own error shape. This
module finishes the document once, at startup, from what the handlers really do:

- every error answer is ``{"error", "trace_id"}`` (``Error``), with the statuses each operation
  can return, and ``Retry-After`` on 429 and 503;
- bearer authentication where it is required (and where it is optional);
- request bodies reject unknown fields (``additionalProperties: false``, as msgspec does);
- links from what a POST creates to the operations that use it, for clients and for stateful
  schema-driven testing.

tests/integration/test_openapi_fuzz.py holds the API to this document with schemathesis.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin  # the one that serves the document

from orderflow.api.fields import INT32_MAX, INT64_MAX

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "Every error answer; quote `trace_id` to find the request in logs/traces.",
    "required": ["error", "trace_id"],
    "properties": {
        "error": {"type": "string"},
        "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    },
    "additionalProperties": False,
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
WHY = {
    "400": "Malformed or mistyped input, or a value past a column's limit (the message names "
    "the field).",
    "401": "Missing, invalid, expired or revoked token.",
    "403": "Authenticated, but not allowed (someone else's article; fulfilment without staff).",
    "404": "Not found (someone else's order or reservation answers the same).",
    "409": "The current state forbids it (oversell, stale price, invalid transition, a limit), "
    "or a concurrent change got in the way.",
    "413": "Body larger than MAX_BODY_BYTES.",
    "422": "Well-formed input that breaks a rule.",
    "429": "Too many failed logins; see Retry-After.",
    "503": "The database is unavailable; see Retry-After.",
}
# Request bodies: msgspec structs with forbid_unknown_fields.
CLOSED_INPUTS = (
    "RegisterRequest",
    "LoginRequest",
    "NewArticle",
    "ArticleChanges",
    "NewReservation",
    "NewOrder",
    "NewOrderLine",
    "StatusChange",
)
AUTH, OPTIONAL_AUTH, NONE = "required", "optional", "none"

# (method, path) -> (authentication, error statuses beyond the ones every such operation has).
OPERATIONS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("post", "/api/register"): (NONE, ("409", "422")),
    ("post", "/api/login"): (NONE, ("401", "429")),
    ("post", "/api/logout"): (AUTH, ()),
    ("get", "/api/user"): (AUTH, ()),
    ("get", "/api/articles"): (OPTIONAL_AUTH, ()),
    ("post", "/api/articles"): (AUTH, ("409", "422")),
    ("get", "/api/articles/{slug}"): (OPTIONAL_AUTH, ("404",)),
    ("put", "/api/articles/{slug}"): (AUTH, ("403", "404", "409", "422")),
    ("delete", "/api/articles/{slug}"): (AUTH, ("403", "404", "409")),
    ("post", "/api/articles/{slug}/favorite"): (AUTH, ("404", "409")),
    ("delete", "/api/articles/{slug}/favorite"): (AUTH, ("404", "409")),
    ("get", "/api/stock"): (NONE, ()),
    ("get", "/api/stock/{item_id}"): (NONE, ("404",)),
    ("get", "/api/inventory/{item_id}"): (NONE, ("404",)),
    ("post", "/api/stock/{item_id}/reserve"): (AUTH, ("404", "409", "422")),
    ("get", "/api/reservations"): (AUTH, ()),
    ("delete", "/api/reservations/{reservation_id}"): (AUTH, ("404", "409")),
    ("post", "/api/orders"): (AUTH, ("404", "409", "422")),
    ("get", "/api/orders"): (AUTH, ()),
    ("get", "/api/orders-nplus1"): (AUTH, ()),
    ("get", "/api/orders/{order_id}"): (AUTH, ("404",)),
    ("patch", "/api/orders/{order_id}/status"): (AUTH, ("403", "404", "409")),
}
# Where what a POST created can be used next: (link name, operationId, parameter, expression).
LINKS: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {
    ("post", "/api/articles"): [
        (name, op, "slug", "$response.body#/article/slug")
        for name, op in (
            ("GetArticle", "ApiArticlesSlugGetArticle"),
            ("UpdateArticle", "ApiArticlesSlugUpdateArticle"),
            ("DeleteArticle", "ApiArticlesSlugDeleteArticle"),
            ("Favorite", "ApiArticlesSlugFavoriteFavorite"),
            ("Unfavorite", "ApiArticlesSlugFavoriteUnfavorite"),
        )
    ],
    ("post", "/api/stock/{item_id}/reserve"): [
        ("Release", "ApiReservationsReservationIdRelease", "reservation_id", "$response.body#/id")
    ],
    ("post", "/api/orders"): [
        ("GetOrder", "ApiOrdersOrderIdGetOrder", "order_id", "$response.body#/id"),
        ("ChangeStatus", "ApiOrdersOrderIdStatusChangeStatus", "order_id", "$response.body#/id"),
    ],
}
HEALTH_PATHS = ("/readyz", "/api/health")


def _error(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": WHY[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in {"429", "503"}:
        response["headers"] = RETRY_AFTER
    return response


# Litestar writes numeric bounds as floats, and 2**63 - 1 is no float: written as one it
# reads as 2**63, one past what the column and the validation take.
_EXACT_BOUNDS = {float(v): v for v in (INT32_MAX, -INT32_MAX, INT64_MAX, -INT64_MAX)}


def _exact_bounds(node: Any) -> None:
    if isinstance(node, dict):
        for key in ("maximum", "minimum"):
            bound = node.get(key)
            if isinstance(bound, float):
                node[key] = _EXACT_BOUNDS.get(bound, int(bound) if bound.is_integer() else bound)
        for value in node.values():
            _exact_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _exact_bounds(value)


def complete(document: dict[str, Any]) -> None:
    """Rewrite Litestar's generated document (a dict) in place."""
    _exact_bounds(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in CLOSED_INPUTS:
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                _complete_operation(method, path, operation)


def _complete_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    if path in HEALTH_PATHS:  # the report, with the failing dependency, is the body
        responses["503"] = {**responses["200"], "description": "A dependency is down."}
        return
    if (method, path) not in OPERATIONS:
        return
    auth, extra = OPERATIONS[(method, path)]
    for status in [code for code in responses if not code.startswith("2")]:
        del responses[status]  # Litestar's own error shape: never what we send
    statuses = {"503", *extra}
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add("400")
    if operation.get("requestBody"):
        statuses.add("413")
    if auth != NONE:
        statuses.add("401")
        operation["security"] = [{"bearer": []}] if auth == AUTH else [{}, {"bearer": []}]
    for status in sorted(statuses):
        responses[status] = _error(status)
    created = next(code for code in responses if code.startswith("2"))
    for name, target, parameter, expression in LINKS.get((method, path), []):
        responses[created].setdefault("links", {})[name] = {
            "operationId": target,
            "parameters": {parameter: expression},
        }


def finish(app: Litestar) -> None:
    """On startup: build the document once and complete it before anyone reads it."""
    complete(app.plugins.get(OpenAPIPlugin).provide_openapi_schema())
