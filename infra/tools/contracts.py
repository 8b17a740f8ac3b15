"""Generate events/ from its single sources: the JSON Schemas from the Pydantic models (the API's
bodies, and every message type in the registry), and the OpenAPI document from the topology's
routes (operation metadata, scopes), the models and the API function's own patterns.

    make contracts        # rewrite the committed files
A test regenerates in memory and fails when the committed files drift.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = REPO / "events" / "schemas"
OPENAPI_FILE = REPO / "events" / "openapi.json"
sys.path.insert(0, str(REPO / "functions"))

# functions/ is the Lambda code root, not a package: these imports need the path above.
import messages  # noqa: E402  (registers every message type)
from infra.tools.compatibility import breaking_changes  # noqa: E402
from infra.topology import (  # noqa: E402
    ACCESS_TOKEN_MINUTES,
    API_KEY_HEADER,
    CORRELATION_ID_HEADER,
    IDEMPOTENCY_KEY_HEADER,
    PROBLEM_TYPE_PREFIX,
    SCOPES,
    TOPOLOGY,
    Operation,
    Route,
)
from orders.api import http  # noqa: E402
from orders.api.problems import PROBLEM_JSON, Problem  # noqa: E402
from orders.domain import models  # noqa: E402
from shared.envelope import REGISTRY  # noqa: E402

TYPE_PREFIX = PROBLEM_TYPE_PREFIX
Mode = Literal["validation", "serialization"]

# file stem -> (model, what the schema describes: what we accept or what we send)
API_CONTRACTS: dict[str, tuple[type[BaseModel], Mode]] = {
    "api/place-order.request": (models.PlaceOrder, "validation"),
    "api/order-accepted.response": (http.OrderAccepted, "serialization"),
    "api/order.response": (models.Order, "serialization"),
    "api/product.response": (models.Product, "serialization"),
    "api/product-list.response": (models.ProductList, "serialization"),
    "api/problem.response": (Problem, "serialization"),
    "webhooks/order-event.payload": (models.WebhookPayload, "serialization"),
}
# every registered message type, as its consumers validate it
CONTRACTS: dict[str, tuple[type[BaseModel], Mode]] = API_CONTRACTS | {
    entry.schema_stem: (entry.model, "validation") for entry in REGISTRY.values()
}
assert messages.__all__  # the import above is what fills the registry


def render() -> dict[Path, str]:
    """Every generated file's path and exact text: the schemas, then the OpenAPI document."""
    files: dict[Path, str] = {}
    for stem, (model, mode) in CONTRACTS.items():
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:orders-api:schema:{stem}",
            **model.model_json_schema(by_alias=True, mode=mode),
        }
        files[SCHEMAS_DIR / f"{stem}.schema.json"] = json.dumps(schema, indent=2) + "\n"
    files[OPENAPI_FILE] = json.dumps(openapi(), indent=2) + "\n"
    return files


# The OpenAPI document ----------------------------------------------------------------------

LOCAL_SERVER = "http://127.0.0.1:3000"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path; the local runtime's (infra.local.auth)
SECURITY_SCHEME = "oauth2"
API_KEY_SCHEME = "apiKey"
CORRELATED = {CORRELATION_ID_HEADER: False}  # the function sets it on all its answers


# Answers every operation can get: API Gateway's own (its authorizer, throttling, a failed or
# timed-out function) and the function's last resort. Components/responses names.
EVERY_OPERATION: dict[int, str] = {
    401: "Unauthorized",
    403: "Forbidden",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    504: "GatewayTimeout",
}
SHARED_ANSWERS: dict[str, tuple[str, dict[str, bool]]] = {
    "Unauthorized": (
        "No bearer token, or not a valid, unexpired access token from the token endpoint "
        "(API Gateway's authorizer answers, `gateway-UNAUTHORIZED`).",
        {"WWW-Authenticate": True},
    ),
    "Forbidden": ("The token carries none of the operation's scopes.", {}),
    "TooManyRequests": (
        "Throttled by the stage's rate limit (on AWS; the local runtime does not throttle).",
        {},
    ),
    "InternalError": (
        "An unexpected failure in the API function. For `placeOrder` the outcome is unknown: "
        f"retry with the same `{IDEMPOTENCY_KEY_HEADER}` to learn it.",
        CORRELATED,
    ),
    "BadGateway": (
        "The function failed or gave a malformed answer (`gateway-DEFAULT_5XX`). Outcome "
        f"unknown: retry (`placeOrder` with the same `{IDEMPOTENCY_KEY_HEADER}`).",
        {},
    ),
    "GatewayTimeout": (
        "The function did not answer in time (`gateway-INTEGRATION_TIMEOUT`). Outcome "
        f"unknown: retry (`placeOrder` with the same `{IDEMPOTENCY_KEY_HEADER}`).",
        {},
    ),
    # Not per operation: any path with a method it does not have.
    "MethodNotAllowed": (
        "The path exists but not with this method; `Allow` lists those it has.",
        CORRELATED | {"Allow": True},
    ),
}

INFO_DESCRIPTION = f"""\
Place orders and follow them. `POST /orders` answers `202 Accepted` at once with the order's \
status link (`Location`); a worker settles the order behind a queue, and `GET /orders/{{orderId}}` \
shows it `CONFIRMED` or `REJECTED`. With a `callbackUrl`, the outcome is also delivered as a \
signed webhook (Standard Webhooks).

**Authentication**: OAuth2 client credentials. Get an access token from the token endpoint \
(locally `POST {TOKEN_PATH}` on the API's own host; on AWS the Cognito domain's \
`{TOKEN_PATH}`, stack output `TokenUrl`) and send it as `Authorization: Bearer <token>`. \
Tokens last {ACCESS_TOKEN_MINUTES} minutes; each operation needs one of its scopes.

**Errors** are `{PROBLEM_JSON}` (RFC 9457) with a stable `type`: `{TYPE_PREFIX}<kind>`, or \
`{TYPE_PREFIX}gateway-<TYPE>` when API Gateway answers itself. Besides each operation's answers, \
an unknown path is answered 404 and a known path with another method 405 with an `Allow` \
header (both with a valid token).

**Tracing**: send `{CORRELATION_ID_HEADER}` to follow a request through the logs and every \
message it causes; it is echoed on the function's answers (API Gateway's request id when \
absent or malformed).

Money is integer minor units with an ISO 4217 currency. On AWS every path carries the stage \
prefix (`/v1`), and so do the links the API answers.

Generated by `make contracts` (infra/tools/contracts.py) from the models, the topology and the API \
function: do not edit by hand."""


def openapi() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document."""
    routes = TOPOLOGY.routes
    undocumented = [f"{r.method} {r.path}" for r in routes if r.operation is None]
    if undocumented:
        raise ValueError(f"routes without operation metadata: {undocumented}")
    bodies: list[tuple[type[BaseModel], Mode]] = [(Problem, "serialization")]
    for route in routes:
        if route.request_body is not None:
            bodies.append(API_CONTRACTS[route.request_body])
        bodies += [API_CONTRACTS[a.body] for a in _operation_of(route).answers.values() if a.body]
    _, schemas = models_json_schema(
        list(dict.fromkeys(bodies)), by_alias=True, ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Async Orders API",
            "version": project["version"],
            "summary": project["description"],
            "description": INFO_DESCRIPTION,
            "license": {"name": project["license"], "identifier": project["license"]},
        },
        "servers": [
            {"url": LOCAL_SERVER, "description": "`make run`: the local runtime (HOST, PORT)"},
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/v1",
                "description": "The deployed stack (stack output `ApiUrl`)",
                "variables": {
                    "restApiId": {"default": "restApiId", "description": "The REST API's id"},
                    "region": {"default": "us-east-1"},
                },
            },
        ],
        "tags": [
            {"name": "products", "description": "The catalog: prices and stock."},
            {"name": "orders", "description": "Placing orders and following them."},
        ],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas["$defs"].items())),
            "responses": {
                name: _problem_answer(description, headers)
                for name, (description, headers) in SHARED_ANSWERS.items()
            },
            "parameters": _parameters(),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "oauth2",
                    "description": (
                        "OAuth2 client credentials. Locally the token endpoint is "
                        f"`{TOKEN_PATH}` on the API's own host (this relative URL); on AWS "
                        f"it is the Cognito domain's `{TOKEN_PATH}`: the stack output "
                        "`TokenUrl`. Send the client id and secret by HTTP Basic."
                    ),
                    "flows": {
                        "clientCredentials": {"tokenUrl": TOKEN_PATH, "scopes": dict(SCOPES)}
                    },
                },
                API_KEY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": API_KEY_HEADER,
                    "description": (
                        "The API key of the client's usage plan (its rate, burst and daily "
                        "quota). Locally `make run` prints it; on AWS: `aws apigateway "
                        "get-api-key --api-key <stack output ...ApiKeyId> --include-value`."
                    ),
                },
            },
        },
    }


def _operation_of(route: Route) -> Operation:
    assert route.operation is not None
    return route.operation


def _operation(route: Route) -> dict[str, Any]:
    operation = _operation_of(route)
    parameters = [_ref("parameters", name) for name in route.parameters]
    parameters += [_ref("parameters", name) for name in operation.headers]
    parameters.append(_ref("parameters", CORRELATION_ID_HEADER))
    responses: dict[str, Any] = {}
    for status, answer in operation.answers.items():
        if answer.body is None:
            responses[str(status)] = _problem_answer(answer.description, answer.headers)
        else:
            model = API_CONTRACTS[answer.body][0]
            responses[str(status)] = {
                "description": answer.description,
                "headers": _header_objects(answer.headers),
                "content": {"application/json": {"schema": _ref("schemas", model.__name__)}},
            } | ({"links": operation.links} if operation.links and status < 300 else {})
    responses |= {str(status): _ref("responses", name) for status, name in EVERY_OPERATION.items()}
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
        "description": operation.description,
        # any one of the scopes, always with the API key
        "security": [{SECURITY_SCHEME: [scope], API_KEY_SCHEME: []} for scope in route.scopes],
        "parameters": parameters,
    }
    if route.request_body is not None:
        request = API_CONTRACTS[route.request_body][0]
        example = json.loads(_sample_body(f"api/{_snake(operation.operation_id)}"))
        document["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _ref("schemas", request.__name__),
                    "example": example,
                }
            },
        }
    document["responses"] = dict(sorted(responses.items()))
    return document


def _problem_answer(description: str, headers: dict[str, bool]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _header_objects(headers),
        "content": {PROBLEM_JSON: {"schema": _ref("schemas", Problem.__name__)}},
    }


def _parameters() -> dict[str, Any]:
    """Path parameters with the patterns the API function checks, and the request headers."""
    return {
        "sku": {
            "name": "sku",
            "in": "path",
            "required": True,
            "schema": TypeAdapter(models.Sku).json_schema(),
        },
        "orderId": {
            "name": "orderId",
            "in": "path",
            "required": True,
            "description": "The order's id, a UUIDv7 (lowercase) as the 202 answer gave it.",
            "schema": {"type": "string", "format": "uuid", "pattern": http.ORDER_ID.pattern},
        },
        IDEMPOTENCY_KEY_HEADER: {
            "name": IDEMPOTENCY_KEY_HEADER,
            "in": "header",
            "required": False,
            "description": (
                "Makes a retry safe: the same key and body answer the first 202 again and make "
                "one order (per client, for 24 hours)."
            ),
            "schema": {"type": "string", "pattern": http.IDEMPOTENCY_KEY.pattern},
        },
        CORRELATION_ID_HEADER: {
            "name": CORRELATION_ID_HEADER,
            "in": "header",
            "required": False,
            "description": (
                "Your id for this request, carried into every log line and message of the work "
                "it starts: 1 to 128 of `A-Z a-z 0-9 . _ : -`. Any other value (empty, too long, "
                "other characters) is not refused: it is replaced by API Gateway's request id, "
                "which the answer's `X-Correlation-Id` then carries."
            ),
            "schema": {"type": "string"},
        },
    }


def _headers() -> dict[str, Any]:
    """Every response header the API sends."""
    return {
        CORRELATION_ID_HEADER: {
            "description": "The request's correlation id: yours if well formed, else generated.",
            "schema": {"type": "string", "pattern": http.CORRELATION_ID.pattern},
        },
        "Location": {
            "description": "The order's status URL (with the stage prefix on AWS).",
            "schema": {"type": "string", "format": "uri-reference"},
        },
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 0},
        },
        "WWW-Authenticate": {
            "description": "The scheme to authenticate with (RFC 6750).",
            "schema": {"type": "string"},
        },
        "Allow": {
            "description": "The methods the path has.",
            "schema": {"type": "string"},
        },
    }


def _header_objects(headers: dict[str, bool]) -> dict[str, Any]:
    """Response headers, inline: only there can a header be declared required."""
    objects = _headers()
    return {
        name: objects[name] | ({"required": True} if required else {})
        for name, required in headers.items()
    }


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _sample_body(name: str) -> str:
    """The body of a sample API event in events/samples: the request's example."""
    event = json.loads((REPO / "events" / "samples" / f"{name}.json").read_text())
    return str(event["body"])


def main() -> None:
    files = render()
    breaks = {
        path: problems
        for path, text in files.items()
        if path.parent == SCHEMAS_DIR / "messages" and path.is_file()
        if (problems := breaking_changes(json.loads(path.read_text()), json.loads(text)))
    }
    if breaks:
        for path, problems in breaks.items():
            print(f"{path.relative_to(REPO)} is published; this change breaks it:")
            print("\n".join(f"  {problem}" for problem in problems))
        print("Add a new version of the message instead (docs/extending.md).")
        raise SystemExit(1)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
