"""SQS I/O: the only module here that sends to, or reschedules on, the queues."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from orders.errors import QueueUnavailable
from orders.models import OrderPlacedMessage, WebhookRequestedMessage
from shared.aws import sqs
from shared.messages import Envelope, to_wire
from shared.settings import get_settings


def send_order_placed(message: OrderPlacedMessage) -> str:
    """Enqueue durably; returns the SQS message id or raises QueueUnavailable."""
    try:
        return _send("orders_queue_url", message)
    except (ClientError, BotoCoreError) as error:
        raise QueueUnavailable(str(error)) from error


def send_webhook_requested(message: WebhookRequestedMessage) -> str:
    return _send("notifications_queue_url", message)


def retry_notification_later(receipt_handle: str, delay_s: int) -> None:
    """Hide the message for `delay_s`: SQS hands it back then, with its receive count raised."""
    sqs().change_message_visibility(
        QueueUrl=get_settings().require("notifications_queue_url"),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=delay_s,
    )


def dead_letter_notification(body: str, context: dict[str, str]) -> None:
    """Park an undeliverable event in the notifications DLQ with why it failed, for replay."""
    sqs().send_message(
        QueueUrl=get_settings().require("notifications_dlq_url"),
        MessageBody=body,
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value}
            for name, value in context.items()
            if value
        },
    )


def _send(queue_setting: str, message: Envelope) -> str:  # type: ignore[type-arg]
    answer = sqs().send_message(
        QueueUrl=get_settings().require(queue_setting),
        MessageBody=to_wire(message),
        MessageAttributes={
            "correlationId": {"DataType": "String", "StringValue": message.correlation_id},
            "messageType": {"DataType": "String", "StringValue": message.type},
        },
    )
    return answer["MessageId"]
