"""SQS I/O of the orders component: the only code here that sends messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messages.orders import OrderPlaced
from messages.webhooks import WebhookRequested
from orders.domain.errors import QueueUnavailable
from shared.aws import sqs
from shared.envelope import Envelope, to_wire


@dataclass(frozen=True)
class OrderQueues:
    """Where the orders component sends: its own queue, and the notifications queue."""

    orders_queue_url: str | None = None
    notifications_queue_url: str | None = None

    def send_order_placed(self, message: OrderPlaced) -> str:
        """Enqueue durably; returns the SQS message id or raises QueueUnavailable."""
        try:
            return _send(_required(self.orders_queue_url, "orders"), message)
        except (ClientError, BotoCoreError) as error:
            raise QueueUnavailable(str(error)) from error

    def request_webhook(self, message: WebhookRequested, client_id: str) -> str:
        """On the notifications queue, in the client's message group: a fair queue keeps one
        client's backlog from delaying the other clients' webhooks."""
        url = _required(self.notifications_queue_url, "notifications")
        return _send(url, message, group_id=client_id)


def _required(url: str | None, queue: str) -> str:
    if url is None:
        raise RuntimeError(f"this function does not send to the {queue} queue")
    return url


def _send(queue_url: str, message: Envelope[Any], group_id: str | None = None) -> str:
    answer = sqs().send_message(
        QueueUrl=queue_url,
        MessageBody=to_wire(message),
        MessageAttributes={
            "correlationId": {"DataType": "String", "StringValue": message.correlation_id},
            "messageType": {"DataType": "String", "StringValue": message.type},
        },
        **({"MessageGroupId": group_id} if group_id else {}),  # type: ignore[arg-type]
    )
    return answer["MessageId"]
