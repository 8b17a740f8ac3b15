"""The notifier: delivers webhook events; a failing or slow receiver never holds up the others.

A retryable failure hides the message for the backoff delay (ChangeMessageVisibility) and
reports the record failed, so SQS hands it back later; a permanent failure parks the message
in the dead-letter queue with its failure context and marks the event FAILED.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from orders import messaging, notifications
from orders.models import WebhookRequestedMessage
from shared.batch import process_sqs_batch
from shared.observability import correlated, logger, metrics


class DeliveryDeferred(Exception):
    """Not delivered yet: the record is reported failed and comes back after its delay."""


def record_handler(record: SQSRecord) -> None:
    message = WebhookRequestedMessage.model_validate_json(record.body)
    attempt = int(record.attributes.approximate_receive_count or 1)
    with correlated(message.correlation_id):
        outcome = notifications.attempt_delivery(message.data, attempt)
        if isinstance(outcome, notifications.RetryLater):
            messaging.retry_notification_later(record.receipt_handle, outcome.delay_s)
            raise DeliveryDeferred(outcome.reason)
        if isinstance(outcome, notifications.GiveUp):
            messaging.dead_letter_notification(
                record.body,
                {
                    "failureReason": outcome.reason[:256],
                    "lastStatusCode": str(outcome.status_code or ""),
                    "attempts": str(outcome.attempts),
                    "orderId": message.data.order_id,
                    "eventId": message.data.event_id,
                    "correlationId": message.correlation_id,
                },
            )
            notifications.record_failure(message.data, outcome)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, record_handler)
