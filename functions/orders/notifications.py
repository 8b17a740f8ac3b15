"""Webhook events: which one a settled order owes, publishing it, and delivering it.

Each settled order with a callbackUrl owes exactly one event, whose id is derived from the order
and the outcome, so a redelivered order message republishes the same event, never a new one.
Delivery outcomes: 2xx delivered; 408, 429, 5xx, timeouts and connection errors retried with
exponential backoff and jitter (Retry-After honoured) until the attempts run out; any other
answer (410, other 4xx, redirects, which are never followed) and a refused address fail at once.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass

from orders import callbacks, messaging, store, webhooks
from orders.models import (
    EventType,
    Notification,
    NotificationStatus,
    OrderStatus,
    OrderView,
    WebhookPayload,
    WebhookRequest,
    WebhookRequestedMessage,
)
from shared.aws import secret_value
from shared.messages import utc_now
from shared.observability import logger, metrics
from shared.settings import Settings, get_settings

_EVENT_NAMESPACE = uuid.UUID("6f1c1b0e-3c47-4f8a-9a51-0d7f3b2e4c10")
_EVENT_TYPES: dict[OrderStatus, EventType] = {
    OrderStatus.CONFIRMED: "order.confirmed",
    OrderStatus.REJECTED: "order.rejected",
}
MAX_VISIBILITY_S = 43_200  # SQS's ceiling for a message's visibility timeout
RETRYABLE_STATUS = {408, 429}


def event_id(order_id: str, event_type: EventType) -> str:
    """The same order and outcome always give the same event id."""
    return "evt_" + uuid.uuid5(_EVENT_NAMESPACE, f"{order_id}/{event_type}").hex


def owed(order: store.StoredOrder, status: OrderStatus) -> list[Notification]:
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


def publish_pending(order: store.StoredOrder) -> int:
    """Enqueue every event of `order` still PENDING and not enqueued yet.

    Called after every delivery of an order message, so a crash between settling and publishing
    is healed by the redelivery; an event already on the queue is not sent twice (only a crash
    between the send and `mark_published` can duplicate it, with the same event id).
    """
    published = 0
    for notification in order.notifications:
        if notification.status is not NotificationStatus.PENDING or not order.callback_url:
            continue
        if notification.event_id in order.published_events:
            continue
        view = OrderView.model_validate(order.model_dump(include=set(OrderView.model_fields)))
        request = WebhookRequest(
            event_id=notification.event_id,
            order_id=order.order_id,
            callback_url=order.callback_url,
            payload=WebhookPayload(type=notification.type, timestamp=order.updated_at, data=view),
        )
        messaging.send_webhook_requested(
            WebhookRequestedMessage(
                id=notification.event_id,
                correlation_id=order.correlation_id,
                occurred_at=utc_now(),
                data=request,
            )
        )
        store.mark_published(order.order_id, notification.event_id)
        logger.info("Webhook event published", extra={"event_id": notification.event_id})
        published += 1
    return published


# Delivery -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    status_code: int


@dataclass(frozen=True)
class AlreadySettled:
    """The event was already delivered (by another copy of the message): nothing to do."""


@dataclass(frozen=True)
class RetryLater:
    delay_s: int
    reason: str


@dataclass(frozen=True)
class GiveUp:
    """Permanently undeliverable: the caller dead-letters the message, then `record_failure`."""

    reason: str
    status_code: int | None
    attempts: int
    notification: Notification  # as read for this attempt


Outcome = Delivered | AlreadySettled | RetryLater | GiveUp


def attempt_delivery(request: WebhookRequest, attempt: int) -> Outcome:
    """Deliver `request` once (this is attempt number `attempt`) and record how it went."""
    settings = get_settings()
    current = _current(request)
    if current is None or current.status is NotificationStatus.DELIVERED:
        return AlreadySettled()
    if current.status is NotificationStatus.FAILED:
        logger.info("Replaying a failed webhook event", extra={"event_id": request.event_id})
    try:
        target = callbacks.vet(request.callback_url, settings.webhook_local_mode)
    except callbacks.CallbackUnresolvable as unresolvable:  # DNS can be down for a while too
        return _retry_or_give_up(
            request, current, attempt, webhooks.AttemptResult(None, str(unresolvable)), settings
        )
    except callbacks.UnsafeCallback as refused:
        logger.warning(
            "Callback refused", extra={"event_id": request.event_id, "reason": str(refused)}
        )
        return GiveUp(f"callback refused: {refused}", None, attempt, current)
    result = webhooks.post(
        target,
        request.event_id,
        request.payload.model_dump_json(by_alias=True).encode(),
        secret_value(settings.require("webhook_secret_arn")),
        settings.webhook_connect_timeout_seconds,
        settings.webhook_read_timeout_seconds,
    )
    log = {"event_id": request.event_id, "attempt": attempt, "status_code": result.status_code}
    if result.delivered:
        assert result.status_code is not None
        store.record_notification(
            request.order_id,
            current.model_copy(
                update={
                    "status": NotificationStatus.DELIVERED,
                    "attempts": attempt,
                    "last_status_code": result.status_code,
                    "last_error": None,
                    "delivered_at": utc_now(),
                }
            ),
        )
        logger.info("Webhook delivered", extra=log)
        metrics.add_metric(name="WebhooksDelivered", unit="Count", value=1)
        return Delivered(result.status_code)
    return _retry_or_give_up(request, current, attempt, result, settings)


def _retry_or_give_up(
    request: WebhookRequest,
    current: Notification,
    attempt: int,
    result: webhooks.AttemptResult,
    settings: Settings,
) -> Outcome:
    log = {"event_id": request.event_id, "attempt": attempt, "status_code": result.status_code}
    reason = result.error or f"HTTP {result.status_code}"
    if not _retryable(result) or attempt >= settings.webhook_max_attempts:
        logger.warning("Webhook undeliverable", extra=log | {"reason": reason})
        return GiveUp(reason, result.status_code, attempt, current)
    store.record_notification(
        request.order_id,
        current.model_copy(
            update={
                "status": NotificationStatus.PENDING,
                "attempts": attempt,
                "last_status_code": result.status_code,
                "last_error": result.error,
            }
        ),
    )
    delay = backoff_delay(attempt, result.retry_after_s, settings)
    logger.info(
        "Webhook attempt failed; retrying", extra=log | {"reason": reason, "delay_s": delay}
    )
    return RetryLater(delay, reason)


def record_failure(request: WebhookRequest, outcome: GiveUp) -> None:
    """Mark the event FAILED (once the message is safely in the dead-letter queue)."""
    store.record_notification(
        request.order_id,
        outcome.notification.model_copy(
            update={
                "status": NotificationStatus.FAILED,
                "attempts": outcome.attempts,
                "last_status_code": outcome.status_code,
                "last_error": outcome.reason,
            }
        ),
    )
    metrics.add_metric(name="WebhooksFailed", unit="Count", value=1)


def backoff_delay(attempt: int, retry_after_s: float | None, settings: Settings) -> int:
    """Seconds until the next attempt: exponential with equal jitter, capped, and never sooner
    than the receiver's Retry-After."""
    ceiling = min(
        settings.webhook_retry_max_delay_seconds,
        settings.webhook_retry_base_seconds * math.pow(2, attempt - 1),
    )
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return max(1, min(MAX_VISIBILITY_S, math.ceil(delay)))


def _retryable(result: webhooks.AttemptResult) -> bool:
    code = result.status_code
    return code is None or code >= 500 or code in RETRYABLE_STATUS


def _current(request: WebhookRequest) -> Notification | None:
    order = store.get_order(request.order_id)
    if order is None:
        return None
    return next((n for n in order.notifications if n.event_id == request.event_id), None)
