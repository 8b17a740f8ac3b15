"""Messages of the notifications component: webhook events to deliver, and how each went.

The notifier knows nothing of orders: it delivers a JSON payload to a URL and reports back to
the producer with the `orderId` it was given.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.envelope import Envelope, message


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True
    )


class WebhookRequest(WireModel):
    event_id: str = Field(min_length=1, max_length=64)
    order_id: str = Field(min_length=1, max_length=64)
    callback_url: str = Field(min_length=1, max_length=2048)
    # the JSON body to POST: Standard Webhooks' {type, timestamp, data} shape
    payload: dict[str, Any]


@message("webhook.requested", 1)
class WebhookRequested(Envelope[WebhookRequest]):
    """On the notifications queue: one webhook event to deliver."""

    type: Literal["webhook.requested"] = "webhook.requested"
    version: Literal[1] = 1


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class DeliveryUpdate(WireModel):
    event_id: str = Field(min_length=1, max_length=64)
    order_id: str = Field(min_length=1, max_length=64)
    # grows with every update of the event: an older update arriving late changes nothing
    sequence: int = Field(ge=1)
    status: DeliveryStatus
    attempts: int = Field(ge=0)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=512)
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    # the destination's circuit is open: the event waits, unattempted, until `nextAttemptAt`
    destination_paused: bool = False


@message("webhook.delivery-updated", 1)
class WebhookDeliveryUpdated(Envelope[DeliveryUpdate]):
    """On the orders queue: how delivering one of an order's webhook events went."""

    type: Literal["webhook.delivery-updated"] = "webhook.delivery-updated"
    version: Literal[1] = 1
