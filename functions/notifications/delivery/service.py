"""Delivering one webhook event: one attempt, its decision, and the bookkeeping around it.

The notifications component's own record (the deliveries table) is the truth about an event;
every change to it is reported to the orders component as a `webhook.delivery-updated` message
carrying the record's sequence. An event already delivered is never sent again.

An event waits, unattempted and without holding a thread, when its destination is paused by its
circuit breaker (until the probe; the record shows `destinationPaused`) or already has its
limit of attempts in flight in this environment: a copy of its message is put back on the
queue with a delay, and attempts are counted in the record, not in the copy's receives.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from messages.webhooks import DeliveryStatus, DeliveryUpdate, WebhookDeliveryUpdated, WebhookRequest
from notifications import circuit
from notifications.delivery import client, signing
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
from shared.ssrf import CallbackUnresolvable, UnsafeCallback, ascii_host, vet

CORRELATION_ID_HEADER = "X-Correlation-Id"  # the order's correlation id, for the receiver's logs


class DeliveryDeferred(ExpectedRetry):
    """Not delivered yet: the record is reported failed and comes back after its delay."""


class SigningUnavailable(Exception):
    """Our side cannot sign (the secret is unreadable or holds a key that cannot sign): no
    attempt is made or counted and no destination is blamed; the record fails, SQS brings it
    back, and after the queue's receive limit it is dead-lettered with this reason."""


@dataclass(frozen=True)
class Attempt:
    """What the handler knows of this delivery of the message."""

    number: int  # SQS's receive count: at least this many attempts (crashes count too)
    correlation_id: str
    reschedule: Callable[[int], None]  # hide the message for that many seconds
    park: Callable[[dict[str, str]], None]  # dead-letter it with this failure context
    postpone: Callable[[int], None]  # put a copy back on the queue, delayed, for a wait
    requested_at: datetime | None = None  # the request's occurredAt: delivery latency


class _InFlight:
    """Attempts in flight per destination in this execution environment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = defaultdict(int)

    @contextmanager
    def slot(self, destination: str, limit: int) -> Iterator[bool]:
        with self._lock:
            granted = self._counts[destination] < limit
            if granted:
                self._counts[destination] += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._counts[destination] -= 1


_IN_FLIGHT = _InFlight()


def destination_of(url: str) -> str:
    """A callback's destination, as circuits and limits know it: scheme://host:port."""
    try:
        parts = urlsplit(url)
        host = ascii_host(parts.hostname or "")
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return url[:200]
    return f"{parts.scheme}://{host}:{port}"


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
    replay = existing is not None and existing.status is DeliveryStatus.FAILED
    number = max(attempt.number, 1 if existing is None or replay else existing.attempts + 1)
    try:
        signing.validate(secret())  # before any attempt: our failure is not the receiver's
    except Exception as broken:
        reason = f"{type(broken).__name__}: {broken}"[:300]
        raise SigningUnavailable(f"cannot sign webhooks: {reason}") from broken
    destination = destination_of(request.callback_url)
    log: dict[str, Any] = {
        "event_id": request.event_id,
        "order_id": request.order_id,
        "attempt": number,
        "destination": destination,
    }
    with _IN_FLIGHT.slot(destination, settings.webhook_max_in_flight_per_destination) as free:
        if not free:  # its destination is busy here: it waits, unattempted, on the queue
            delay = settings.webhook_defer_seconds + random.randint(0, 2)
            logger.info("Webhook deferred: destination busy", extra=log | {"delay_s": delay})
            attempt.postpone(delay)
            return None
        outcome = circuit.guarded(
            destination,
            settings.circuit,
            lambda: _attempt(request, settings, secret, attempt.correlation_id),
        )
    if isinstance(outcome, circuit.Paused):
        _pause(request, attempt, settings, store, queues, existing, outcome, log)
        return None
    result = outcome
    decision = decide(result, number, settings.schedule, random.random())
    log["status_code"] = result.status_code
    now = utc_now()
    state: dict[str, Any] = {
        "orderId": request.order_id,
        "attempts": number,
        "lastStatusCode": result.status_code,
        "lastError": None if result.delivered else result.reason[:512],
        "nextAttemptAt": None,
        "deliveredAt": None,
        "destinationPaused": None,
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
                "attempts": str(number),
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
            if attempt.requested_at is not None:
                latency_ms = (now - attempt.requested_at).total_seconds() * 1000
                metrics.add_metric(
                    name="WebhookDeliveryLatency", unit="Milliseconds", value=max(0.0, latency_ms)
                )
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


def _pause(
    request: WebhookRequest,
    attempt: Attempt,
    settings: NotifierSettings,
    store: DeliveriesStore,
    queues: NotificationQueues,
    existing: DeliveryRecord | None,
    paused: circuit.Paused,
    log: dict[str, Any],
) -> None:
    """The destination is paused: the event waits for the probe without an attempt, and its
    record (so its order) shows the destination paused and when it is tried next. An event
    already shown paused just waits again: no write, no update to flood its order with."""
    now = time.time()
    reopens = (paused.opened_at or now) + settings.webhook_circuit_recovery_seconds
    delay = int(min(900, max(settings.webhook_defer_seconds, reopens - now))) + random.randint(0, 2)
    if existing is not None and existing.state.get("destinationPaused"):
        logger.info("Webhook destination still paused; event waits", extra=log | {"delay_s": delay})
        attempt.postpone(delay)
        return
    state: dict[str, Any] = {
        "orderId": request.order_id,
        "status": DeliveryStatus.PENDING,
        "attempts": existing.attempts if existing is not None else 0,
        "nextAttemptAt": _iso(utc_now() + timedelta(seconds=delay)),
        "destinationPaused": True,
    }
    try:
        sequence = store.record(request.event_id, state)
    except AlreadyDelivered:
        return
    logger.warning("Webhook destination paused; event waits", extra=log | {"delay_s": delay})
    metrics.add_metric(name="WebhooksPaused", unit="Count", value=1)
    _report(
        queues,
        request,
        sequence,
        (existing.state if existing else {}) | state,
        attempt.correlation_id,
    )
    attempt.postpone(delay)


def _attempt(
    request: WebhookRequest,
    settings: NotifierSettings,
    secret: Callable[[], str],
    correlation_id: str,
) -> AttemptResult:
    """One attempt within its hard deadline (DNS included); every failure, an unexpected one
    included, is a result with its reason."""
    deadline = client.Deadline(settings.attempt_deadline_s)
    try:
        target = vet(
            request.callback_url,
            settings.webhook_local_mode,
            deadline.remaining("dns", settings.webhook_connect_timeout_seconds),
        )
    except CallbackUnresolvable as unresolvable:  # DNS can be down for a while too: retried
        return AttemptResult(None, error=str(unresolvable))
    except UnsafeCallback as refused:
        return AttemptResult(None, error=f"callback refused: {refused}", permanent=True)
    except client.DeadlinePassed:
        return AttemptResult(None, error="TimeoutError: no answer within the deadline (dns)")
    try:
        body = json.dumps(request.payload, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(time.time())
        headers = {
            "webhook-id": request.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signing.signature_header(
                secret(), request.event_id, timestamp, body
            ),
            CORRELATION_ID_HEADER: correlation_id,
        }
        return client.post(
            target, body, headers, deadline, settings.webhook_connect_timeout_seconds
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
        destination_paused=bool(state.get("destinationPaused")),
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


__all__ = ["Attempt", "DeliveryDeferred", "DeliveryRecord", "SigningUnavailable", "deliver"]
