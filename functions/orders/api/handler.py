"""The API function: the app and its routes. Each route calls one domain function.

The routes (operation id -> method, path and scopes) come from the topology through the
API_ROUTES variable; this module binds each operation id to its code. Unknown routes and wrong
methods reach this function too (API Gateway sends every path here), so they get problem+json
answers like every other error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from functools import cache, wraps
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orders.api import http
from orders.api.problems import (
    PROBLEM_JSON,
    HttpProblem,
    callback_refused,
    for_domain_error,
)
from orders.api.rest import NotFound, Response, RestRouter
from orders.domain import service
from orders.domain.errors import CallbackRefused, DomainError, OrderNotFound, ProductNotFound
from orders.domain.models import SKU_PATTERN, Accepted, PlaceOrder
from orders.settings import ApiSettings
from shared.lifecycle import init_done
from shared.observability import CORRELATION_ID_HEADER, logger, metrics
from shared.settings import SettingsError, load_settings

SETTINGS = ApiSettings  # what this function reads from its environment

SKU = re.compile(SKU_PATTERN)
# API Gateway's path templates (`/orders/{orderId}`): the function's one parser of them
_TEMPLATE_PARAMETER = re.compile(r"\{(\w+)\}")


def list_products(settings: ApiSettings) -> Response[str]:
    return http.json_response(200, service.list_products(settings.store()))


def get_product(settings: ApiSettings, sku: str) -> Response[str]:
    if not SKU.fullmatch(sku):
        raise ProductNotFound(sku)
    return http.json_response(200, service.get_product(sku, settings.store()))


def place_order(settings: ApiSettings) -> Response[str]:
    event = _app().current_event
    request = http.parse_json_body(event, PlaceOrder, settings.max_body_bytes)
    key = http.idempotency_key(event)
    correlation_id, client = logger.get_correlation_id() or "", current_client()

    def place(idempotency_key: str | None = None) -> Accepted:
        return service.place_order(
            request,
            client,
            correlation_id,
            store=settings.store(),
            queues=settings.queues(),
            local_mode=settings.webhook_local_mode,
            idempotency_key=idempotency_key,
            idempotency_window=timedelta(seconds=settings.idempotency_window_seconds),
        )

    if key is None:
        accepted = place()
    else:
        # Imported on first use: only keyed requests load the key's records.
        from orders.api import idempotency

        accepted = idempotency.place_order(
            key, request, client, settings, _app().lambda_context, place
        )
    body = http.accepted_body(accepted, http.base_path(event))
    return http.json_response(202, body, headers={"Location": body.links.self})


def get_order(settings: ApiSettings, order_id: str) -> Response[str]:
    if not http.ORDER_ID.fullmatch(order_id):
        raise OrderNotFound(order_id)
    return http.json_response(200, service.get_order(order_id, settings.store(), current_client()))


# operation id (the topology's) -> its code
OPERATIONS: dict[str, Callable[..., Response[str]]] = {
    "listProducts": list_products,
    "getProduct": get_product,
    "placeOrder": place_order,
    "getOrder": get_order,
}


def current_client() -> str:
    """The OAuth2 client calling, from the claims API Gateway's authorizer verified."""
    claims = _app().current_event.request_context.authorizer.claims
    client_id = claims.get("client_id")
    if not client_id:  # only reachable if the API were deployed without its authorizer
        raise HttpProblem(401, "unauthenticated", "Unauthenticated", "no verified client")
    return str(client_id)


# The app: built once per environment from the routes it is given -----------------------------


@cache
def _build(routes_variable: str) -> RestRouter:
    settings = load_settings(ApiSettings)
    unknown = set(settings.api_routes) ^ set(OPERATIONS)
    if unknown:
        raise SettingsError(f"API_ROUTES and the code's operations differ: {sorted(unknown)}")
    app = RestRouter()
    for operation_id, spec in settings.api_routes.items():
        path = _TEMPLATE_PARAMETER.sub(lambda m: f"<{_snake(m.group(1))}>", spec.path)
        app.route(path, method=spec.method)(_guarded(OPERATIONS[operation_id], spec.scopes))
    _render_errors(app)
    return app


def _app() -> RestRouter:
    return _build(load_settings(ApiSettings).model_dump_json(include={"api_routes"}))


def _guarded(operation: Callable[..., Response[str]], scopes: list[str]) -> Callable[..., Any]:
    """The authorizer checks the scopes; the function checks them again, because a path the
    authorizer saw differently (`/orders/` under the catch-all) can still reach this route."""

    @wraps(operation)
    def guarded(**parameters: str) -> Response[str]:
        current_client()  # 401 first, without verified claims
        claims = _app().current_event.request_context.authorizer.claims
        if not set(str(claims.get("scope", "")).split()) & set(scopes):
            raise HttpProblem(
                403, "insufficient-scope", "Forbidden", f"needs one of {', '.join(scopes)}"
            )
        return operation(load_settings(ApiSettings), **parameters)

    return guarded


def _render_errors(app: RestRouter) -> None:
    """Every refusal is rendered here, once."""

    def answer(problem: HttpProblem) -> Response[str]:
        prefix = load_settings(ApiSettings).problem_type_prefix
        body = problem.body(prefix, instance=app.current_event.path)
        return Response(
            status_code=problem.status,
            content_type=PROBLEM_JSON,
            body=body.model_dump_json(exclude_none=True, by_alias=True),
            headers=problem.headers,
        )

    @app.exception_handler(HttpProblem)
    def _refused(problem: HttpProblem) -> Response[str]:
        return answer(problem)

    @app.exception_handler(CallbackRefused)
    def _callback_refused(error: CallbackRefused) -> Response[str]:
        return answer(callback_refused(str(error)))

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Response[str]:
        return answer(for_domain_error(error))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("Unhandled error")
        return answer(HttpProblem(500, "internal-error", "Internal error"))

    @app.not_found
    def _no_route(_: NotFound) -> Response[str]:
        event = app.current_event
        path = event.path.rstrip("/") or "/"
        routes = load_settings(ApiSettings).api_routes.values()
        allowed = sorted({r.method for r in routes if _path_matches(r.path, path)})
        if allowed:
            return answer(
                HttpProblem(
                    405,
                    "method-not-allowed",
                    "Method not allowed",
                    f"{event.http_method} is not allowed here; use {', '.join(allowed)}",
                    headers={"Allow": ", ".join(allowed)},
                )
            )
        return answer(HttpProblem(404, "not-found", "Not found", f"no route for {event.path}"))


# Entry point ---------------------------------------------------------------------------------


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    init_done()
    app = _app()  # validates the settings before the event is touched
    correlation_id = http.correlation_id(event)
    logger.set_correlation_id(correlation_id)
    response = app.resolve(event, context)
    response.setdefault("multiValueHeaders", {})[CORRELATION_ID_HEADER] = [correlation_id]
    return response


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _path_matches(template: str, path: str) -> bool:
    return re.fullmatch(_TEMPLATE_PARAMETER.sub("[^/]+", template), path) is not None
