"""Delivering one webhook event: one attempt, its decision, and the bookkeeping around it.

The notifications component's own record (the deliveries table) is the truth about an event;
every change to it is reported to the orders component as a `webhook.delivery-updated` message
carrying the record's sequence. An event already delivered is never sent again.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from messages.webhooks import DeliveryStatus, DeliveryUpdate, WebhookDeliveryUpdated, WebhookRequest
from notifications.delivery import client
from notifications.delivery.decide import (
    AttemptResult,
    Decision,
    Delivered,
    GiveUp,
    RetryLater,
    decide,
)
from notifications.queues import NotificationQueues
from notifications.settings import NotifierSettings
from notifications.store import AlreadyDelivered, DeliveriesStore, DeliveryRecord
from shared.batch import ExpectedRetry
from shared.envelope import utc_now
from shared.observability import logger, metrics
from shared.ssrf import CallbackUnresolvable, UnsafeCallback, vet


class DeliveryDeferred(ExpectedRetry):
    """Not delivered yet: the record is reported failed and comes back after its delay."""


@dataclass(frozen=True)
class Attempt:
    """What the handler knows of this delivery of the message."""

    number: int  # SQS's receive count: attempts are receives
    correlation_id: str
    reschedule: Callable[[int], None]  # hide the message for that many seconds
    park: Callable[[dict[str, str]], None]  # dead-letter it with this failure context


def deliver(
    request: WebhookRequest,
    attempt: Attempt,
    settings: NotifierSettings,
    secret: Callable[[], str],
) -> Decision | None:
    """Attempt delivery unless already delivered; None when there was nothing to do.

    Raises DeliveryDeferred after scheduling a retry, so the message comes back later.
    """
    store = DeliveriesStore(settings.deliveries_table_name, settings.webhook_record_retention_days)
    queues = NotificationQueues(settings.notifications_queue_url, settings.orders_queue_url)
    existing = store.get(request.event_id)
    if existing is not None and existing.status is DeliveryStatus.DELIVERED:
        # a copy of the message, or a crash before the last report: report it again
        _report(queues, request, existing.sequence, existing.state, attempt.correlation_id)
        return None
    if existing is not None and existing.status is DeliveryStatus.FAILED:
        logger.info("Replaying a failed webhook event", extra={"event_id": request.event_id})
    result = _attempt(request, settings, secret)
    decision = decide(result, attempt.number, settings.schedule, random.random())
    log = {
        "event_id": request.event_id,
        "order_id": request.order_id,
        "attempt": attempt.number,
        "status_code": result.status_code,
    }
    now = utc_now()
    state: dict[str, Any] = {
        "orderId": request.order_id,
        "attempts": attempt.number,
        "lastStatusCode": result.status_code,
        "lastError": None if result.delivered else result.reason[:512],
        "nextAttemptAt": None,
        "deliveredAt": None,
    }
    match decision:
        case Delivered():
            state |= {"status": DeliveryStatus.DELIVERED, "deliveredAt": _iso(now)}
        case RetryLater(delay_s=delay):
            retry_at = now + timedelta(seconds=delay)
            state |= {"status": DeliveryStatus.PENDING, "nextAttemptAt": _iso(retry_at)}
        case GiveUp(reason=reason):
            state |= {"status": DeliveryStatus.FAILED, "lastError": reason[:512]}
    try:
        sequence = store.record(request.event_id, state)
    except AlreadyDelivered:
        logger.info("Delivered meanwhile by another copy", extra=log)
        return None
    if isinstance(decision, GiveUp):
        # parked only once the record says FAILED: a copy delivered meanwhile is never parked
        attempt.park(
            {
                "failureReason": decision.reason[:256],
                "lastStatusCode": str(result.status_code or ""),
                "attempts": str(attempt.number),
                "orderId": request.order_id,
                "eventId": request.event_id,
                "correlationId": attempt.correlation_id,
            }
        )
    _report(queues, request, sequence, state, attempt.correlation_id)
    match decision:
        case Delivered():
            logger.info("Webhook delivered", extra=log)
            metrics.add_metric(name="WebhooksDelivered", unit="Count", value=1)
        case RetryLater(delay_s=delay, reason=reason):
            logger.warning(
                "Webhook attempt failed; retrying", extra=log | {"reason": reason, "delay_s": delay}
            )
            attempt.reschedule(delay)
            raise DeliveryDeferred(reason)
        case GiveUp(reason=reason):
            logger.error("Webhook undeliverable", extra=log | {"reason": reason})
            metrics.add_metric(name="WebhooksFailed", unit="Count", value=1)
    return decision


def _attempt(
    request: WebhookRequest, settings: NotifierSettings, secret: Callable[[], str]
) -> AttemptResult:
    """One attempt; every failure, an unexpected one included, is a result with its reason."""
    try:
        target = vet(request.callback_url, settings.webhook_local_mode)
    except CallbackUnresolvable as unresolvable:  # DNS can be down for a while too: retried
        return AttemptResult(None, error=str(unresolvable))
    except UnsafeCallback as refused:
        return AttemptResult(None, error=f"callback refused: {refused}", permanent=True)
    body = json.dumps(request.payload, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        return client.post(
            target,
            request.event_id,
            body,
            secret(),
            settings.webhook_connect_timeout_seconds,
            settings.webhook_read_timeout_seconds,
        )
    except Exception as error:  # an attempt that broke is a failed attempt, never a lost one
        logger.exception("Webhook attempt broke", extra={"event_id": request.event_id})
        return AttemptResult(None, error=f"{type(error).__name__}: {error}"[:300])


def _report(
    queues: NotificationQueues,
    request: WebhookRequest,
    sequence: int,
    state: dict[str, Any],
    correlation_id: str,
) -> None:
    update = DeliveryUpdate(
        event_id=request.event_id,
        order_id=request.order_id,
        sequence=sequence,
        status=DeliveryStatus(state["status"]),
        attempts=int(state.get("attempts") or 0),
        last_status_code=state.get("lastStatusCode"),
        last_error=state.get("lastError"),
        next_attempt_at=state.get("nextAttemptAt"),
        delivered_at=state.get("deliveredAt"),
    )
    queues.report(
        WebhookDeliveryUpdated(
            id=f"{request.event_id}.{sequence}",
            correlation_id=correlation_id,
            occurred_at=utc_now(),
            data=update,
        )
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()


__all__ = ["Attempt", "DeliveryDeferred", "DeliveryRecord", "deliver"]
