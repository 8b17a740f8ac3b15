"""Load levelling, measured on the local runtime: the API stays fast while the back end is
saturated, because it only records and enqueues.

The worker is capped (MaximumConcurrency 2) in front of a slow downstream (reading each order
takes SLOW_S longer, injected; its settling write follows at once, so the order's `updatedAt`
is when it settled), so it settles at most 2 / SLOW_S orders a second.
The scenario places orders at rest (well under that), then a burst at 10 times it, and
reports the API's answer latency in both, the queue depth over time, the time to drain, that
every accepted order settled exactly once, the end-to-end latency from POST to settlement,
and the rate of accepted orders against raw moto PutItem + SendMessage on the same server.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from typing import Any

from infra.local.auth import Client
from infra.local.runtime import API_CONCURRENCY, Faults, LocalRuntime
from infra.orders_local import orders_runtime, seed_catalog
from infra.topology import TOPOLOGY, Topology

CONCURRENCY = 2  # the worker's MaximumConcurrency for this scenario
# added to the worker's read of each order: slow enough that 10 times what the worker
# settles stays well within what the local API itself can answer on a small machine (the
# scenario is about the queue absorbing a burst, not about the API's own ceiling)
SLOW_S = 1.0
CAPACITY_PER_S = CONCURRENCY / SLOW_S  # what the capped worker settles, at most
BURST_FACTOR = 10
# Enough answers in each phase that the p99 is not simply the slowest one (nearest rank: the
# 5th slowest of 500, the 3rd of 300); p99.9 needs 1,000 and more, so here it is the slowest.
BURST_S = float(os.environ.get("BENCH_LOAD_BURST_S", "25"))
REST_ORDERS = int(os.environ.get("BENCH_LOAD_REST_ORDERS", "300"))
# at rest: a steady flow the worker keeps up with (no backlog builds), sent open-loop
REST_SHARE = 0.75
MAX_RATE_ORDERS, SENDERS = 200, 8
# warm-up: every API environment the burst may use exists before it, as on a deployment that
# has served traffic (API Gateway's traffic scales Lambda up and keeps environments warm)
WARMUP_ORDERS = 4 * API_CONCURRENCY
SKU, STOCK = "BENCH-001", 1_000_000
CLIENT = Client("bench", "bench-secret", (), "bench-key", rate_per_second=10_000, burst=10_000)


def capped_topology() -> Topology:
    functions = tuple(
        dataclasses.replace(
            f, event_source=dataclasses.replace(f.event_source, max_concurrency=CONCURRENCY)
        )
        if f.name == "order-worker" and f.event_source is not None
        else f
        for f in TOPOLOGY.functions
    )
    return dataclasses.replace(TOPOLOGY, functions=functions)


@dataclasses.dataclass
class Sent:
    at: float  # wall clock, when the POST was sent
    latency_ms: float
    status: int
    order_id: str | None


class Api:
    def __init__(self, runtime: LocalRuntime) -> None:
        self.url = runtime.api_url
        credentials = base64.b64encode(f"{CLIENT.client_id}:{CLIENT.client_secret}".encode())
        request = urllib.request.Request(  # noqa: S310 - the local runtime
            self.url + "/oauth2/token",
            data=b"grant_type=client_credentials",
            headers={"Authorization": "Basic " + credentials.decode()},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            self.token = json.loads(answer.read())["access_token"]

    def place_order(self) -> Sent:
        body = {"customerId": f"c-{uuid.uuid4().hex[:8]}", "items": [{"sku": SKU, "quantity": 1}]}
        request = urllib.request.Request(  # noqa: S310 - the local runtime
            self.url + "/orders",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "x-api-key": CLIENT.api_key,
                "Content-Type": "application/json",
            },
        )
        at, started = time.time(), time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                status, document = answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            status, document = refused.code, {}
        latency = (time.perf_counter() - started) * 1000
        return Sent(at, latency, status, document.get("orderId"))


def _open_loop(api: Api, count: int, rate: float) -> list[Sent]:
    """`count` orders sent at `rate` a second, whatever the answers' latency."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        start, futures = time.perf_counter(), []
        for number in range(count):
            delay = start + number / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(api.place_order))
        return [f.result() for f in futures]


def _closed_loop(work: Any, count: int, senders: int) -> float:
    """Operations a second with `senders` threads doing `count` operations back to back."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=senders) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: work(), range(count)))
        return count / (time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _latency(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": percentile(values, 0.5),
        "p99_ms": percentile(values, 0.99),
        "p99_9_ms": percentile(values, 0.999),
    }


def _slowest(sent: list[Sent], start: float, count: int = 8) -> list[dict[str, float]]:
    """The slowest answers of a phase and when they were sent (s into the phase)."""
    ordered = sorted(sent, key=lambda s: s.latency_ms, reverse=True)[:count]
    return [{"sent_s": round(s.at - start, 2), "ms": round(s.latency_ms, 1)} for s in ordered]


def _orders(runtime: LocalRuntime) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in runtime.dynamodb.get_paginator("scan").paginate(
        TableName=runtime.table_name("orders"), ConsistentRead=True
    ):
        for item in page["Items"]:
            found[item["orderId"]["S"]] = item
    return found


def _end_to_end(sent: list[Sent], orders: dict[str, dict[str, Any]]) -> list[float]:
    """POST sent -> the worker's settling write (the order's updatedAt), in ms."""
    return [
        (datetime.fromisoformat(orders[s.order_id]["updatedAt"]["S"]).timestamp() - s.at) * 1000
        for s in sent
        if s.order_id in orders and orders[s.order_id]["status"]["S"] != "ACCEPTED"
    ]


def measure() -> dict[str, Any]:
    faults = {
        "order-worker": Faults(
            aws_calls=({"call": "dynamodb.GetItem", "slow_rate": 1.0, "slow_seconds": SLOW_S},)
        )
    }
    runtime = orders_runtime(capped_topology(), seed=False, clients=[CLIENT], faults=faults)
    with runtime:
        seed_catalog(
            runtime.dynamodb,
            runtime.table_name("products"),
            [
                {
                    "sku": SKU,
                    "name": "Bench item",
                    "unitPrice": {"amount": 100, "currency": "EUR"},
                    "available": STOCK,
                }
            ],
        )
        api = Api(runtime)
        orders_queue = runtime.queue_url("orders")
        api_function = runtime.functions["order-api"]
        # warm: as many API environments as the burst may use (its concurrency), and the worker's
        _closed_loop(api.place_order, WARMUP_ORDERS, API_CONCURRENCY)
        runtime.wait_until_idle(timeout_s=300)
        cold_starts = {"warm_up": api_function.cold_starts}

        depth: list[tuple[float, int]] = []
        sampling = threading.Event()

        def sample(started: float, into: list[tuple[float, int]]) -> None:
            while not sampling.is_set():
                into.append((time.perf_counter() - started, runtime.queue_depth(orders_queue)))
                time.sleep(0.5)

        rest_depth: list[tuple[float, int]] = []
        sampler = threading.Thread(
            target=sample, args=(time.perf_counter(), rest_depth), daemon=True
        )
        sampler.start()
        rest = _open_loop(api, REST_ORDERS, REST_SHARE * CAPACITY_PER_S)
        runtime.wait_until_idle(timeout_s=300, settle_s=0.5)
        sampling.set()
        sampler.join()
        sampling.clear()
        cold_starts["at_rest"] = api_function.cold_starts - cold_starts["warm_up"]

        burst_rate = BURST_FACTOR * CAPACITY_PER_S
        started = time.perf_counter()
        sampler = threading.Thread(target=sample, args=(started, depth), daemon=True)
        sampler.start()
        burst = _open_loop(api, int(burst_rate * BURST_S), burst_rate)
        burst_sent_s = time.perf_counter() - started
        cold_starts["burst"] = (
            api_function.cold_starts - cold_starts["warm_up"] - cold_starts["at_rest"]
        )
        runtime.wait_until_idle(timeout_s=900, settle_s=0.5)
        drained_s = time.perf_counter() - started
        sampling.set()
        sampler.join()

        orders = _orders(runtime)
        accepted = [s for s in (*rest, *burst) if s.status == 202 and s.order_id]
        statuses = [orders[s.order_id]["status"]["S"] for s in accepted if s.order_id in orders]
        stock = runtime.dynamodb.get_item(
            TableName=runtime.table_name("products"), Key={"sku": {"S": SKU}}, ConsistentRead=True
        )["Item"]["available"]["N"]
        warmup_orders = WARMUP_ORDERS
        dlq_depth = runtime.queue_depth(runtime.dlq_url("orders"))
        integrity = {
            "accepted": len(accepted),
            "refused": sum(s.status != 202 for s in (*rest, *burst)),
            "orders_in_table": len(orders) - warmup_orders,
            "missing": len(accepted) - len(statuses),
            "confirmed": statuses.count("CONFIRMED"),
            "not_settled": sum(s == "ACCEPTED" for s in statuses),
            # every confirmed order reserved exactly one unit: a double reservation shows here
            "units_reserved": STOCK - int(stock),
            "units_expected": sum(o["status"]["S"] == "CONFIRMED" for o in orders.values()),
            "dead_lettered": dlq_depth,
        }
        integrity["every_order_settled_once"] = (
            integrity["missing"] == 0
            and integrity["not_settled"] == 0
            and integrity["orders_in_table"] == integrity["accepted"]
            and integrity["units_reserved"] == integrity["units_expected"]
            and dlq_depth == 0
        )
        burst_settled = [
            datetime.fromisoformat(orders[s.order_id]["updatedAt"]["S"]).timestamp()
            for s in burst
            if s.order_id in orders
        ]
        settle_rate = (
            len(burst_settled) / (max(burst_settled) - min(burst_settled))
            if len(burst_settled) > 1
            else math.nan
        )
        result: dict[str, Any] = {
            "worker": {
                "max_concurrency": CONCURRENCY,
                "slow_downstream_s": SLOW_S,
                "nominal_capacity_per_s": CAPACITY_PER_S,
                "measured_settle_rate_per_s": settle_rate,
            },
            "at_rest": {"offered_per_s": REST_SHARE * CAPACITY_PER_S, "orders": len(rest)},
            "burst": {
                "offered_per_s": burst_rate,
                "orders": len(burst),
                "sent_in_s": burst_sent_s,
                "accepted_per_s": sum(s.status == 202 for s in burst) / burst_sent_s,
                "time_to_drain_s": drained_s,
            },
            "api_latency": {
                "at_rest": _latency([s.latency_ms for s in rest]),
                "burst": _latency([s.latency_ms for s in burst]),
            },
            "end_to_end": {
                "at_rest": _latency(_end_to_end(rest, orders)),
                "burst": _latency(_end_to_end(burst, orders)),
            },
            "queue_depth": [{"t_s": round(t, 2), "depth": d} for t, d in depth],
            "queue_depth_at_rest_peak": max((d for _, d in rest_depth), default=0),
            "api_cold_starts": cold_starts,
            "slowest_answers": {
                "at_rest": _slowest(rest, rest[0].at if rest else 0.0),
                "burst": _slowest(burst, burst[0].at if burst else 0.0),
            },
            "integrity": integrity,
        }
        result["api_latency"]["p99_burst_over_rest"] = (
            result["api_latency"]["burst"]["p99_ms"] / result["api_latency"]["at_rest"]["p99_ms"]
        )
        result["throughput"] = _throughput(runtime, api)
    return result


def _throughput(runtime: LocalRuntime, api: Api) -> dict[str, Any]:
    """Accepted orders a second, senders back to back, against raw moto PutItem + SendMessage
    from this process on the same server with as many senders."""
    api_rate = _closed_loop(api.place_order, MAX_RATE_ORDERS, SENDERS)
    dynamodb, sqs = runtime.client("dynamodb"), runtime.client("sqs")
    dynamodb.create_table(
        TableName="bench-scratch",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    queue = sqs.create_queue(QueueName="bench-scratch")["QueueUrl"]

    def put_and_send() -> None:
        key = uuid.uuid4().hex
        dynamodb.put_item(TableName="bench-scratch", Item={"id": {"S": key}})
        sqs.send_message(QueueUrl=queue, MessageBody=key)

    raw_rate = _closed_loop(put_and_send, MAX_RATE_ORDERS, SENDERS)
    return {
        "senders": SENDERS,
        "api_accepted_per_s": api_rate,
        "raw_moto_put_and_send_per_s": raw_rate,
        "api_over_raw": api_rate / raw_rate,
    }


def print_report(result: dict[str, Any]) -> None:
    worker, burst = result["worker"], result["burst"]
    print(
        f"worker capped at {worker['max_concurrency']} behind a {worker['slow_downstream_s']} s"
        f" downstream: settles {worker['measured_settle_rate_per_s']:.1f}/s measured "
        f"(nominal {worker['nominal_capacity_per_s']:.0f}/s); burst offered "
        f"{burst['offered_per_s']:.0f}/s for {burst['orders']} orders, accepted "
        f"{burst['accepted_per_s']:.1f}/s"
    )
    at_rest = result["at_rest"]
    print(
        f"at rest: {at_rest['orders']} orders at {at_rest['offered_per_s']:.1f}/s (queue depth "
        f"peaked at {result['queue_depth_at_rest_peak']}); API cold starts: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result["api_cold_starts"].items())
    )
    print(f"{'':<22}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}")
    for label, numbers in (
        ("API answer, at rest", result["api_latency"]["at_rest"]),
        ("API answer, burst", result["api_latency"]["burst"]),
        ("POST->settled, rest", result["end_to_end"]["at_rest"]),
        ("POST->settled, burst", result["end_to_end"]["burst"]),
    ):
        print(
            f"{label:<22}{numbers['n']:>6}{numbers['p50_ms']:>9.0f}{numbers['p99_ms']:>9.0f}"
            f"{numbers['p99_9_ms']:>10.0f}"
        )
    ratio = result["api_latency"]["p99_burst_over_rest"]
    verdict = "within" if ratio <= 2 else "OVER"
    print(f"API p99 burst / rest: {ratio:.2f}x ({verdict} the 2x target)")
    for phase, slowest in result["slowest_answers"].items():
        print(
            f"slowest answers {phase.replace('_', ' ')} (s into the phase: ms): "
            + ", ".join(f"{a['sent_s']:.1f}: {a['ms']:.0f}" for a in slowest)
        )
    depth = result["queue_depth"]
    peak = max((d["depth"] for d in depth), default=0)
    every = max(1, len(depth) // 12)
    print(
        "queue depth (t s: messages): "
        + ", ".join(f"{d['t_s']:.0f}: {d['depth']}" for d in depth[::every])
        + f"; peak {peak}; drained {burst['time_to_drain_s']:.1f} s after the burst began"
    )
    integrity = result["integrity"]
    print(
        f"integrity: {integrity['accepted']} accepted, {integrity['confirmed']} confirmed, "
        f"{integrity['missing']} missing, {integrity['not_settled']} unsettled, "
        f"{integrity['units_reserved']} units reserved for {integrity['units_expected']} "
        f"confirmed orders, {integrity['dead_lettered']} dead-lettered: "
        + ("every order settled once" if integrity["every_order_settled_once"] else "BROKEN")
    )
    throughput = result["throughput"]
    print(
        f"accepted orders/s ({throughput['senders']} senders back to back): "
        f"{throughput['api_accepted_per_s']:.0f}; raw moto PutItem+SendMessage: "
        f"{throughput['raw_moto_put_and_send_per_s']:.0f}/s "
        f"({throughput['api_over_raw']:.2f}x)"
    )
