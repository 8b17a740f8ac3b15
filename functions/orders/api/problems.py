"""RFC 9457 problem answers, and the one mapping from domain errors to them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from orders.domain.errors import (
    DomainError,
    IdempotencyKeyReused,
    OrderNotFound,
    ProductNotFound,
    QueueUnavailable,
    RequestInProgress,
)
from orders.domain.models import ApiModel

PROBLEM_JSON = "application/problem+json"


class ProblemField(ApiModel):
    pointer: str = Field(description="JSON Pointer (RFC 6901) to the offending member.")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error answer."""

    model_config = ConfigDict(extra="allow", defer_build=True)  # built at the first refusal

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemField] | None = None


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
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.errors = errors
        self.headers = headers or {}

    def body(self, type_prefix: str, instance: str | None) -> Problem:
        return Problem(
            type=type_prefix + self.kind,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


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


def for_domain_error(error: DomainError) -> HttpProblem:
    status, kind, title = _DOMAIN_ERRORS.get(type(error), (500, "internal-error", "Internal error"))
    detail = "retry later; nothing was recorded" if status == 503 else str(error)
    headers = {"Retry-After": "1"} if status in (409, 503) else None
    return HttpProblem(status, kind, title, detail, headers=headers)


def callback_refused(reason: str) -> HttpProblem:
    return HttpProblem(
        422,
        "validation-failed",
        "The request body is not valid",
        "the callbackUrl may not be called",
        errors=[ProblemField(pointer="/callbackUrl", detail=reason)],
    )
