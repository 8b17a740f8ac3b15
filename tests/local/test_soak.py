"""The soak test: hundreds of concurrent orders through the local runtime under injected faults,
then the four invariants, checked with exact counts.

Faults: throttled and slow AWS calls (a slow send outlives the API's timeout, so the order is
recorded but never enqueued: the sweeper must heal it), consumer invocations that fail or whose
process dies after doing the work, consumer processes killed mid-batch, a flaky webhook
receiver, duplicate submissions with and without Idempotency-Key (some concurrent).

    SOAK_ORDERS=3000 make pytest PYTEST_ARGS="tests/local/test_soak.py -s"   # the long version
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from infra.local.runtime import Faults, LocalRuntime
from infra.orders_local import orders_runtime
from infra.topology import TOPOLOGY
from tests.local.conftest import Http, Receiver, wait_until

pytestmark = pytest.mark.local

ORDERS = int(os.environ.get("SOAK_ORDERS", "200"))
SECRET = "whsec_c29hay10ZXN0LXNpZ25pbmcta2V5LTMyLWJ5dGVzISE="
SKUS = ["KB-001", "MS-002", "MN-003", "HS-004", "CB-005"]

TOPOLOGY_UNDER_TEST = (
    TOPOLOGY.replace_function("order-worker", timeout_s=5)
    .replace_queue("orders", visibility_timeout_s=8, max_receive_count=6)
    .replace_queue("notifications", visibility_timeout_s=8)
)
FAULTS = {
    "order-api": Faults(
        aws_calls=(
            # throttled sends: the SDK retries; when all attempts fail the client gets 503
            {"call": "sqs.SendMessage", "throttle_rate": 0.3},
            # a send slower than the API's 10 s timeout: Lambda kills it after the order is written
            {"call": "sqs.SendMessage", "slow_rate": 0.02, "slow_seconds": 11},
        )
    ),
    "order-worker": Faults(
        error_rate=0.05,
        crash_rate=0.02,
        aws_calls=({"call": "dynamodb.*", "throttle_rate": 0.05},),
    ),
    "notifier": Faults(error_rate=0.03, aws_calls=({"call": "sqs.*", "throttle_rate": 0.05},)),
}
ENVIRONMENT = {
    "sweeper": {"SWEEP_AFTER_SECONDS": "6", "SWEEP_MAX_REENQUEUES": "20"},
    "notifier": {
        "WEBHOOK_MAX_ATTEMPTS": "4",
        "WEBHOOK_RETRY_BASE_SECONDS": "1",
        "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "2",
        "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
        "WEBHOOK_READ_TIMEOUT_SECONDS": "1",
        # the flaky receiver (half its answers fail) trips its circuit now and then: shrunk
        # like the schedule, so its paused events are probed within seconds
        "WEBHOOK_DEFER_SECONDS": "1",
        "WEBHOOK_CIRCUIT_RECOVERY_SECONDS": "2",
    },
}


@dataclass
class Sent:
    correlation_id: str
    body: dict[str, Any]
    key: str | None
    status: int = 0
    order_id: str | None = None


@pytest.fixture(scope="module")
def runtime(receiver: Receiver) -> Iterator[LocalRuntime]:
    # the scripted receiver is on loopback: its port must be allowed, as LOCAL_CALLBACK_PORTS does
    with orders_runtime(
        TOPOLOGY_UNDER_TEST,
        callback_ports=[receiver.server.server_address[1]],
        port=0,
        echo_logs=False,
        timeout_advice=False,
        webhook_secret=SECRET,
        faults=FAULTS,
        schedules={"sweeper": 1.0},
        function_environment=ENVIRONMENT,
    ) as started:
        yield started


def test_nothing_is_lost_or_applied_twice_under_faults(
    runtime: LocalRuntime, receiver: Receiver
) -> None:
    rng = random.Random(20261123)
    http = Http.for_runtime(runtime)
    stock_before = {sku: http.get(f"/products/{sku}").body["available"] for sku in SKUS}
    flaky = receiver.url + "/flaky"
    receiver.scripts["/flaky"] = [(500, 0, {}), (200, 0, {}), (503, 0, {}), (204, 0, {})] * ORDERS

    # Given the requests: some with keys (a fifth of those sent twice), some sent twice without
    requests: list[Sent] = []
    for n in range(ORDERS):
        lines = rng.sample(SKUS, rng.randint(1, 2))
        body: dict[str, Any] = {
            "customerId": f"c-{n % 17}",
            "items": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in lines],
        }
        if rng.random() < 0.3:
            body["callbackUrl"] = flaky
        key = f"key-{n}" if rng.random() < 0.5 else None
        requests.append(Sent(f"soak-{n}-a", body, key))
        if rng.random() < 0.2:
            requests.append(Sent(f"soak-{n}-b", body, key))
    rng.shuffle(requests)

    def send(request: Sent) -> None:
        headers = {"X-Correlation-Id": request.correlation_id}
        if request.key:
            headers["Idempotency-Key"] = request.key
        reply = http.post("/orders", request.body, headers=headers)
        request.status = reply.status
        if reply.status == 202:
            request.order_id = reply.body["orderId"]

    # When they arrive concurrently while consumer processes are killed mid-batch
    kills = Counter[str]()

    def kill_consumers() -> None:
        for _ in range(4):
            time.sleep(2)
            kills["order-worker"] += runtime.functions["order-worker"].kill_running()
            kills["notifier"] += runtime.functions["notifier"].kill_running()

    killer = threading.Thread(target=kill_consumers)
    killer.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, requests))
    # a 409 (same key still in flight) is answered by retrying later, as a client would
    for request in requests:
        for _ in range(20):
            if request.status != 409:
                break
            time.sleep(0.5)
            send(request)
    killer.join()
    sent_s = time.monotonic() - started

    # Then, once the system is quiet...
    orders = quiesce(runtime, http)
    settled_s = time.monotonic() - started
    dead_orders = {json.loads(m["Body"])["data"]["orderId"] for m in drain(runtime, "orders")}
    dead_events = {
        json.loads(m["Body"])["data"]["eventId"] for m in drain(runtime, "notifications")
    }
    by_id = {o["orderId"]: o for o in orders}
    statuses = Counter(o["status"] for o in orders)

    # 1. every order answered 202 (and every order recorded at all) is settled or dead-lettered
    accepted_ids = {r.order_id for r in requests if r.status == 202}
    unsettled = {o["orderId"] for o in orders if o["status"] == "ACCEPTED"}
    assert accepted_ids <= set(by_id)
    assert unsettled <= dead_orders

    # 2. stock never negative; stock taken == confirmed quantities, exactly
    stock_after = {sku: http.get(f"/products/{sku}").body["available"] for sku in SKUS}
    confirmed = Counter[str]()
    for order in orders:
        if order["status"] == "CONFIRMED":
            for line in order["items"]:
                confirmed[line["sku"]] += line["quantity"]
    assert all(level >= 0 for level in stock_after.values())
    assert {s: stock_before[s] - stock_after[s] for s in SKUS} == {s: confirmed[s] for s in SKUS}

    # 3. nothing is processed that the client was told failed; one order per idempotency key
    refused = {r.correlation_id for r in requests if r.status == 503}
    assert not refused & {o["correlationId"] for o in orders}
    per_key: dict[str, set[str]] = {}
    for request in requests:
        if request.key and request.order_id:
            per_key.setdefault(request.key, set()).add(request.order_id)
    assert all(len(ids) == 1 for ids in per_key.values())
    keyed_orders = Counter(o["idempotencyKey"] for o in orders if o.get("idempotencyKey"))
    assert all(count == 1 for count in keyed_orders.values())

    # 4. each settled order with a callback: exactly one event id, delivered or dead-lettered
    delivered = failed = 0
    for order in orders:
        if not order.get("callbackUrl") or order["status"] == "ACCEPTED":
            continue
        (event,) = order["notifications"].values()
        seen = {
            h["headers"]["webhook-id"]
            for h in receiver.hits("/flaky")
            if h["verified"] and h["payload"]["data"]["orderId"] == order["orderId"]
        }
        assert seen <= {event["eventId"]}
        if event["status"] == "DELIVERED":
            delivered += 1
            assert seen == {event["eventId"]}
        else:
            assert event["status"] == "FAILED"
            assert event["eventId"] in dead_events
            failed += 1
    assert all(h["verified"] for h in receiver.hits("/flaky"))

    answers = Counter(r.status for r in requests)
    reenqueued = sum(
        json.loads(line.split("(schedule) ", 1)[1])["reenqueued"]
        for line in runtime.log_lines("sweeper")
        if "(schedule) " in line
    )
    print(
        f"\nsoak: {len(requests)} requests in {sent_s:.1f} s, quiet after {settled_s:.1f} s; "
        f"answers {dict(sorted(answers.items()))}; orders {len(orders)} "
        f"({statuses['CONFIRMED']} confirmed, {statuses['REJECTED']} rejected, "
        f"{len(unsettled)} dead-lettered); re-enqueued by the sweeper {reenqueued} (orphans, and backlog older than its threshold); "
        f"consumer processes killed {dict(kills)}; webhooks {delivered} delivered, {failed} failed "
        f"and dead-lettered, {len(receiver.hits('/flaky'))} requests received; "
        f"stock taken {dict(confirmed)}"
    )
    assert answers[202] > len(requests) * 0.8  # the faults are there, but most requests succeed
    assert answers[503] > 0  # the throttled sends did produce definite failures...
    assert reenqueued > 0  # ...and some orders were orphaned and healed


def quiesce(runtime: LocalRuntime, http: Http, timeout_s: float = 240) -> list[dict[str, Any]]:
    """Wait until no order or webhook is in progress and the queues are empty; the orders."""
    orders: list[dict[str, Any]] = []

    def quiet() -> bool:
        if any(runtime.queue_depth(url) for url in runtime.resources.queue_urls.values()):
            return False
        orders[:] = scan(runtime)
        pending = [
            o
            for o in orders
            if o["status"] == "ACCEPTED"
            or any(n["status"] == "PENDING" for n in o.get("notifications", {}).values())
        ]
        return not pending or (
            all(o["status"] == "ACCEPTED" for o in pending) and stuck(runtime, pending)
        )

    wait_until(quiet, timeout_s, "the system to settle")
    return orders


def stuck(runtime: LocalRuntime, pending: list[dict[str, Any]]) -> bool:
    """ACCEPTED orders whose message is in the orders DLQ are settled as far as they go."""
    dlq = runtime.resources.dlq_urls["orders"]
    return runtime.queue_depth(dlq) >= len(pending)


def drain(runtime: LocalRuntime, queue: str) -> list[dict[str, Any]]:
    url = runtime.resources.dlq_urls[queue]
    messages: list[dict[str, Any]] = []
    while batch := runtime.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        messages += batch
    return messages


def scan(runtime: LocalRuntime) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    deserialize = TypeDeserializer().deserialize
    items: list[dict[str, Any]] = []
    for page in runtime.dynamodb.get_paginator("scan").paginate(TableName="orders"):
        items += [{k: _plain(deserialize(v)) for k, v in item.items()} for item in page["Items"]]
    return items


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value)
    return value
