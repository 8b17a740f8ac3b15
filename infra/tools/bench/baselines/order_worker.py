"""Baseline of order-worker: settle each order.placed (price, reserve stock, confirm in one
transaction), request its webhook, dead-letter what is not a message."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
ORDERS = os.environ["ORDERS_TABLE_NAME"]
PRODUCTS = os.environ["PRODUCTS_TABLE_NAME"]
NOTIFICATIONS = os.environ["NOTIFICATIONS_QUEUE_URL"]
DLQ = os.environ["ORDERS_DLQ_URL"]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in event["Records"]:
        try:
            message = json.loads(record["body"])
        except ValueError:
            sqs.send_message(QueueUrl=DLQ, MessageBody=record["body"])
            continue
        try:
            settle(message["data"]["orderId"])
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def settle(order_id: str) -> None:
    order = dynamodb.get_item(
        TableName=ORDERS, Key={"orderId": {"S": order_id}}, ConsistentRead=True
    ).get("Item")
    if order is None or order["status"]["S"] != "ACCEPTED":
        return
    lines = [(i["M"]["sku"]["S"], int(i["M"]["quantity"]["N"])) for i in order["items"]["L"]]
    found = dynamodb.batch_get_item(
        RequestItems={
            PRODUCTS: {"Keys": [{"sku": {"S": s}} for s, _ in lines], "ConsistentRead": True}
        }
    )["Responses"][PRODUCTS]
    prices = {p["sku"]["S"]: int(p["priceAmount"]["N"]) for p in found}
    total = sum(prices[sku] * quantity for sku, quantity in lines)
    now = datetime.now(UTC).isoformat()
    event_id = "evt_" + uuid.uuid4().hex
    reservations: list[Any] = [
        {
            "Update": {
                "TableName": PRODUCTS,
                "Key": {"sku": {"S": sku}},
                "UpdateExpression": "SET available = available - :q",
                "ConditionExpression": "available >= :q",
                "ExpressionAttributeValues": {":q": {"N": str(quantity)}},
            }
        }
        for sku, quantity in lines
    ]
    dynamodb.transact_write_items(
        TransactItems=[
            *reservations,
            {
                "Update": {
                    "TableName": ORDERS,
                    "Key": {"orderId": {"S": order_id}},
                    "UpdateExpression": "SET #s = :c, #t = :t, updatedAt = :now "
                    "REMOVE acceptedShard",
                    "ConditionExpression": "#s = :a",
                    "ExpressionAttributeNames": {"#s": "status", "#t": "total"},
                    "ExpressionAttributeValues": {
                        ":c": {"S": "CONFIRMED"},
                        ":a": {"S": "ACCEPTED"},
                        ":t": {"N": str(total)},
                        ":now": {"S": now},
                    },
                }
            },
        ]
    )
    if "callbackUrl" in order:
        payload = {"type": "order.confirmed", "timestamp": now, "orderId": order_id}
        body = {"eventId": event_id, "orderId": order_id, "payload": payload}
        body["callbackUrl"] = order["callbackUrl"]["S"]
        sqs.send_message(QueueUrl=NOTIFICATIONS, MessageBody=json.dumps(body))
        dynamodb.update_item(
            TableName=ORDERS,
            Key={"orderId": {"S": order_id}},
            UpdateExpression="ADD publishedEvents :e",
            ExpressionAttributeValues={":e": {"SS": [event_id]}},
        )
