"""DynamoDB I/O for products and orders: the only module here that talks to the tables.

Stock and order status change together in one transaction, guarded by conditions, so stock
never goes negative and a redelivered message cannot reserve twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import Field

from orders.models import (
    Money,
    Notification,
    NotificationStatus,
    Order,
    OrderStatus,
    PricedLine,
    Product,
)
from shared.aws import dynamodb
from shared.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

_CONFLICT_ATTEMPTS = 4  # transaction conflicts on hot SKUs are retried here before failing


ACCEPTED_SHARDS = 8  # the sweeper's index spreads ACCEPTED orders over this many partitions


class StoredOrder(Order):
    """An order as persisted: the public view plus what only the system needs."""

    correlation_id: str
    client_id: str | None = None  # the OAuth2 client that placed it: only it may read it
    callback_url: str | None = None
    idempotency_key: str | None = None
    # present only while ACCEPTED: puts the order in the sweeper's sparse index
    accepted_shard: str | None = None
    reenqueued: int = 0  # times the sweeper re-sent its message
    published_events: set[str] = Field(default_factory=set)  # events put on the notifications queue


class OrderAlreadySettled(Exception):
    """The order left ACCEPTED before this write: a redelivery or a concurrent worker."""


class InsufficientStock(Exception):
    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(
            f"insufficient stock for {sku}: requested {requested}, available {available}"
        )
        self.sku, self.requested, self.available = sku, requested, available


def _products_table() -> str:
    return get_settings().require("products_table_name")


def _orders_table() -> str:
    return get_settings().require("orders_table_name")


def _to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def _from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; ours are all integers."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# Products ------------------------------------------------------------------------------------


def _product_from_item(item: Mapping[str, Any]) -> Product:
    data = _from_item(item)
    return Product(
        sku=data["sku"],
        name=data["name"],
        unit_price=Money(amount=data["priceAmount"], currency=data["currency"]),
        available=data["available"],
    )


def get_product(sku: str) -> Product | None:
    found = dynamodb().get_item(TableName=_products_table(), Key={"sku": {"S": sku}})
    return _product_from_item(found["Item"]) if "Item" in found else None


def list_products() -> list[Product]:
    """The whole catalog, sorted by SKU (a scan: fine for a catalog of this size)."""
    products: list[Product] = []
    for page in dynamodb().get_paginator("scan").paginate(TableName=_products_table()):
        products += [_product_from_item(item) for item in page["Items"]]
    return sorted(products, key=lambda p: p.sku)


def get_products(skus: Iterable[str]) -> dict[str, Product]:
    """Strongly consistent batch read; SKUs that do not exist are absent from the result."""
    table = _products_table()
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


# Orders --------------------------------------------------------------------------------------


# Notifications are stored as a map keyed by event id, so each can be updated in place.


def _order_from_item(item: Mapping[str, Any]) -> StoredOrder:
    data = _from_item(item)
    data["notifications"] = list((data.get("notifications") or {}).values())
    return StoredOrder.model_validate(data)


def _notifications_map(notifications: list[Notification]) -> dict[str, Any]:
    return {n.event_id: n.model_dump(mode="json", by_alias=True) for n in notifications}


def insert_order(order: StoredOrder) -> None:
    item = order.model_dump(mode="json", by_alias=True)
    item["notifications"] = _notifications_map(order.notifications)
    item.pop("publishedEvents")  # a string set, created by the first mark_published
    dynamodb().put_item(
        TableName=_orders_table(),
        Item=_to_item(item),
        ConditionExpression="attribute_not_exists(orderId)",
    )


def delete_accepted_order(order_id: str) -> bool:
    """Undo an order that was never enqueued; False if it was settled meanwhile (left alone)."""
    try:
        dynamodb().delete_item(
            TableName=_orders_table(),
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


def mark_published(order_id: str, event_id: str) -> None:
    """Remember that the event is on the notifications queue: redeliveries do not resend it."""
    dynamodb().update_item(
        TableName=_orders_table(),
        Key={"orderId": {"S": order_id}},
        UpdateExpression="ADD publishedEvents :event",
        ExpressionAttributeValues={":event": {"SS": [event_id]}},
    )


def find_order_by_idempotency_key(key: str) -> StoredOrder | None:
    """The order an Idempotency-Key created, if any (sparse index; eventually consistent)."""
    answer = dynamodb().query(
        TableName=_orders_table(),
        IndexName="byIdempotencyKey",
        KeyConditionExpression="idempotencyKey = :key",
        ExpressionAttributeValues={":key": {"S": key}},
    )
    items = answer.get("Items", [])
    return _order_from_item(items[0]) if items else None  # the index projects every attribute


def accepted_before(cutoff: str) -> list[str]:
    """Ids of orders still ACCEPTED that were created before `cutoff` (ISO 8601), oldest first."""
    order_ids: list[tuple[str, str]] = []
    paginator = dynamodb().get_paginator("query")
    for shard in range(ACCEPTED_SHARDS):
        for page in paginator.paginate(
            TableName=_orders_table(),
            IndexName="awaitingSettlement",
            KeyConditionExpression="acceptedShard = :shard AND createdAt < :cutoff",
            ExpressionAttributeValues={":shard": {"S": str(shard)}, ":cutoff": {"S": cutoff}},
            ProjectionExpression="orderId, createdAt",
        ):
            order_ids += [(i["createdAt"]["S"], i["orderId"]["S"]) for i in page["Items"]]
    return [order_id for _, order_id in sorted(order_ids)]


def count_reenqueue(order_id: str) -> int:
    """Count one more re-send of an ACCEPTED order's message; raises OrderAlreadySettled."""
    try:
        answer = dynamodb().update_item(
            TableName=_orders_table(),
            Key={"orderId": {"S": order_id}},
            UpdateExpression="ADD reenqueued :one",
            ConditionExpression="#status = :accepted",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":accepted": {"S": OrderStatus.ACCEPTED.value},
            },
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as error:
        if _code(error) == "ConditionalCheckFailedException":
            raise OrderAlreadySettled(order_id) from error
        raise
    return int(answer["Attributes"]["reenqueued"]["N"])


def get_order(order_id: str) -> StoredOrder | None:
    found = dynamodb().get_item(
        TableName=_orders_table(), Key={"orderId": {"S": order_id}}, ConsistentRead=True
    )
    return _order_from_item(found["Item"]) if "Item" in found else None


def confirm_order(
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
                "TableName": _products_table(),
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
            "TableName": _orders_table(),
            "Key": {"orderId": {"S": order_id}},
            "UpdateExpression": "SET #status = :confirmed, #items = :items, #total = :total, "
            "updatedAt = :now, notifications = :notifications REMOVE acceptedShard",
            "ConditionExpression": "#status = :accepted",
            "ExpressionAttributeNames": {"#status": "status", "#items": "items", "#total": "total"},
            "ExpressionAttributeValues": _to_item(
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
    _transact([*reservations, settlement], lines)


def reject_order(
    order_id: str, reason: str, settled_at: str, notifications: list[Notification]
) -> None:
    """Settle as REJECTED; raises OrderAlreadySettled if it is no longer ACCEPTED."""
    try:
        dynamodb().update_item(
            TableName=_orders_table(),
            Key={"orderId": {"S": order_id}},
            UpdateExpression="SET #status = :rejected, reason = :reason, updatedAt = :now, "
            "notifications = :notifications REMOVE acceptedShard",
            ConditionExpression="#status = :accepted",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(
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


def record_notification(order_id: str, notification: Notification) -> bool:
    """Store a delivery attempt's outcome unless the event was DELIVERED meanwhile.

    (A FAILED event may be attempted again: that is a replay from the dead-letter queue.)
    Returns False when the event had already been delivered.
    """
    values = notification.model_dump(mode="json", by_alias=True)
    try:
        dynamodb().update_item(
            TableName=_orders_table(),
            Key={"orderId": {"S": order_id}},
            UpdateExpression="SET notifications.#event = :notification",
            ConditionExpression="attribute_exists(notifications.#event) "
            "AND notifications.#event.#status <> :delivered",
            ExpressionAttributeNames={"#event": notification.event_id, "#status": "status"},
            ExpressionAttributeValues=_to_item(
                {":notification": values, ":delivered": NotificationStatus.DELIVERED.value}
            ),
        )
    except ClientError as error:
        if _code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _transact(items: list[TransactWriteItemTypeDef], lines: list[PricedLine]) -> None:
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
                    old = _from_item(cancel.get("Item", {}))
                    raise InsufficientStock(
                        line.sku, line.quantity, int(old.get("available", 0))
                    ) from error
            if "TransactionConflict" not in codes or attempt == _CONFLICT_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * 2**attempt * (1 + random.random()))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
