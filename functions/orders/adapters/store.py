"""DynamoDB I/O for products and orders: the only module here that talks to the tables.

Stock and order status change together in one transaction, guarded by conditions, so stock
never goes negative and a redelivered message cannot reserve twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from orders.domain.errors import InsufficientStock, OrderAlreadySettled
from orders.domain.models import (
    Money,
    Notification,
    OrderStatus,
    PricedLine,
    Product,
    StoredOrder,
)
from shared.aws import dynamodb
from shared.dynamodb_items import from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_CONFLICT_ATTEMPTS = 4  # transaction conflicts on hot SKUs are retried here before failing
# Each notification entry also keeps the sequence of the delivery update it shows (not public).
_SEQUENCE = "sequence"


def _product_from_item(item: Mapping[str, Any]) -> Product:
    data = from_item(item)
    return Product(
        sku=data["sku"],
        name=data["name"],
        unit_price=Money(amount=data["priceAmount"], currency=data["currency"]),
        available=data["available"],
    )


def _order_from_item(item: Mapping[str, Any]) -> StoredOrder:
    data = from_item(item)
    data["notifications"] = [
        {k: v for k, v in n.items() if k != _SEQUENCE}
        for n in (data.get("notifications") or {}).values()
    ]
    return StoredOrder.model_validate(data)


def _notifications_map(notifications: list[Notification]) -> dict[str, Any]:
    return {n.event_id: n.model_dump(mode="json", by_alias=True) for n in notifications}


def _required(name: str | None) -> str:
    if name is None:
        raise RuntimeError("this function was not given the table or index it uses")
    return name


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class OrderTables:
    """The orders component's tables and the index names, from the function's settings."""

    orders: str
    products: str | None = None  # the sweeper never reads the catalog
    by_idempotency_key_index: str | None = None  # the API's
    awaiting_settlement_index: str | None = None  # the sweeper's
    accepted_shards: int = 1


def _leave_sweep(notifications: list[Notification]) -> str:
    """What settling does to the sweeper's index: the order leaves it, unless it owes a webhook
    event, in which case it stays until the event is on the notifications queue
    (`mark_published`), so a settled order whose event was never handed on is re-sent too."""
    return "" if notifications else " REMOVE acceptedShard"


class OrderStore:
    """DynamoDB I/O for products and orders: the only code that talks to the tables."""

    def __init__(self, tables: OrderTables) -> None:
        self.tables = tables

    def get_product(self, sku: str) -> Product | None:
        found = dynamodb().get_item(
            TableName=_required(self.tables.products), Key={"sku": {"S": sku}}
        )
        return _product_from_item(found["Item"]) if "Item" in found else None

    def list_products(self) -> list[Product]:
        """The whole catalog, sorted by SKU (a scan: fine for a catalog of this size)."""
        products: list[Product] = []
        for page in (
            dynamodb().get_paginator("scan").paginate(TableName=_required(self.tables.products))
        ):
            products += [_product_from_item(item) for item in page["Items"]]
        return sorted(products, key=lambda p: p.sku)

    def get_products(self, skus: Iterable[str]) -> dict[str, Product]:
        """Strongly consistent batch read; SKUs that do not exist are absent from the result."""
        table = _required(self.tables.products)
        pending: dict[str, Any] = {
            table: {"Keys": [{"sku": {"S": s}} for s in set(skus)], "ConsistentRead": True}
        }
        found: dict[str, Product] = {}
        for attempt in range(8):
            answer = dynamodb().batch_get_item(RequestItems=pending)
            for item in answer["Responses"].get(table, []):
                product = _product_from_item(item)
                found[product.sku] = product
            pending = dict(answer.get("UnprocessedKeys") or {})
            if not pending:
                return found
            time.sleep(min(0.05 * 2**attempt, 1.0) * random.random())
        raise RuntimeError("BatchGetItem kept returning unprocessed keys")

    def insert_order(self, order: StoredOrder) -> None:
        item = order.model_dump(mode="json", by_alias=True)
        item["notifications"] = _notifications_map(order.notifications)
        item.pop("publishedEvents")  # a string set, created by the first mark_published
        dynamodb().put_item(
            TableName=self.tables.orders,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(orderId)",
        )

    def delete_accepted_order(self, order_id: str) -> bool:
        """Undo an order that was never enqueued; False if it was settled meanwhile (left alone)."""
        try:
            dynamodb().delete_item(
                TableName=self.tables.orders,
                Key={"orderId": {"S": order_id}},
                ConditionExpression="#status = :accepted",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":accepted": {"S": OrderStatus.ACCEPTED}},
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def mark_published(self, order_id: str, event_id: str) -> None:
        """Remember that the event is on the notifications queue: redeliveries do not resend it,
        and the order, owing nothing more, leaves the sweeper's index (an order owes one event)."""
        dynamodb().update_item(
            TableName=self.tables.orders,
            Key={"orderId": {"S": order_id}},
            UpdateExpression="ADD publishedEvents :event REMOVE acceptedShard",
            ExpressionAttributeValues={":event": {"SS": [event_id]}},
        )

    def leave_sweep_index(self, order_id: str) -> None:
        """Take a settled order that owes nothing more out of the sweeper's index (its event
        was handed on and delivered, but the write that would have done this never ran)."""
        try:
            dynamodb().update_item(
                TableName=self.tables.orders,
                Key={"orderId": {"S": order_id}},
                UpdateExpression="REMOVE acceptedShard",
                ConditionExpression="attribute_exists(acceptedShard) AND #status <> :accepted",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":accepted": {"S": OrderStatus.ACCEPTED.value}},
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise

    def find_order_by_idempotency_key(self, key: str) -> StoredOrder | None:
        """The order an Idempotency-Key created, if any (sparse index; eventually consistent)."""
        answer = dynamodb().query(
            TableName=self.tables.orders,
            IndexName=_required(self.tables.by_idempotency_key_index),
            KeyConditionExpression="idempotencyKey = :key",
            ExpressionAttributeValues={":key": {"S": key}},
        )
        items = answer.get("Items", [])
        return _order_from_item(items[0]) if items else None  # the index projects every attribute

    def unfinished_before(self, cutoff: str) -> list[str]:
        """Ids of the orders in the sweeper's sparse index (still ACCEPTED, or settled with a
        webhook event not yet on the notifications queue) created before `cutoff` (ISO 8601),
        oldest first."""
        order_ids: list[tuple[str, str]] = []
        paginator = dynamodb().get_paginator("query")
        for shard in range(self.tables.accepted_shards):
            for page in paginator.paginate(
                TableName=self.tables.orders,
                IndexName=_required(self.tables.awaiting_settlement_index),
                KeyConditionExpression="acceptedShard = :shard AND createdAt < :cutoff",
                ExpressionAttributeValues={":shard": {"S": str(shard)}, ":cutoff": {"S": cutoff}},
                ProjectionExpression="orderId, createdAt",
            ):
                order_ids += [(i["createdAt"]["S"], i["orderId"]["S"]) for i in page["Items"]]
        return [order_id for _, order_id in sorted(order_ids)]

    def count_reenqueue(self, order_id: str) -> int:
        """Count one more re-send of an unfinished order's message (still in the sweeper's
        index); raises OrderAlreadySettled when it has left the index meanwhile."""
        try:
            answer = dynamodb().update_item(
                TableName=self.tables.orders,
                Key={"orderId": {"S": order_id}},
                UpdateExpression="ADD reenqueued :one",
                ConditionExpression="attribute_exists(acceptedShard)",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise OrderAlreadySettled(order_id) from error
            raise
        return int(answer["Attributes"]["reenqueued"]["N"])

    def get_order(self, order_id: str) -> StoredOrder | None:
        found = dynamodb().get_item(
            TableName=self.tables.orders, Key={"orderId": {"S": order_id}}, ConsistentRead=True
        )
        return _order_from_item(found["Item"]) if "Item" in found else None

    def confirm_order(
        self,
        order_id: str,
        lines: list[PricedLine],
        total: Money,
        settled_at: str,
        notifications: list[Notification],
    ) -> None:
        """Reserve every line's stock and confirm the order in one transaction, recording the
        webhook events it owes (PENDING) in the same write.

        Raises InsufficientStock (nothing reserved) or OrderAlreadySettled (nothing changed).
        """
        reservations: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": _required(self.tables.products),
                    "Key": {"sku": {"S": line.sku}},
                    "UpdateExpression": "SET available = available - :quantity",
                    "ConditionExpression": "attribute_exists(sku) AND available >= :quantity",
                    "ExpressionAttributeValues": {":quantity": {"N": str(line.quantity)}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for line in lines
        ]
        settlement: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self.tables.orders,
                "Key": {"orderId": {"S": order_id}},
                "UpdateExpression": "SET #status = :confirmed, #items = :items, #total = :total, "
                "updatedAt = :now, notifications = :notifications" + _leave_sweep(notifications),
                "ConditionExpression": "#status = :accepted",
                "ExpressionAttributeNames": {
                    "#status": "status",
                    "#items": "items",
                    "#total": "total",
                },
                "ExpressionAttributeValues": to_item(
                    {
                        ":confirmed": OrderStatus.CONFIRMED.value,
                        ":accepted": OrderStatus.ACCEPTED.value,
                        ":items": [line.model_dump(mode="json", by_alias=True) for line in lines],
                        ":total": total.model_dump(mode="json", by_alias=True),
                        ":now": settled_at,
                        ":notifications": _notifications_map(notifications),
                    }
                ),
            }
        }
        self._transact([*reservations, settlement], lines)

    def reject_order(
        self, order_id: str, reason: str, settled_at: str, notifications: list[Notification]
    ) -> None:
        """Settle as REJECTED; raises OrderAlreadySettled if it is no longer ACCEPTED."""
        try:
            dynamodb().update_item(
                TableName=self.tables.orders,
                Key={"orderId": {"S": order_id}},
                UpdateExpression="SET #status = :rejected, reason = :reason, updatedAt = :now, "
                "notifications = :notifications" + _leave_sweep(notifications),
                ConditionExpression="#status = :accepted",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_item(
                    {
                        ":rejected": OrderStatus.REJECTED.value,
                        ":accepted": OrderStatus.ACCEPTED.value,
                        ":reason": reason,
                        ":now": settled_at,
                        ":notifications": _notifications_map(notifications),
                    }
                ),
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise OrderAlreadySettled(order_id) from error
            raise

    def record_delivery(
        self, order_id: str, event_id: str, state: dict[str, Any], sequence: int
    ) -> bool:
        """Show a delivery update (camelCase fields of a notification entry) in the order's
        `notifications`, unless the entry already shows a later one.

        Updates arrive in any order: each carries a sequence that grows per event, and one
        older than what the entry shows changes nothing. Returns whether it was applied.
        """
        fields = {k: v for k, v in state.items() if k not in ("eventId", "type")}
        fields[_SEQUENCE] = sequence
        names = {"#event": event_id} | {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": value for i, value in enumerate(fields.values())}
        removed = [f"#f{i}" for i, value in enumerate(fields.values()) if value is None]
        update = "SET " + ", ".join(
            f"notifications.#event.#f{i} = :f{i}"
            for i, value in enumerate(fields.values())
            if value is not None
        )
        if removed:
            update += " REMOVE " + ", ".join(f"notifications.#event.{name}" for name in removed)
        try:
            dynamodb().update_item(
                TableName=self.tables.orders,
                Key={"orderId": {"S": order_id}},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(notifications.#event) AND "
                "(attribute_not_exists(notifications.#event.#seq) "
                "OR notifications.#event.#seq < :seq)",
                ExpressionAttributeNames=names | {"#seq": _SEQUENCE},
                ExpressionAttributeValues=to_item(values | {":seq": sequence}),
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _transact(self, items: list[TransactWriteItemTypeDef], lines: list[PricedLine]) -> None:
        for attempt in range(_CONFLICT_ATTEMPTS):
            try:
                dynamodb().transact_write_items(TransactItems=items)
                return
            except ClientError as error:
                if _code(error) != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons", [])
                codes = [r.get("Code", "None") for r in reasons]
                if len(codes) == len(items) and codes[-1] == "ConditionalCheckFailed":
                    raise OrderAlreadySettled() from error
                for line, cancel in zip(lines, reasons, strict=False):
                    if cancel.get("Code") == "ConditionalCheckFailed":
                        old = from_item(cancel.get("Item", {}))
                        raise InsufficientStock(
                            line.sku, line.quantity, int(old.get("available", 0))
                        ) from error
                if "TransactionConflict" not in codes or attempt == _CONFLICT_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt * (1 + random.random()))
