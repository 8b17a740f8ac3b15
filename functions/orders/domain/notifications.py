"""The webhook events a settled order owes, and handing them to the notifications component.

Each settled order with a callbackUrl owes exactly one event, whose id is derived from the order
and the outcome, so a redelivered order message republishes the same event, never a new one.
Delivering it is the notifications component's job; how it went comes back as
`webhook.delivery-updated` messages (`service.record_delivery`).
"""

from __future__ import annotations

import json
import uuid

from messages.webhooks import WebhookRequest, WebhookRequested
from orders.adapters.queues import OrderQueues
from orders.adapters.store import OrderStore
from orders.domain.models import (
    EventType,
    Notification,
    NotificationStatus,
    OrderStatus,
    OrderView,
    StoredOrder,
    WebhookPayload,
)
from shared.envelope import utc_now
from shared.observability import logger

_EVENT_NAMESPACE = uuid.UUID("6f1c1b0e-3c47-4f8a-9a51-0d7f3b2e4c10")
_EVENT_TYPES: dict[OrderStatus, EventType] = {
    OrderStatus.CONFIRMED: "order.confirmed",
    OrderStatus.REJECTED: "order.rejected",
}


# the fair-queue group of orders placed without a verified client (no authorizer)
ANONYMOUS_CLIENT = "anonymous"


def event_id(order_id: str, event_type: EventType) -> str:
    """The same order and outcome always give the same event id."""
    return "evt_" + uuid.uuid5(_EVENT_NAMESPACE, f"{order_id}/{event_type}").hex


def owed(order: StoredOrder, status: OrderStatus) -> list[Notification]:
    """The webhook events settling `order` as `status` creates: one if it has a callback."""
    if not order.callback_url:
        return []
    event_type = _EVENT_TYPES[status]
    return [
        Notification(
            event_id=event_id(order.order_id, event_type),
            type=event_type,
            status=NotificationStatus.PENDING,
        )
    ]


def unpublished(order: StoredOrder) -> list[Notification]:
    """The events `order` owes that are PENDING and not yet on the notifications queue."""
    if not order.callback_url:
        return []
    return [
        n
        for n in order.notifications
        if n.status is NotificationStatus.PENDING and n.event_id not in order.published_events
    ]


def publish_pending(order: StoredOrder, store: OrderStore, queues: OrderQueues) -> int:
    """Request delivery of every event of `order` still PENDING and not requested yet.

    Called after every delivery of an order message, so a crash between settling and publishing
    is healed by the redelivery; an event already on the queue is not sent twice (only a crash
    between the send and `mark_published` can duplicate it, with the same event id, which the
    notifier delivers once).
    """
    published = 0
    for notification in unpublished(order):
        assert order.callback_url is not None  # unpublished() has only events with a callback
        view = OrderView.model_validate(order.model_dump(include=set(OrderView.model_fields)))
        payload = WebhookPayload(type=notification.type, timestamp=order.updated_at, data=view)
        queues.request_webhook(
            WebhookRequested(
                id=notification.event_id,
                correlation_id=order.correlation_id,
                occurred_at=utc_now(),
                data=WebhookRequest(
                    event_id=notification.event_id,
                    order_id=order.order_id,
                    callback_url=order.callback_url,
                    payload=json.loads(payload.model_dump_json(by_alias=True)),
                ),
            ),
            client_id=order.client_id or ANONYMOUS_CLIENT,
        )
        store.mark_published(order.order_id, notification.event_id)
        logger.info("Webhook event published", extra={"event_id": notification.event_id})
        published += 1
    return published
