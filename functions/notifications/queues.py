"""SQS I/O of the notifications component: rescheduling its own messages, dead-lettering them,
and reporting each delivery's progress back to the component that asked for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from messages.webhooks import WebhookDeliveryUpdated
from shared.aws import sqs
from shared.envelope import to_wire


@dataclass(frozen=True)
class NotificationQueues:
    notifications_queue_url: str
    orders_queue_url: str

    def retry_later(self, receipt_handle: str, delay_s: int) -> None:
        """Hide the message for `delay_s`: SQS hands it back then, its receive count raised."""
        sqs().change_message_visibility(
            QueueUrl=self.notifications_queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=delay_s,
        )

    def postpone(
        self,
        body: str,
        attributes: dict[str, str],
        group_id: str | None,
        delay_s: int,
    ) -> None:
        """Put a copy of a message back on the queue, invisible for `delay_s` (at most SQS's
        15 minutes): it waits there without a receive being counted; the original is then
        deleted as handled. A copy keeps the message's attributes and fair-queue group."""
        message: dict[str, Any] = {
            "QueueUrl": self.notifications_queue_url,
            "MessageBody": body,
            "DelaySeconds": max(0, min(900, delay_s)),
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
                if value
            },
        }
        if group_id:
            message["MessageGroupId"] = group_id
        sqs().send_message(**message)

    def report(self, update: WebhookDeliveryUpdated) -> None:
        sqs().send_message(
            QueueUrl=self.orders_queue_url,
            MessageBody=to_wire(update),
            MessageAttributes={
                "correlationId": {"DataType": "String", "StringValue": update.correlation_id},
                "messageType": {"DataType": "String", "StringValue": update.type},
            },
        )
