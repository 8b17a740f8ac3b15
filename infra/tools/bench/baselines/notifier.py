"""Baseline of notifier: POST each webhook signed (Standard Webhooks v1), record the
delivery, report it to the orders queue. The signing secret is cached for five minutes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.parse
import urllib.request
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
secrets = boto3.client("secretsmanager")
DELIVERIES = os.environ["DELIVERIES_TABLE_NAME"]
ORDERS_QUEUE = os.environ["ORDERS_QUEUE_URL"]
SECRET_ARN = os.environ["WEBHOOK_SECRET_ARN"]
_secret: tuple[float, bytes] | None = None


def signing_key() -> bytes:
    global _secret
    if _secret is None or time.monotonic() - _secret[0] > 300:
        value = secrets.get_secret_value(SecretId=SECRET_ARN)["SecretString"]
        _secret = (time.monotonic(), base64.b64decode(value.removeprefix("whsec_") + "=="))
    return _secret[1]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in event["Records"]:
        try:
            deliver(json.loads(record["body"]))
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def deliver(message: dict[str, Any]) -> None:
    request = message["data"]
    event_id = request["eventId"]
    found = dynamodb.get_item(
        TableName=DELIVERIES, Key={"eventId": {"S": event_id}}, ConsistentRead=True
    ).get("Item")
    if found is not None and found["status"]["S"] == "DELIVERED":
        return
    key = signing_key()  # before any attempt: a secret that cannot sign blames no receiver
    # the destination's circuit (paused after repeated failures), kept in the same table
    target = urllib.parse.urlsplit(request["callbackUrl"])
    port = target.port or (443 if target.scheme == "https" else 80)
    circuit = dynamodb.get_item(
        TableName=DELIVERIES,
        Key={"eventId": {"S": f"circuit#{target.scheme}://{target.hostname}:{port}"}},
        ConsistentRead=True,
    ).get("Item")
    if circuit is not None and circuit.get("state", {}).get("S") == "OPEN":
        raise RuntimeError("destination paused")
    body = json.dumps(request["payload"]).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(key, f"{event_id}.{stamp}.".encode() + body, hashlib.sha256)
    signature = "v1," + base64.b64encode(digest.digest()).decode()
    post = urllib.request.Request(  # noqa: S310 - the receiver the bench runs
        request["callbackUrl"],
        data=body,
        headers={
            "Content-Type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": stamp,
            "webhook-signature": signature,
        },
    )
    with urllib.request.urlopen(post, timeout=5) as answer:  # noqa: S310
        status = answer.status
    updated = dynamodb.update_item(
        TableName=DELIVERIES,
        Key={"eventId": {"S": event_id}},
        UpdateExpression="SET #s = :d, lastStatusCode = :c ADD #q :one",
        ExpressionAttributeNames={"#s": "status", "#q": "sequence"},
        ExpressionAttributeValues={
            ":d": {"S": "DELIVERED"},
            ":c": {"N": str(status)},
            ":one": {"N": "1"},
        },
        ReturnValues="UPDATED_NEW",
    )
    update = {"eventId": event_id, "orderId": request["orderId"], "status": "DELIVERED"}
    update["sequence"] = int(updated["Attributes"]["sequence"]["N"])
    sqs.send_message(
        QueueUrl=ORDERS_QUEUE,
        MessageBody=json.dumps({"type": "webhook.delivery-updated", "version": 1, "data": update}),
    )
