"""The notifier: delivers webhook events; a failing or slow receiver never holds up the others.

A batch's records are delivered concurrently (each attempt has its own hard deadline), at most
a few at once to one destination; a paused destination's events wait on the queue.

A retryable failure hides the message for the backoff delay (ChangeMessageVisibility) and
reports the record failed, so SQS hands it back later; a permanent failure parks the message
in the dead-letter queue with its failure context and marks the event FAILED.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from messages.webhooks import WebhookRequested
from notifications.delivery.service import Attempt, deliver
from notifications.queues import NotificationQueues
from notifications.settings import NotifierSettings
from shared.aws import secret_value
from shared.batch import MessageRouter, SQSRecord, dead_letter
from shared.observability import logger, metrics
from shared.settings import load_settings

SETTINGS = NotifierSettings  # what this function reads from its environment

router = MessageRouter()


@router.handles(WebhookRequested)
def deliver_webhook(message: WebhookRequested, record: SQSRecord) -> None:
    settings = load_settings(NotifierSettings)
    queues = NotificationQueues(settings.notifications_queue_url, settings.orders_queue_url)
    attributes = {
        name: str(value.get("stringValue"))
        for name, value in (record.raw_event.get("messageAttributes") or {}).items()
        if value.get("dataType") == "String" and value.get("stringValue")
    }
    attempt = Attempt(
        number=int(record.attributes.approximate_receive_count or 1),
        correlation_id=message.correlation_id,
        reschedule=partial(queues.retry_later, record.receipt_handle),
        park=lambda context: dead_letter(
            record, context["failureReason"], settings.notifications_dlq_url, context
        ),
        postpone=partial(
            queues.postpone, record.body, attributes, record.attributes.message_group_id
        ),
        requested_at=message.occurred_at,
    )
    deliver(message.data, attempt, settings, partial(secret_value, settings.webhook_secret_arn))


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(NotifierSettings)  # before the event is touched
    # a batch's records are delivered concurrently: one slow receiver never holds the others
    return router.process(
        event, context, settings.notifications_dlq_url, settings.webhook_batch_concurrency
    )
