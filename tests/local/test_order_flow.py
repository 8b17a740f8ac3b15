"""The whole decoupled path over HTTP: 202 at once, then the worker settles the order."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.local.runtime import LocalRuntime
from infra.orders_local import orders_runtime
from infra.topology import TOPOLOGY
from tests.conftest import load_event
from tests.local.conftest import Http

pytestmark = pytest.mark.local


def stock(http: Http, sku: str) -> int:
    return int(http.get(f"/products/{sku}").body["available"])


def test_a_placed_order_is_confirmed_with_stock_and_total_right(http: Http) -> None:
    before = stock(http, "KB-001"), stock(http, "MS-002")

    reply = http.post(
        "/orders",
        {
            "customerId": "c-42",
            "items": [{"sku": "KB-001", "quantity": 2}, {"sku": "MS-002", "quantity": 1}],
        },
    )

    assert reply.status == 202
    assert reply.body["status"] == "ACCEPTED"
    assert reply.headers["Location"] == reply.body["links"]["self"]
    order = http.wait_for(reply.body["orderId"])
    assert order["status"] == "CONFIRMED"
    assert order["total"] == {"amount": 2 * 8900 + 2900, "currency": "EUR"}
    assert (stock(http, "KB-001"), stock(http, "MS-002")) == (before[0] - 2, before[1] - 1)


def test_an_order_beyond_stock_is_rejected_with_a_reason(http: Http) -> None:
    available = stock(http, "MN-003")

    order = http.wait_for(http.place(("MN-003", available + 1)))

    assert order["status"] == "REJECTED"
    assert (
        order["reason"]
        == f"insufficient stock for MN-003: requested {available + 1}, available {available}"
    )
    assert stock(http, "MN-003") == available


def test_concurrent_orders_never_oversell(http: Http, runtime: LocalRuntime) -> None:
    # Given ten orders placed at once, with stock for exactly seven of them
    available = stock(http, "CB-005")
    quantity = available // 7
    with ThreadPoolExecutor(max_workers=10) as pool:
        order_ids = list(pool.map(lambda _: http.place(("CB-005", quantity)), range(10)))

    runtime.wait_until_idle()
    statuses = [http.wait_for(order_id)["status"] for order_id in order_ids]

    assert statuses.count("CONFIRMED") == 7
    assert statuses.count("REJECTED") == 3
    assert stock(http, "CB-005") == available - 7 * quantity


def test_errors_are_problem_json_over_http(http: Http) -> None:
    for method, path, body, status in [
        ("GET", "/nowhere", None, 404),
        ("DELETE", "/orders", None, 405),
        ("GET", "/orders/01a20a90-6da9-7051-8636-e5604348235b", None, 404),
        ("POST", "/orders", b"{oops", 400),
        ("POST", "/orders", {"customerId": "c", "items": [{"sku": "KB-001", "quantity": -1}]}, 400),
        (
            "POST",
            "/orders",
            {"customerId": "c", "items": [{"sku": "KB-001", "quantity": 1}] * 2},
            422,
        ),
    ]:
        reply = http.request(method, path, body)
        assert reply.status == status, (method, path)
        assert reply.headers["Content-Type"] == "application/problem+json"
        assert reply.body["status"] == status


def test_correlation_id_follows_the_order_through_every_function(
    http: Http, runtime: LocalRuntime
) -> None:
    reply = http.post(
        "/orders",
        {"customerId": "c-9", "items": [{"sku": "KB-001", "quantity": 1}]},
        headers={"X-Correlation-Id": "trace-me-123"},
    )
    order_id = reply.body["orderId"]
    http.wait_for(order_id)

    touching = [
        (name, json.loads(line))
        for name, line in list(runtime.logs)
        if line.startswith("{") and order_id in line
    ]
    functions = {name for name, _ in touching}
    assert functions == {"order-api", "order-worker"}
    assert all(entry["correlation_id"] == "trace-me-123" for _, entry in touching)


def test_the_gateway_builds_events_shaped_like_api_gateways(runtime: LocalRuntime) -> None:
    assert runtime._gateway is not None
    sample = load_event("api/get_order")
    event = runtime._gateway.proxy_event(
        "GET", "/orders/abc?x=1", [("Accept", "application/json")], b"", "127.0.0.1"
    )
    assert set(event) == set(sample)
    assert set(event["requestContext"]) <= set(sample["requestContext"])
    assert event["resource"] == "/orders/{orderId}"
    assert event["pathParameters"] == {"orderId": "abc"}
    assert event["queryStringParameters"] == {"x": "1"}


def test_functions_run_isolated_with_their_own_environment(runtime: LocalRuntime) -> None:
    api = runtime.environment(runtime.topology.function("order-api"))
    worker = runtime.environment(runtime.topology.function("order-worker"))
    assert "ORDERS_QUEUE_URL" in api
    assert "ORDERS_QUEUE_URL" not in worker
    pids = {
        name: {env.process.pid for env in function._idle}
        for name, function in runtime.functions.items()
    }
    assert pids["order-api"]
    assert pids["order-worker"]
    assert not pids["order-api"] & pids["order-worker"]


def test_the_gateway_refuses_bodies_over_10_mb(http: Http) -> None:
    reply = http.request("POST", "/orders", b"x" * (10 * 1024 * 1024 + 1))
    assert reply.status == 413
    assert reply.body["type"] == "urn:orders-api:problem:gateway-REQUEST_TOO_LARGE"


def test_a_failing_or_timed_out_function_gets_the_gateways_5xx() -> None:
    # a function timeout is a Lambda error: API Gateway answers 502, not 504
    slow = TOPOLOGY.replace_function("order-api", timeout_s=0.001)
    with orders_runtime(slow, port=0, echo_logs=False) as runtime:
        reply = Http.for_runtime(runtime).get("/products")
        assert (reply.status, reply.body["type"]) == (
            502,
            "urn:orders-api:problem:gateway-DEFAULT_5XX",
        )
    broken = {"order-api": {"POWERTOOLS_LOG_LEVEL": "NOT-A-LEVEL"}}
    with orders_runtime(port=0, echo_logs=False, function_environment=broken) as runtime:
        reply = Http.for_runtime(runtime).get("/products")
        assert (reply.status, reply.body["type"]) == (
            502,
            "urn:orders-api:problem:gateway-DEFAULT_5XX",
        )
        assert any("init failed" in line for line in runtime.log_lines("order-api"))


def test_the_gateway_validates_bodies_against_the_model_as_api_gateway_does(
    http: Http, runtime: LocalRuntime
) -> None:
    before = runtime.dynamodb.scan(TableName="orders", Select="COUNT")["Count"]

    reply = http.post("/orders", {"customerId": "c", "items": [{"sku": "KB-001", "quantity": 0}]})

    assert reply.status == 400
    assert reply.body["type"] == "urn:orders-api:problem:gateway-BAD_REQUEST_BODY"
    assert runtime.dynamodb.scan(TableName="orders", Select="COUNT")["Count"] == before
    assert any(
        "0 is less than the minimum of 1" in line for line in runtime.log_lines("api-gateway")
    )
    # what the schema cannot say (one line per SKU) the function refuses with field pointers
    reply = http.post(
        "/orders", {"customerId": "c", "items": [{"sku": "KB-001", "quantity": 1}] * 2}
    )
    assert (reply.status, reply.body["errors"][0]["pointer"]) == (422, "/items")
