"""Baseline of order-api: POST /orders records the order and enqueues it, 202.

With an Idempotency-Key it also claims the key and completes it (the calls Powertools
idempotency makes) and looks the key up in the orders index first.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
ORDERS = os.environ["ORDERS_TABLE_NAME"]
IDEMPOTENCY = os.environ["IDEMPOTENCY_TABLE_NAME"]
BY_KEY = os.environ["ORDERS_BY_IDEMPOTENCY_KEY_INDEX"]
QUEUE = os.environ["ORDERS_QUEUE_URL"]
SHARDS = int(os.environ["ACCEPTED_SHARDS"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = json.loads(event["body"])
    client = event["requestContext"]["authorizer"]["claims"]["client_id"]
    key = (event.get("headers") or {}).get("Idempotency-Key")
    now = datetime.now(UTC).isoformat()
    order_id = str(uuid.uuid4())
    scoped = json.dumps([client, key]) if key else None
    if scoped:
        dynamodb.put_item(
            TableName=IDEMPOTENCY,
            Item={
                "id": {"S": scoped},
                "status": {"S": "INPROGRESS"},
                "expiration": {"N": str(int(time.time()) + 86400)},
            },
            ConditionExpression="attribute_not_exists(id)",
        )
        dynamodb.query(
            TableName=ORDERS,
            IndexName=BY_KEY,
            KeyConditionExpression="idempotencyKey = :key",
            ExpressionAttributeValues={":key": {"S": scoped}},
        )
    item = {
        "orderId": {"S": order_id},
        "customerId": {"S": body["customerId"]},
        "status": {"S": "ACCEPTED"},
        "items": {
            "L": [
                {"M": {"sku": {"S": i["sku"]}, "quantity": {"N": str(i["quantity"])}}}
                for i in body["items"]
            ]
        },
        "createdAt": {"S": now},
        "updatedAt": {"S": now},
        "clientId": {"S": client},
        "acceptedShard": {"S": str(random.randrange(SHARDS))},
    }
    if scoped:
        item["idempotencyKey"] = {"S": scoped}
    dynamodb.put_item(
        TableName=ORDERS, Item=item, ConditionExpression="attribute_not_exists(orderId)"
    )
    message = {"id": order_id, "type": "order.placed", "version": 1, "occurredAt": now}
    message["data"] = {"orderId": order_id}
    sqs.send_message(QueueUrl=QUEUE, MessageBody=json.dumps(message))
    answer = json.dumps({"orderId": order_id, "status": "ACCEPTED"})
    if scoped:
        dynamodb.update_item(
            TableName=IDEMPOTENCY,
            Key={"id": {"S": scoped}},
            UpdateExpression="SET #s = :done, #d = :data",
            ExpressionAttributeNames={"#s": "status", "#d": "data"},
            ExpressionAttributeValues={":done": {"S": "COMPLETED"}, ":data": {"S": answer}},
        )
    return {
        "statusCode": 202,
        "headers": {"Content-Type": "application/json", "Location": f"/orders/{order_id}"},
        "body": answer,
    }
