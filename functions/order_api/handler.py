"""The API function: routes requests to the order domain and maps its errors to HTTP.

Unknown routes and wrong methods reach this function too (API Gateway sends every path
here), so they get problem+json answers like every other error.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from order_api.problems import HttpProblem, parse_json_body
from orders import service
from orders.errors import (
    CallbackRefused,
    DomainError,
    IdempotencyKeyReused,
    OrderNotFound,
    ProductNotFound,
    QueueUnavailable,
    RequestInProgress,
)
from orders.models import SKU_PATTERN, PlaceOrder, ProblemField
from shared.observability import CORRELATION_ID_HEADER, logger, metrics
from shared.settings import get_settings

app = APIGatewayRestResolver()

# (method, resource path) of every route, in API Gateway's syntax, and the OAuth2 scopes that
# grant it (any one); a test holds both to the topology.
ROUTES: list[tuple[str, str]] = []
SCOPES: dict[tuple[str, str], tuple[str, ...]] = {}

READ, WRITE = "orders/read", "orders/write"
# What path parameters and headers may hold (the OpenAPI document publishes these patterns).
ORDER_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SKU = re.compile(SKU_PATTERN)
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def route(
    method: str, path: str, scopes: tuple[str, ...]
) -> Callable[[Callable[..., Response[str]]], Callable[..., Response[str]]]:
    """Register a route by its API Gateway path (`/orders/{orderId}`) and the scopes it needs.

    The authorizer checks the scopes; the function checks them again, because a path the
    authorizer saw differently (`/orders/` under the catch-all) can still reach this route.
    """
    ROUTES.append((method, path))
    SCOPES[method, path] = scopes
    snake = re.sub(r"\{(\w+)\}", lambda m: "<" + _snake(m.group(1)) + ">", path)

    def register(handler: Callable[..., Response[str]]) -> Callable[..., Response[str]]:
        @functools.wraps(handler)
        def guarded(**parameters: str) -> Response[str]:
            current_client()  # 401 first, without verified claims
            granted = str(app.current_event.request_context.authorizer.claims.get("scope", ""))
            if not set(granted.split()) & set(scopes):
                raise HttpProblem(
                    403, "insufficient-scope", "Forbidden", f"needs one of {', '.join(scopes)}"
                )
            return handler(**parameters)

        app.route(snake, method=method)(guarded)
        return handler

    return register


def current_client() -> str:
    """The OAuth2 client calling, from the claims API Gateway's authorizer verified."""
    claims = app.current_event.request_context.authorizer.claims
    client_id = claims.get("client_id")
    if not client_id:  # only reachable if the API were deployed without its authorizer
        raise HttpProblem(401, "unauthenticated", "Unauthenticated", "no verified client")
    return str(client_id)


@route("GET", "/products", (READ,))
def list_products() -> Response[str]:
    return _json(200, service.list_products())


@route("GET", "/products/{sku}", (READ,))
def get_product(sku: str) -> Response[str]:
    if not SKU.fullmatch(sku):
        raise ProductNotFound(sku)
    return _json(200, service.get_product(sku))


@route("POST", "/orders", (WRITE,))
def place_order() -> Response[str]:
    request = parse_json_body(app.current_event, PlaceOrder, get_settings().max_body_bytes)
    correlation_id, base_path = logger.get_correlation_id() or "", _base_path()
    client = current_client()
    key = app.current_event.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        accepted = service.place_order(request, client, correlation_id, base_path)
    elif not IDEMPOTENCY_KEY.fullmatch(key):
        raise HttpProblem(
            400,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            "use 1 to 255 visible ASCII characters",
        )
    else:
        # Imported on first use: Powertools idempotency costs ~150 ms of cold start.
        from order_api import idempotency

        idempotency.register_invocation(app.lambda_context)
        accepted = idempotency.place_order(key, request, client, correlation_id, base_path)
    return _json(202, accepted, headers={"Location": accepted.links.self})


@route("GET", "/orders/{orderId}", (READ,))
def get_order(order_id: str) -> Response[str]:
    if not ORDER_ID.fullmatch(order_id):
        raise OrderNotFound(order_id)
    return _json(200, service.get_order(order_id, current_client()))


# Errors: every refusal is rendered here, once -------------------------------------------------

_DOMAIN_ERRORS: dict[type[DomainError], tuple[int, str, str]] = {
    ProductNotFound: (404, "not-found", "Product not found"),
    OrderNotFound: (404, "not-found", "Order not found"),
    QueueUnavailable: (503, "queue-unavailable", "The order could not be accepted right now"),
    RequestInProgress: (409, "request-in-progress", "A request with this key is in progress"),
    IdempotencyKeyReused: (
        422,
        "idempotency-key-reused",
        "Idempotency-Key reused with another body",
    ),
}


@app.exception_handler(HttpProblem)
def _refused(problem: HttpProblem) -> Response[str]:
    return problem.response(instance=app.current_event.path)


@app.exception_handler(CallbackRefused)
def _callback_refused(error: CallbackRefused) -> Response[str]:
    return HttpProblem(
        422,
        "validation-failed",
        "The request body is not valid",
        "the callbackUrl may not be called",
        errors=[ProblemField(pointer="/callbackUrl", detail=str(error))],
    ).response(instance=app.current_event.path)


@app.exception_handler(DomainError)
def _domain_error(error: DomainError) -> Response[str]:
    status, kind, title = _DOMAIN_ERRORS.get(type(error), (500, "internal-error", "Internal error"))
    detail = "retry later; nothing was recorded" if status == 503 else str(error)
    headers = {"Retry-After": "1"} if status in (409, 503) else None
    return HttpProblem(status, kind, title, detail, headers=headers).response(
        instance=app.current_event.path
    )


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[str]:
    logger.exception("Unhandled error")
    return HttpProblem(500, "internal-error", "Internal error").response(
        instance=app.current_event.path
    )


@app.not_found
def _no_route(_: NotFoundError) -> Response[str]:
    event = app.current_event
    allowed = sorted({m for m, p in ROUTES if _path_matches(p, event.path)})
    if allowed:
        return HttpProblem(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"{event.http_method} is not allowed here; use {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        ).response(instance=event.path)
    return HttpProblem(404, "not-found", "Not found", f"no route for {event.path}").response(
        instance=event.path
    )


# Entry point ---------------------------------------------------------------------------------


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    correlation_id = _correlation_id(event)
    logger.set_correlation_id(correlation_id)
    response = app.resolve(event, context)
    response.setdefault("multiValueHeaders", {})[CORRELATION_ID_HEADER] = [correlation_id]
    return response


def _correlation_id(event: dict[str, Any]) -> str:
    """The caller's id when it is well formed, else API Gateway's request id."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    supplied = headers.get(CORRELATION_ID_HEADER.lower())
    if supplied and CORRELATION_ID.fullmatch(supplied):
        return str(supplied)
    return str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())


def _base_path() -> str:
    """The stage prefix (`/v1`) when called through API Gateway's default endpoint."""
    event = app.current_event
    full = event.request_context.path or event.path
    return full[: -len(event.path)] if full.endswith(event.path) else ""


def _json(status: int, body: BaseModel, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=body.model_dump_json(by_alias=True),
        headers=headers,
    )


def _path_matches(template: str, path: str) -> bool:
    return re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path) is not None
