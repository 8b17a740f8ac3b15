"""What `make bench` runs each function and its baseline on: a realistic event (from
events/samples), and the state that makes every invocation take the same path, so the first
(cold) and later (warm) invocations make the same AWS calls.

Shared by the runner (against a moto server) and by the test that holds each baseline to its
function's AWS calls (against `mock_aws`).
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from infra.local.provision import Resources
from infra.orders_local import sample_catalog, seed_catalog
from infra.topology import TOPOLOGY, Function

REPOSITORY = Path(__file__).resolve().parents[3]
SAMPLES = REPOSITORY / "events" / "samples"
BASELINES_DIR = Path(__file__).with_name("baselines")

# the order the sample SQS event settles, and one the sweeper finds still ACCEPTED
SAMPLE_ORDER_ID = "01a20a90-6da9-7051-8636-e5604348235b"
STALE_ORDER_ID = "01a20a90-0000-7000-8000-00000000beef"


@dataclass
class Aws:
    """Where the scenarios' state lives: clients bound to moto, and what was provisioned."""

    dynamodb: Any
    sqs: Any
    resources: Resources
    receiver_url: str  # a local webhook receiver that answers 200

    @property
    def receiver_port(self) -> int:
        return int(self.receiver_url.split(":")[2].split("/")[0])


@dataclass(frozen=True)
class Scenario:
    name: str
    function: str  # the topology's function
    baseline: str  # module.attribute under baselines/
    event: Callable[[Aws], dict[str, Any]]
    prepare: Callable[[Aws], None]
    succeeded: Callable[[Any], bool]  # what a correct answer looks like


def environment(function: Function, aws: Aws) -> dict[str, str]:
    """The function's own variables, as the stack and the local runtime set them."""
    return (
        TOPOLOGY.static_environment(function)
        | aws.resources.environment(TOPOLOGY, function)
        | {
            "WEBHOOK_LOCAL_MODE": "true",
            "WEBHOOK_LOCAL_ALLOWED_PORTS": str(aws.receiver_port),
        }
    )


@cache
def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return loaded


def sample(name: str) -> dict[str, Any]:
    return copy.deepcopy(_sample(name))


# Events ----------------------------------------------------------------------------------------


def place_order(_: Aws) -> dict[str, Any]:
    return sample("api/place_order")


def place_order_with_key(_: Aws) -> dict[str, Any]:
    """A first use of a fresh Idempotency-Key."""
    event = sample("api/place_order")
    key = uuid.uuid4().hex
    event["headers"]["Idempotency-Key"] = key
    event["multiValueHeaders"]["Idempotency-Key"] = [key]
    return event


def orders_batch(_: Aws) -> dict[str, Any]:
    """The sample batch: one order to settle (it has a callback) and one unreadable record."""
    return sample("sqs/orders")


def notifications_batch(aws: Aws) -> dict[str, Any]:
    """The sample webhook event, addressed to the local receiver."""
    event = sample("sqs/notifications")
    for record in event["Records"]:
        body = json.loads(record["body"])
        body["data"]["callbackUrl"] = aws.receiver_url
        record["body"] = json.dumps(body)
    return event


def schedule(_: Aws) -> dict[str, Any]:
    return sample("eventbridge/sweeper_schedule")


# State -----------------------------------------------------------------------------------------


def _order_item(order_id: str, created: datetime, callback_url: str | None) -> dict[str, Any]:
    """An ACCEPTED order in the layout `orders.adapters.store` writes."""
    stamp = created.isoformat()
    item: dict[str, Any] = {
        "orderId": {"S": order_id},
        "customerId": {"S": "c-42"},
        "status": {"S": "ACCEPTED"},
        "items": {
            "L": [
                {"M": {"sku": {"S": "KB-001"}, "quantity": {"N": "2"}}},
                {"M": {"sku": {"S": "MS-002"}, "quantity": {"N": "1"}}},
            ]
        },
        "createdAt": {"S": stamp},
        "updatedAt": {"S": stamp},
        "correlationId": {"S": "bench-correlation"},
        "clientId": {"S": "sample-client"},
        "acceptedShard": {"S": "3"},
        "reenqueued": {"N": "0"},
        "notifications": {"M": {}},
    }
    if callback_url:
        item["callbackUrl"] = {"S": callback_url}
    return item


def nothing(_: Aws) -> None:
    return None


def accepted_order(aws: Aws) -> None:
    """The sample's order, ACCEPTED again, with a callback; the catalog back in stock."""
    seed_catalog(aws.dynamodb, aws.resources.table_names["products"], sample_catalog())
    aws.dynamodb.put_item(
        TableName=aws.resources.table_names["orders"],
        Item=_order_item(SAMPLE_ORDER_ID, datetime.now(UTC), aws.receiver_url),
    )


def undelivered_event(aws: Aws) -> None:
    """No delivery record for the sample's webhook event: it is delivered afresh."""
    body = json.loads(_sample("sqs/notifications")["Records"][0]["body"])
    aws.dynamodb.delete_item(
        TableName=aws.resources.table_names["deliveries"],
        Key={"eventId": {"S": body["data"]["eventId"]}},
    )


def stale_order(aws: Aws) -> None:
    """One order left ACCEPTED an hour ago: the sweeper re-enqueues it."""
    aws.dynamodb.put_item(
        TableName=aws.resources.table_names["orders"],
        Item=_order_item(STALE_ORDER_ID, datetime.now(UTC) - timedelta(hours=1), None),
    )


def _status(expected: int) -> Callable[[Any], bool]:
    return lambda answer: isinstance(answer, dict) and answer.get("statusCode") == expected


def _no_failures(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("batchItemFailures") == []


def _reenqueued_one(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("reenqueued") == 1


SCENARIOS = (
    Scenario(
        "order-api", "order-api", "order_api.lambda_handler", place_order, nothing, _status(202)
    ),
    Scenario(
        "order-api+key",
        "order-api",
        "order_api.lambda_handler",
        place_order_with_key,
        nothing,
        _status(202),
    ),
    Scenario(
        "order-worker",
        "order-worker",
        "order_worker.lambda_handler",
        orders_batch,
        accepted_order,
        _no_failures,
    ),
    Scenario(
        "notifier",
        "notifier",
        "notifier.lambda_handler",
        notifications_batch,
        undelivered_event,
        _no_failures,
    ),
    Scenario(
        "sweeper", "sweeper", "sweeper.lambda_handler", schedule, stale_order, _reenqueued_one
    ),
)


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers every POST 200."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
