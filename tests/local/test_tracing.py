"""One order's correlation id, followed over HTTP through every function that touches it: the
API, the worker, the notifier (the webhook's delivery) and the worker again (the delivery's
report). X-Ray itself cannot run locally; docs/operations.md says how the trace follows the same
path on AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.runtime import LocalRuntime
from infra.orders_local import orders_runtime
from tests.local.conftest import Http, wait_until

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with orders_runtime(port=0, echo_logs=False) as started:
        yield started


def delivered(http: Http, order_id: str) -> bool:
    notifications = http.get(f"/orders/{order_id}").body.get("notifications", [])
    return any(n.get("status") == "DELIVERED" for n in notifications)


def test_the_correlation_id_is_on_every_log_line_of_every_function_that_handles_the_order(
    runtime: LocalRuntime,
) -> None:
    http = Http.for_runtime(runtime)
    # Given an order placed with a correlation id and a webhook to the local receiver
    reply = http.post(
        "/orders",
        {
            "customerId": "c-trace",
            "items": [{"sku": "CB-005", "quantity": 1}],
            "callbackUrl": runtime.receiver_url,
        },
        headers={"X-Correlation-Id": "trace-one-order-42"},
    )
    assert reply.status == 202, reply.body
    assert reply.headers["X-Correlation-Id"] == "trace-one-order-42"
    order_id = reply.body["orderId"]

    # When it is settled and its webhook delivered and reported back
    http.wait_for(order_id)
    wait_until(lambda: delivered(http, order_id), 60, "the webhook delivered and reported")
    runtime.wait_until_idle()

    # Then every structured log line about it, in every function, carries the id
    touching: list[tuple[str, dict[str, Any]]] = [
        (name, json.loads(line))
        for name, line in list(runtime.logs)
        if line.startswith("{") and order_id in line
    ]
    assert {name for name, _ in touching} == {"order-api", "order-worker", "notifier"}
    assert [
        (name, entry.get("message"))
        for name, entry in touching
        if entry.get("correlation_id") != "trace-one-order-42"
    ] == []
    assert any(entry.get("message") == "Webhook delivered" for _, entry in touching)
