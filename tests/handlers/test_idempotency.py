"""POST /orders with an Idempotency-Key: one order per key, and retries that heal."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from orders.adapters.queues import OrderQueues
from orders.api import handler
from orders.domain import service
from orders.domain.errors import QueueUnavailable
from tests.handlers.helpers import Aws, as_client, invoke, place_order_event

BODY = {"customerId": "c-idem", "items": [{"sku": "KB-001", "quantity": 1}]}


def place(body: dict[str, Any] = BODY, key: str = "key-1") -> tuple[int, dict[str, str], Any]:
    return invoke(place_order_event(body=body, **{"Idempotency-Key": key}))


class Crash(BaseException):
    """Stands for the process dying: no `except Exception` gets to clean up."""


def test_same_key_and_body_return_the_same_answer_and_one_order(aws: Aws) -> None:
    first = place()
    second = place()

    assert first[0] == second[0] == 202
    assert first[2] == second[2]
    assert first[1]["Location"] == second[1]["Location"]
    assert aws.count("orders") == 1
    assert len(aws.receive()) == 1


def test_the_same_order_spelled_otherwise_is_the_same_request(aws: Aws) -> None:
    first = place()
    reordered = dict(reversed(BODY.items()))
    assert json.dumps(reordered) != json.dumps(BODY)

    second = place(body=reordered)

    assert second[0] == 202
    assert second[2] == first[2]
    assert aws.count("orders") == 1


def test_same_key_with_another_body_is_refused_and_changes_nothing(aws: Aws) -> None:
    place()
    status, headers, problem = place(body=BODY | {"customerId": "someone-else"})

    assert status == 422
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "urn:orders-api:problem:idempotency-key-reused"
    assert aws.count("orders") == 1


def test_other_keys_are_other_orders(aws: Aws) -> None:
    assert place(key="a")[2]["orderId"] != place(key="b")[2]["orderId"]
    assert aws.count("orders") == 2


def test_records_of_two_clients_never_collide(aws: Aws) -> None:
    # Given keys that, joined to their client with a separator, would read the same: a#b#c
    first = invoke(as_client(place_order_event(**{"Idempotency-Key": "c"}), "a#b"))
    second = invoke(as_client(place_order_event(**{"Idempotency-Key": "b#c"}), "a"))

    # Then they are two requests: two orders, two idempotency records
    assert first[0] == second[0] == 202
    assert first[2]["orderId"] != second[2]["orderId"]
    assert aws.count("orders") == 2
    assert aws.count("idempotency") == 2
    assert len(aws.receive()) == 2


def test_a_concurrent_duplicate_gets_409_while_the_first_is_in_flight(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a first request that, while it is being served, sees the same request arrive
    answers: list[tuple[int, dict[str, str], Any]] = []
    real_place = service.place_order

    def place_while_a_duplicate_arrives(*args: Any, **kwargs: Any) -> Any:
        answers.append(place())
        return real_place(*args, **kwargs)

    monkeypatch.setattr(service, "place_order", place_while_a_duplicate_arrives)

    first = place()

    (duplicate,) = answers
    assert first[0] == 202
    assert duplicate[0] == 409
    assert duplicate[1]["Retry-After"] == "1"
    assert duplicate[2]["type"] == "urn:orders-api:problem:request-in-progress"
    assert aws.count("orders") == 1


def test_a_retry_after_a_crash_between_write_and_send_heals_the_order(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a first attempt that recorded the order and died before sending its message
    def die(*_: Any) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(OrderQueues, "send_order_placed", die)
        with pytest.raises(Crash):
            place()
    (orphan,) = aws.dynamodb.scan(TableName="orders")["Items"]
    assert aws.receive() == []
    # ...and whose in-progress record has expired with its invocation
    (record,) = aws.dynamodb.scan(TableName="idempotency")["Items"]
    aws.dynamodb.update_item(
        TableName="idempotency",
        Key={"id": record["id"]},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time() * 1000) - 1)}},
    )

    # When the client retries with the same key
    status, _, body = place()

    # Then it gets the first order, now enqueued, and no second order exists
    assert status == 202
    assert body["orderId"] == orphan["orderId"]["S"]
    assert aws.count("orders") == 1
    (message,) = aws.receive()
    assert json.loads(message["Body"])["data"]["orderId"] == body["orderId"]


def test_a_503_leaves_the_key_free_for_a_retry(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(*_: Any) -> None:
        raise QueueUnavailable("down")

    with monkeypatch.context() as patch:
        patch.setattr(OrderQueues, "send_order_placed", unavailable)
        assert place()[0] == 503

    status, _, _ = place()

    assert status == 202
    assert aws.count("orders") == 1
    assert len(aws.receive()) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ünï"])
def test_malformed_keys_are_refused(aws: Aws, key: str) -> None:
    status, _, problem = place(key=key)
    assert status == 400
    assert problem["type"] == "urn:orders-api:problem:invalid-idempotency-key"
    assert aws.count("orders") == 0


def test_idempotency_is_imported_only_when_a_key_is_used() -> None:
    source = (handler.__file__ or "").replace(".pyc", ".py")
    with open(source) as module:
        top_level = [line for line in module if line.startswith(("import ", "from "))]
    assert not any("idempotency" in line for line in top_level)
