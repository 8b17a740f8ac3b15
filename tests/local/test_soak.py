"""The soak test: hundreds of concurrent orders through the local runtime under injected faults,
then the invariants, checked with exact counts, and the fate of every fault injected.

Faults: throttled and slow AWS calls (a slow send outlives the API's timeout, so the order is
recorded but never enqueued: the sweeper must heal it), consumer invocations that fail or whose
process dies after doing the work, consumer processes killed mid-batch, a flaky webhook
receiver, duplicate submissions with and without Idempotency-Key (some concurrent). The faults
the assertions rely on are scheduled, not drawn: each function logs every fault it injects, and
the test follows each one to its end (see `shared.faults`).

    SOAK_ORDERS=3000 make pytest PYTEST_ARGS="tests/local/test_soak.py -s"   # the long version
"""

from __future__ import annotations

import collections
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.local.runtime import Faults, LocalRuntime
from infra.orders_local import orders_runtime
from infra.topology import TOPOLOGY
from tests.local.conftest import Http, Receiver, wait_until

pytestmark = pytest.mark.local

ORDERS = int(os.environ.get("SOAK_ORDERS", "120"))  # SOAK_ORDERS=3000 for the long run
SECRET = "whsec_c29hay10ZXN0LXNpZ25pbmcta2V5LTMyLWJ5dGVzISE="
SKUS = ["KB-001", "MS-002", "MN-003", "HS-004", "CB-005"]
CONSUMERS = ("order-worker", "notifier")

# Timings shrunk to seconds, but not below what a busy machine needs: a worker that times out
# on a batch it would have finished, or a sweeper that re-sends a mere backlog every second,
# only adds load to a machine that is short of it.
TOPOLOGY_UNDER_TEST = (
    TOPOLOGY.replace_function("order-worker", timeout_s=15)
    .replace_queue("orders", visibility_timeout_s=20, max_receive_count=6)
    .replace_queue("notifications", visibility_timeout_s=8)
)
MAX_REENQUEUES = 20
# AWS calls are counted per execution environment (shared.faults), a function's invocations
# across its environments (Faults); the order API's SDK makes up to 4 attempts per call.
SLOW_SEND = 22  # the send attempt, in each order-api environment, that outlives the timeout
FAULTS = {
    "order-api": Faults(
        aws_calls=(
            # each environment's first send fails for good: the client gets 503 and nothing is
            # recorded; then every 5th attempt is throttled once, and the SDK's retry absorbs it
            {"call": "sqs.SendMessage", "throttle_on_calls": [1, 2, 3, 4], "throttle_every": 5},
            # a send slower than the API's 10 s timeout: Lambda kills it after the order is
            # written, the client gets 502, the sweeper (or a retry with the same key) heals it
            {"call": "sqs.SendMessage", "slow_on_calls": [SLOW_SEND], "slow_seconds": 30},
        )
    ),
    # background faults no assertion counts on, spread evenly: every 20th worker invocation
    # fails, every 50th dies after doing its work, every 20th DynamoDB call of a worker
    # environment is throttled (never twice in a row); every 33rd notifier invocation fails and
    # every 20th SQS call of a notifier environment is throttled
    "order-worker": Faults(
        error_every=20,
        crash_every=50,
        aws_calls=({"call": "dynamodb.*", "throttle_every": 20},),
    ),
    "notifier": Faults(error_every=33, aws_calls=({"call": "sqs.*", "throttle_every": 20},)),
}
ENVIRONMENT = {
    "sweeper": {"SWEEP_AFTER_SECONDS": "30", "SWEEP_MAX_REENQUEUES": str(MAX_REENQUEUES)},
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
    runtime = orders_runtime(
        TOPOLOGY_UNDER_TEST,
        callback_ports=[receiver.server.server_address[1]],
        port=0,
        echo_logs=False,
        timeout_advice=False,
        webhook_secret=SECRET,
        faults=FAULTS,
        schedules={"sweeper": 2.0},
        function_environment=ENVIRONMENT,
    )
    runtime.logs = collections.deque()  # every line kept: the test follows every fault injected
    with runtime as started:
        yield started


@pytest.mark.timeout(900)  # bounds, not expectations: a busy machine may take minutes
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
    sending = threading.Event()

    def kill_consumers() -> None:
        """While requests arrive, kill each consumer's busy processes up to 4 times, 2 s apart."""
        last = dict.fromkeys(CONSUMERS, 0.0)
        while sending.is_set():
            for name in CONSUMERS:
                due = kills[name] < 4 and time.monotonic() - last[name] >= 2
                if due and (killed := runtime.functions[name].kill_running()):
                    kills[name] += killed
                    last[name] = time.monotonic()
            time.sleep(0.1)

    sending.set()
    killer = threading.Thread(target=kill_consumers)
    killer.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, requests))
    # a 409 (same key still in flight) is answered by retrying later, as a client would; the
    # first request may be a slow one, in flight until its function times out
    for request in requests:
        deadline = time.monotonic() + 60
        while request.status == 409 and time.monotonic() < deadline:
            time.sleep(0.5)
            send(request)
    sending.clear()
    killer.join()
    sent_s = time.monotonic() - started

    # Then, once the system is quiet...
    dead = DeadLetters(runtime)
    orders = quiesce(runtime, dead)
    settled_s = time.monotonic() - started
    dead_orders, dead_events = dead.orders, dead.events
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
    # (or, if the order's message was dead-lettered before the event was published, awaiting
    # the redrive that publishes it)
    delivered = failed = awaiting = 0
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
        elif event["status"] == "PENDING":
            assert order["orderId"] in dead_orders
            awaiting += 1
        else:
            assert event["status"] == "FAILED"
            assert event["eventId"] in dead_events
            failed += 1
    assert all(h["verified"] for h in receiver.hits("/flaky"))

    # 5. every fault injected into the API ended as it must, whatever the machine's load: a send
    # throttled on every attempt in a definite failure (503) or a healed order (the function may
    # time out while the SDK backs off, and the sweeper may re-send the order meanwhile); a
    # throttle that the SDK retried through never in a definite failure; a send slower than the
    # function's timeout in a 502 (API Gateway's answer to a Lambda error, a timeout included)
    # and a healed order
    answers = Counter(r.status for r in requests)
    by_correlation = {r.correlation_id: r for r in requests}
    by_key = {o["idempotencyKey"]: o for o in orders if o.get("idempotencyKey")}

    def order_of(request: Sent) -> dict[str, Any] | None:
        """The order a request made, or the one its key had already made."""
        mine = [o for o in orders if o["correlationId"] == request.correlation_id]
        return mine[0] if mine else by_key.get(request.key or "")

    def healed(order: dict[str, Any] | None) -> bool:
        return order is not None and (
            order["status"] != "ACCEPTED" or order["orderId"] in dead_orders
        )

    api_faults = injected(runtime, "order-api")
    throttled = {f["correlation_id"] for f in api_faults if f["fault"] == "throttle"}
    exhausted = {
        f["correlation_id"]
        for f in api_faults
        if f["fault"] == "throttle" and f.get("attempt", 0) == f.get("max_attempts")
    }
    slowed = {f["correlation_id"] for f in api_faults if f["fault"] == "slow"}
    for request in map(by_correlation.__getitem__, slowed):
        assert request.status in (502, 504), request
        assert healed(order_of(request)), request
    for request in map(by_correlation.__getitem__, exhausted - slowed):
        assert request.status in (502, 503, 504) or healed(order_of(request)), request
    for request in map(by_correlation.__getitem__, throttled - exhausted - slowed):
        assert request.status in (202, 502, 504), request
    # and every failure is accounted for: each 503 by a send throttled out, each 502 or 504 by
    # an invocation the runtime saw fail (the injected slow sends; on a busy machine, timeouts)
    api_failures = sum(line.startswith("(runtime) ") for line in runtime.log_lines("order-api"))
    api_failures += sum(f["fault"] == "error" for f in api_faults)  # failed in the function
    assert set(answers) <= {202, 502, 503, 504}, answers
    assert {r.correlation_id for r in requests if r.status == 503} <= exhausted
    assert answers[502] + answers[504] <= api_failures
    # The schedule did inject them: certain, not likely. An environment's first send is throttled
    # out, so any send that went through came after one that did not. And each environment
    # makes SLOW_SEND - 1 send attempts before its slow one; at most `concurrency` of them live at
    # once, replaced only when an invocation fails, so more sends than they can make mean one
    # was slowed (each order was sent at least once).
    sent = {r.correlation_id for r in requests if r.status == 202}
    if sent & {o["correlationId"] for o in orders}:
        assert exhausted
    environments = runtime.functions["order-api"].config.concurrency + api_failures
    if len(orders) > (SLOW_SEND - 1) * environments:
        assert slowed
    background = Counter(
        f"{name} {f['fault']}" for name in CONSUMERS for f in injected(runtime, name)
    )

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
        f"API faults: {len(exhausted)} sends throttled out, "
        f"{len(throttled - exhausted)} with throttles the SDK retried through, "
        f"{len(slowed)} slow past the timeout and healed, {api_failures} invocations failed; "
        f"other faults injected {dict(sorted(background.items()))}; "
        f"consumer processes killed {dict(kills)}; webhooks {delivered} delivered, {failed} failed "
        f"and dead-lettered, {awaiting} awaiting a redrive of their order, "
        f"{len(receiver.hits('/flaky'))} requests received; "
        f"stock taken {dict(confirmed)}; {len(runtime.logs)} log lines"
    )


def injected(runtime: LocalRuntime, function: str) -> list[dict[str, Any]]:
    """The faults a function logged as injected (shared.faults, the local function host)."""
    return [json.loads(line) for line in runtime.log_lines(function) if '"Fault injected"' in line]


@dataclass
class DeadLetters:
    """What reached the dead-letter queues, collected as it arrives (nothing else reads them)."""

    runtime: LocalRuntime
    orders: set[str] = field(default_factory=set)  # order ids of order messages
    events: set[str] = field(default_factory=set)  # event ids of webhook messages

    def collect(self) -> None:
        self.orders |= {json.loads(m["Body"])["data"]["orderId"] for m in self.drain("orders")}
        self.events |= {
            json.loads(m["Body"])["data"]["eventId"] for m in self.drain("notifications")
        }

    def drain(self, queue: str) -> list[dict[str, Any]]:
        url, sqs = self.runtime.resources.dlq_urls[queue], self.runtime.sqs
        messages: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            messages += batch
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        return messages


def quiesce(
    runtime: LocalRuntime, dead: DeadLetters, timeout_s: float = 600
) -> list[dict[str, Any]]:
    """Wait until nothing can move any more; the orders then.

    That is: the queues are empty, and every order is settled with its webhook settled, except
    what waits in a dead-letter queue for an operator's redrive: an order still ACCEPTED that
    the sweeper gave up re-sending, or a settled order whose event was never published (its
    message was dead-lettered in between; the redrive publishes it).
    """
    orders: list[dict[str, Any]] = []

    def waits_for_redrive(order: dict[str, Any]) -> bool:
        return order["orderId"] in dead.orders and (
            order["status"] != "ACCEPTED" or order.get("reenqueued", 0) >= MAX_REENQUEUES
        )

    def quiet() -> bool:
        if any(runtime.queue_depth(url) for url in runtime.resources.queue_urls.values()):
            return False
        dead.collect()
        orders[:] = scan(runtime)
        return all(not in_progress(o) or waits_for_redrive(o) for o in orders)

    wait_until(quiet, timeout_s, "the system to settle", interval_s=1)
    return orders


def in_progress(order: dict[str, Any]) -> bool:
    return order["status"] == "ACCEPTED" or any(
        n["status"] == "PENDING" for n in order.get("notifications", {}).values()
    )


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
