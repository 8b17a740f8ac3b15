"""The HTTP edge of the API: request bodies, headers, links and JSON answers.

Nothing here knows the domain's rules; the handler calls the domain with what this module
parsed and renders what it returns.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orders.api.problems import HttpProblem, ProblemField
from orders.api.rest import ProxyEvent, Response
from orders.domain.models import Accepted, ApiModel
from shared.observability import CORRELATION_ID_HEADER

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# What path parameters and headers may hold (the OpenAPI document publishes these patterns).
ORDER_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

Model = TypeVar("Model", bound=BaseModel)


class OrderLinks(ApiModel):
    self: str


class OrderAccepted(Accepted):
    """Body of the 202 answer to POST /orders: the order and its status link."""

    links: OrderLinks


def accepted_body(accepted: Accepted, base_path: str) -> OrderAccepted:
    link = f"{base_path}/orders/{accepted.order_id}"
    return OrderAccepted(order_id=accepted.order_id, links=OrderLinks(self=link))


def json_response(
    status: int, body: BaseModel, headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=body.model_dump_json(by_alias=True),
        headers=headers,
    )


def correlation_id(event: dict[str, Any]) -> str:
    """The caller's id when it is well formed, else API Gateway's request id."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    supplied = headers.get(CORRELATION_ID_HEADER.lower())
    if supplied and CORRELATION_ID.fullmatch(supplied):
        return str(supplied)
    return str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())


def base_path(event: ProxyEvent) -> str:
    """The stage prefix (`/v1`) when called through API Gateway's default endpoint."""
    full = event.request_context.path or event.path
    return full[: -len(event.path)] if full.endswith(event.path) else ""


def idempotency_key(event: ProxyEvent) -> str | None:
    key = event.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise HttpProblem(
            400,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            "use 1 to 255 visible ASCII characters",
        )
    return key


def parse_json_body(event: ProxyEvent, model: type[Model], max_bytes: int) -> Model:
    """The request body as `model`, or an HttpProblem: 415, 413, 400 or 422, in that order."""
    content_type = (event.headers.get("content-type") or "").split(";")[0].strip()
    if content_type.lower() != "application/json":
        raise HttpProblem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the body as application/json, not {content_type or 'no content type'}",
        )
    raw = _body_bytes(event)
    if len(raw) > max_bytes:
        raise HttpProblem(
            413, "payload-too-large", "Payload too large", f"the body limit is {max_bytes} bytes"
        )
    try:
        document: Any = json.loads(raw)
    except (ValueError, RecursionError) as error:
        # ValueError covers bad UTF-8, bad JSON and integers over Python's 4,300-digit limit
        raise HttpProblem(400, "malformed-json", "Malformed JSON", str(error)[:200]) from error
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise HttpProblem(
            422,
            "validation-failed",
            "The request body is not valid",
            f"{error.error_count()} field(s) failed validation",
            errors=[
                ProblemField(pointer=_pointer(e["loc"]), detail=e["msg"]) for e in error.errors()
            ],
        ) from error


def _body_bytes(event: ProxyEvent) -> bytes:
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode()
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise HttpProblem(400, "malformed-body", "Malformed body", "invalid base64") from error


def _pointer(location: tuple[int | str, ...]) -> str:
    """A JSON Pointer from a Pydantic error location (model-level errors point at the root)."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in location]
    return "".join(f"/{p}" for p in parts)
