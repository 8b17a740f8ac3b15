"""Baseline of sweeper: re-enqueue orders still ACCEPTED after the cutoff."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
ORDERS = os.environ["ORDERS_TABLE_NAME"]
INDEX = os.environ["ORDERS_AWAITING_SETTLEMENT_INDEX"]
QUEUE = os.environ["ORDERS_QUEUE_URL"]
SHARDS = int(os.environ["ACCEPTED_SHARDS"])
AFTER = float(os.environ["SWEEP_AFTER_SECONDS"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cutoff = (datetime.now(UTC) - timedelta(seconds=AFTER)).isoformat()
    stale: list[tuple[str, str]] = []
    for shard in range(SHARDS):
        stale += [
            (item["createdAt"]["S"], item["orderId"]["S"])
            for item in dynamodb.query(
                TableName=ORDERS,
                IndexName=INDEX,
                KeyConditionExpression="acceptedShard = :s AND createdAt < :c",
                ExpressionAttributeValues={":s": {"S": str(shard)}, ":c": {"S": cutoff}},
                ProjectionExpression="orderId, createdAt",
            )["Items"]
        ]
    reenqueued = 0
    for _, order_id in sorted(stale):
        order = dynamodb.get_item(
            TableName=ORDERS, Key={"orderId": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        if order is None or order["status"]["S"] != "ACCEPTED":
            continue
        dynamodb.update_item(
            TableName=ORDERS,
            Key={"orderId": {"S": order_id}},
            UpdateExpression="ADD reenqueued :one",
            ConditionExpression="#s = :a",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":a": {"S": "ACCEPTED"}},
        )
        message = {"id": order_id, "type": "order.placed", "version": 1}
        message["data"] = {"orderId": order_id}
        sqs.send_message(QueueUrl=QUEUE, MessageBody=json.dumps(message))
        reenqueued += 1
    return {"reenqueued": reenqueued, "stuck": 0, "settled": 0}
