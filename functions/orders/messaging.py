"""SQS I/O: the only module here that sends to the queues."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from orders.errors import QueueUnavailable
from orders.models import OrderPlacedMessage
from shared.aws import sqs
from shared.messages import to_wire
from shared.settings import get_settings


def send_order_placed(message: OrderPlacedMessage) -> str:
    """Enqueue durably; returns the SQS message id or raises QueueUnavailable."""
    try:
        answer = sqs().send_message(
            QueueUrl=get_settings().require("orders_queue_url"),
            MessageBody=to_wire(message),
            MessageAttributes={
                "correlationId": {"DataType": "String", "StringValue": message.correlation_id},
                "messageType": {"DataType": "String", "StringValue": message.type},
            },
        )
    except (ClientError, BotoCoreError) as error:
        raise QueueUnavailable(str(error)) from error
    return answer["MessageId"]
