"""HTTP edge of the API: request body parsing and RFC 9457 problem answers, in one place."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ValidationError

from orders.models import Problem, ProblemField

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:orders-api:problem:"

Model = TypeVar("Model", bound=BaseModel)


class HttpProblem(Exception):
    """An answer to a request the API refuses; raised anywhere on the edge, rendered once."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        errors: list[ProblemField] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.problem = Problem(
            type=TYPE_PREFIX + kind, title=title, status=status, detail=detail, errors=errors
        )
        self.headers = headers or {}

    def response(self, instance: str | None = None) -> Response[str]:
        body = self.problem.model_copy(update={"instance": instance})
        return Response(
            status_code=self.problem.status,
            content_type=PROBLEM_JSON,
            body=body.model_dump_json(exclude_none=True, by_alias=True),
            headers=self.headers,
        )


def parse_json_body(event: APIGatewayProxyEvent, model: type[Model], max_bytes: int) -> Model:
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
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise HttpProblem(400, "malformed-json", "Malformed JSON", str(error)) from error
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


def _body_bytes(event: APIGatewayProxyEvent) -> bytes:
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
