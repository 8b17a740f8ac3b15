"""What the handler tests share: invoking each function, the events it takes, reading moto.

Test modules import from here (and their fixtures come from conftest.py), never from one another.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from standardwebhooks import Webhook

from infra.local.provision import Resources
from messages.webhooks import (
    DeliveryStatus,
    DeliveryUpdate,
    WebhookDeliveryUpdated,
    WebhookRequest,
    WebhookRequested,
)
from notifications.notifier import handler as notifier_handler
from orders.adapters.store import OrderStore
from orders.api import handler as api_handler
from orders.settings import WorkerSettings
from orders.sweeper import handler as sweeper_handler
from orders.worker import handler as worker_handler
from shared.envelope import to_wire, utc_now
from shared.settings import load_settings
from tests.conftest import FakeContext, load_event

PROBLEM = "application/problem+json"
# a scripted answer with this header is sent that many seconds late (the header is not sent)
SLOW_ANSWER = "X-Test-Answer-After"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

_deserializer = TypeDeserializer()


# moto ------------------------------------------------------------------------------------------


@dataclass
class Aws:
    dynamodb: Any
    sqs: Any
    resources: Resources

    def receive(
        self, queue: str = "orders", wait: int = 0, visibility: int | None = None
    ) -> list[dict[str, Any]]:
        """Up to 10 messages of a queue, with their system and message attributes."""
        extra = {} if visibility is None else {"VisibilityTimeout": visibility}
        answer = self.sqs.receive_message(
            QueueUrl=self.resources.queue_urls[queue],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            **extra,
        )
        return list(answer.get("Messages", []))

    def dead_letters(self, queue: str) -> list[dict[str, Any]]:
        """What sits in a queue's dead-letter queue."""
        answer = self.sqs.receive_message(
            QueueUrl=self.resources.dlq_urls[queue],
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def send(self, queue: str, body: str, message_type: str | None = None) -> None:
        attributes = (
            {"messageType": {"DataType": "String", "StringValue": message_type}}
            if message_type
            else {}
        )
        self.sqs.send_message(
            QueueUrl=self.resources.queue_urls[queue],
            MessageBody=body,
            MessageAttributes=attributes,
        )

    def order_item(self, order_id: str) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(TableName="orders", Key={"orderId": {"S": order_id}})
        return found.get("Item")

    def delivery(self, event_id: str) -> dict[str, Any] | None:
        """The notifier's record of an event, as plain values."""
        found = self.dynamodb.get_item(TableName="deliveries", Key={"eventId": {"S": event_id}})
        if "Item" not in found:
            return None
        return {k: _plain(_deserializer.deserialize(v)) for k, v in found["Item"].items()}

    def stock(self, sku: str) -> int:
        item = self.dynamodb.get_item(TableName="products", Key={"sku": {"S": sku}})["Item"]
        return int(item["available"]["N"])

    def count(self, table: str) -> int:
        return int(self.dynamodb.scan(TableName=table, Select="COUNT")["Count"])


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, Decimal) else value  # our numbers are integers


def attributes_of(message: dict[str, Any]) -> dict[str, str]:
    """A received message's String attributes."""
    return {k: v["StringValue"] for k, v in (message.get("MessageAttributes") or {}).items()}


def order_store() -> OrderStore:
    """The orders component's store as the worker has it (products and orders)."""
    return load_settings(WorkerSettings).store()


# The API ---------------------------------------------------------------------------------------


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """Invoke the API function: status, headers (last value of each) and parsed body."""
    response = api_handler.lambda_handler(event, FakeContext(function_name="order-api"))
    headers = {k: v[-1] for k, v in response.get("multiValueHeaders", {}).items()}
    headers |= response.get("headers") or {}
    body = response["body"]
    return response["statusCode"], headers, json.loads(body) if body else None


def place_order_event(body: Any = None, raw: str | None = None, **headers: str) -> dict[str, Any]:
    event = load_event("api/place_order")
    if body is not None or raw is not None:
        event["body"] = raw if raw is not None else json.dumps(body)
    event["headers"].update(headers)
    return event


def get_order_event(order_id: str) -> dict[str, Any]:
    event = load_event("api/get_order")
    event["path"], event["pathParameters"] = f"/orders/{order_id}", {"orderId": order_id}
    return event


def as_client(event: dict[str, Any], client_id: str | None) -> dict[str, Any]:
    """The event as sent by `client_id` (None: without verified claims)."""
    claims = event["requestContext"]["authorizer"]["claims"]
    if client_id is None:
        del event["requestContext"]["authorizer"]
    else:
        claims["client_id"] = claims["sub"] = client_id
    return event


# Queue consumers -------------------------------------------------------------------------------


def sqs_event(*messages: dict[str, Any], sample: str = "sqs/orders") -> dict[str, Any]:
    """An SQS event shaped like the sample (events/samples/<sample>.json) carrying these
    messages (as ReceiveMessage returns them): their ids, bodies, receipt handles and, when
    received with them, their receive count and message attributes."""
    template = load_event(sample)["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record["messageId"], record["body"] = message["MessageId"], message["Body"]
        record["receiptHandle"] = message["ReceiptHandle"]
        if "ApproximateReceiveCount" in message.get("Attributes", {}):
            count = message["Attributes"]["ApproximateReceiveCount"]
            record["attributes"]["ApproximateReceiveCount"] = count
        if "MessageAttributes" in message:
            record["messageAttributes"] = {
                name: {
                    "stringValue": value.get("StringValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message["MessageAttributes"].items()
            }
        records.append(record)
    return {"Records": records}


def crafted(body: str) -> dict[str, Any]:
    """A message as ReceiveMessage would return it, for a consumer that never answers SQS."""
    return {"MessageId": str(uuid.uuid4()), "Body": body, "ReceiptHandle": str(uuid.uuid4())}


def _failures(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def run_worker(event: dict[str, Any]) -> list[str]:
    """Invoke the order worker; the ids of the records it reported failed."""
    return _failures(
        worker_handler.lambda_handler(event, FakeContext(function_name="order-worker"))
    )


def run_notifier(event: dict[str, Any]) -> list[str]:
    """Invoke the notifier; the ids of the records it reported failed."""
    return _failures(notifier_handler.lambda_handler(event, FakeContext(function_name="notifier")))


def sweep() -> dict[str, int]:
    result: dict[str, int] = sweeper_handler.lambda_handler(
        load_event("eventbridge/sweeper_schedule"), FakeContext(function_name="sweeper")
    )
    return result


def order_of(message: dict[str, Any]) -> str:
    return str(json.loads(message["Body"])["data"]["orderId"])


# Messages --------------------------------------------------------------------------------------


def webhook_requested(
    callback_url: str,
    event_id: str = "evt_0123456789abcdef0123456789abcdef",
    order_id: str = "01a20a90-6da9-7051-8636-e5604348235b",
    correlation_id: str = "corr-webhook-1",
) -> str:
    """The body of a webhook.requested message."""
    return to_wire(
        WebhookRequested(
            id=event_id,
            correlation_id=correlation_id,
            occurred_at=utc_now(),
            data=WebhookRequest(
                event_id=event_id,
                order_id=order_id,
                callback_url=callback_url,
                payload={
                    "type": "order.confirmed",
                    "timestamp": "2026-11-23T22:28:21.300000Z",
                    "data": {"orderId": order_id, "status": "CONFIRMED"},
                },
            ),
        )
    )


def delivery_updated(
    order_id: str,
    event_id: str,
    sequence: int,
    status: DeliveryStatus,
    attempts: int,
    last_status_code: int | None = None,
    last_error: str | None = None,
    next_attempt_at: datetime | None = None,
    delivered_at: datetime | None = None,
) -> str:
    """The body of a webhook.delivery-updated message."""
    return to_wire(
        WebhookDeliveryUpdated(
            id=f"{event_id}.{sequence}",
            correlation_id="corr-delivery",
            occurred_at=utc_now(),
            data=DeliveryUpdate(
                event_id=event_id,
                order_id=order_id,
                sequence=sequence,
                status=status,
                attempts=attempts,
                last_status_code=last_status_code,
                last_error=last_error,
                next_attempt_at=next_attempt_at,
                delivered_at=delivered_at,
            ),
        )
    )


# A third party ---------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers per path from a script (the last answer
    repeats; 204 by default), verifies each signature and records every request."""

    secret: str = WEBHOOK_SECRET
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    def start(self) -> Receiver:
        verifier, state = Webhook(self.secret), self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload, verified = verifier.verify(body, headers), True
                except Exception:
                    payload, verified = None, False
                with state.lock:
                    state.requests.append(
                        {
                            "path": self.path,
                            "headers": headers,
                            "body": body,
                            "payload": payload,
                            "verified": verified,
                        }
                    )
                    script = state.scripts.get(self.path, [(204, {})])
                    status, extra = script.pop(0) if len(script) > 1 else script[0]
                extra = dict(extra)
                time.sleep(float(extra.pop(SLOW_ANSWER, "0")))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def script(self, path: str, *answers: tuple[int, dict[str, str]]) -> str:
        """Answers (status, headers) for `path`, in order; returns the callback URL."""
        assert self.server is not None
        with self.lock:
            self.scripts[path] = list(answers)
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def hits(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]
