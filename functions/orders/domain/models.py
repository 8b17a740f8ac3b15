"""The order domain's models: API bodies, the stored order and the webhook payload it owes.

The single source of the API's JSON Schemas in events/schemas/api and events/schemas/webhooks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
)
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from pydantic import HttpUrl

MAX_ITEMS_PER_ORDER = 25  # a DynamoDB transaction holds 100 items: 25 SKUs + the order fit
MAX_QUANTITY = 1000

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
Sku = Annotated[str, Field(pattern=SKU_PATTERN, examples=["KB-001"])]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in code; unknown fields are refused.

    Validators are built at a model's first use, not at import (`defer_build`): each function
    builds only the models its invocations use (cold start; docs/performance.md)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        defer_build=True,
    )


class OrderStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"


class Money(ApiModel):
    amount: int = Field(ge=0, description="Integer minor units (cents for USD).")
    currency: CurrencyCode


class Product(ApiModel):
    sku: Sku
    name: str
    unit_price: Money
    available: int = Field(ge=0)


class ProductList(ApiModel):
    items: list[Product]


class RequestModel(ApiModel):
    """A request body: only the camelCase names of the published schema are accepted."""

    model_config = ConfigDict(validate_by_name=False, validate_by_alias=True)


def _json_integer(value: object) -> object:
    """Numbers only: Pydantic would otherwise turn "2" and true into 2."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    return value


def _http_url(value: str) -> str:
    """An absolute http(s) URL, kept exactly as sent (its length is checked as sent, too)."""
    _http_url_adapter().validate_python(value)
    return value


@cache
def _http_url_adapter() -> TypeAdapter[HttpUrl]:
    """Built at the first callbackUrl, not at import: importing `pydantic.networks` (where
    `HttpUrl` lives) costs ~20 ms of every cold start otherwise, callback or not."""
    from pydantic import HttpUrl

    return TypeAdapter(HttpUrl)


class OrderLine(RequestModel):
    sku: Sku
    # a JSON integer (2.0 is one, per JSON Schema); "2" and true are refused
    quantity: Annotated[int, BeforeValidator(_json_integer)] = Field(
        ge=1,
        le=MAX_QUANTITY,
        description="Send a plain integer (2). JSON Schema counts 2.0 as an integer too, but "
        "API Gateway's request validator (JSON Schema draft 4) refuses it with 400.",
    )


def _distinct_skus(lines: list[OrderLine]) -> list[OrderLine]:
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise ValueError("each SKU may appear once; sum the quantities instead")
    return lines


class PlaceOrder(RequestModel):
    """Body of POST /orders. Prices are never taken from the client."""

    customer_id: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    items: Annotated[
        list[OrderLine],
        Field(min_length=1, max_length=MAX_ITEMS_PER_ORDER),
        AfterValidator(_distinct_skus),
    ]
    callback_url: Annotated[str, AfterValidator(_http_url)] | None = Field(
        default=None, max_length=2048, json_schema_extra={"format": "uri"}
    )


class Accepted(ApiModel):
    """An order recorded and queued (the API adds its status link)."""

    order_id: str
    status: Literal[OrderStatus.ACCEPTED] = OrderStatus.ACCEPTED


class PricedLine(ApiModel):
    sku: Sku
    quantity: int
    unit_price: Money | None = Field(default=None, description="Set once the order is priced.")


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


EventType = Literal["order.confirmed", "order.rejected"]


class Notification(ApiModel):
    """How delivery of one webhook event to the order's callbackUrl went."""

    event_id: str
    type: EventType
    status: NotificationStatus
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    destination_paused: bool = Field(
        default=False,
        description="The callback's destination is paused after repeated failures: the event "
        "waits, unattempted, until `nextAttemptAt`, when one event probes it.",
    )


class OrderView(ApiModel):
    """An order as clients see it; the `data` of its webhook events."""

    order_id: str
    customer_id: str
    status: OrderStatus
    items: list[PricedLine]
    total: Money | None = None
    reason: str | None = Field(
        default=None, description="Why the order was rejected.", exclude_if=lambda v: v is None
    )
    created_at: datetime
    updated_at: datetime


class Order(OrderView):
    """Body of GET /orders/{orderId}."""

    notifications: list[Notification] = Field(default_factory=list)


class WebhookPayload(ApiModel):
    """The JSON body POSTed to a callbackUrl (Standard Webhooks' type/timestamp/data shape)."""

    type: EventType
    timestamp: datetime
    data: OrderView


class StoredOrder(Order):
    """An order as persisted: the public view plus what only the system needs."""

    correlation_id: str
    client_id: str | None = None  # the OAuth2 client that placed it: only it may read it
    callback_url: str | None = None
    idempotency_key: str | None = None
    # present only while ACCEPTED: puts the order in the sweeper's sparse index
    accepted_shard: str | None = None
    reenqueued: int = 0  # times the sweeper re-sent its message
    published_events: set[str] = Field(default_factory=set)  # events put on the notifications queue
