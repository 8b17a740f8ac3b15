"""DynamoDB I/O of the notifications component: its own record of each webhook event.

A record grows a `sequence` with every write, which the delivery updates carry, so the orders
component can tell a late update from a newer one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from messages.webhooks import DeliveryStatus
from shared.aws import dynamodb
from shared.dynamodb_items import from_item, to_attribute


@dataclass(frozen=True)
class DeliveryRecord:
    event_id: str
    status: DeliveryStatus
    attempts: int
    sequence: int
    state: dict[str, Any]  # every stored field, camelCase


class AlreadyDelivered(Exception):
    """The event was delivered (by another copy of its message) before this write."""


@dataclass(frozen=True)
class DeliveriesStore:
    table_name: str
    retention_days: int

    def get(self, event_id: str) -> DeliveryRecord | None:
        found = dynamodb().get_item(
            TableName=self.table_name, Key={"eventId": {"S": event_id}}, ConsistentRead=True
        )
        if "Item" not in found:
            return None
        state = from_item(found["Item"])
        return DeliveryRecord(
            event_id=event_id,
            status=DeliveryStatus(state["status"]),
            attempts=int(state.get("attempts", 0)),
            sequence=int(state.get("sequence", 0)),
            state=state,
        )

    def record(self, event_id: str, state: dict[str, Any]) -> int:
        """Write the event's state (camelCase fields; None removes one) unless it was delivered
        meanwhile; returns the record's new sequence. Raises AlreadyDelivered."""
        values = {k: v for k, v in state.items() if v is not None}
        values["expiresAt"] = int(time.time()) + self.retention_days * 86_400
        removed = [k for k, v in state.items() if v is None]
        names = {f"#f{i}": name for i, name in enumerate(values)}
        update = "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(values)))
        update += " ADD #sequence :one"
        if removed:
            names |= {f"#r{i}": name for i, name in enumerate(removed)}
            update += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removed)))
        try:
            answer = dynamodb().update_item(
                TableName=self.table_name,
                Key={"eventId": {"S": event_id}},
                UpdateExpression=update,
                ConditionExpression="attribute_not_exists(#status) OR #status <> :delivered",
                ExpressionAttributeNames=names | {"#sequence": "sequence", "#status": "status"},
                ExpressionAttributeValues={
                    f":f{i}": to_attribute(v) for i, v in enumerate(values.values())
                }
                | {":one": {"N": "1"}, ":delivered": {"S": DeliveryStatus.DELIVERED.value}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise AlreadyDelivered(event_id) from error
            raise
        return int(answer["Attributes"]["sequence"]["N"])
