"""The sweeper re-enqueues unfinished orders, and only those: left ACCEPTED without a message,
or settled with a webhook event never handed to the notifications queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from messages.webhooks import DeliveryStatus
from orders.adapters.queues import OrderQueues
from orders.adapters.store import OrderStore
from orders.domain import service
from orders.domain.errors import QueueUnavailable
from orders.settings import SweeperSettings
from shared.envelope import utc_now
from shared.settings import load_settings
from tests.handlers.helpers import (
    Aws,
    crafted,
    delivery_updated,
    invoke,
    order_store,
    place_order_event,
    run_worker,
    sqs_event,
    sweep,
)


def unfinished_before(cutoff: str) -> list[str]:
    return load_settings(SweeperSettings).store().unfinished_before(cutoff)


class Crash(BaseException):
    pass


def orphan(monkeypatch: pytest.MonkeyPatch) -> str:
    """An order recorded by an API that died before sending its message."""

    def die(*_: Any) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(OrderQueues, "send_order_placed", die)
        with pytest.raises(Crash):
            invoke(place_order_event())
    (order_id,) = unfinished_before("9999")
    return order_id


def test_an_orphaned_order_is_re_enqueued_and_then_settles(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = orphan(monkeypatch)
    monkeypatch.setenv("SWEEP_AFTER_SECONDS", "0.001")

    assert sweep() == {"reenqueued": 1, "stuck": 0, "settled": 0}

    (message,) = aws.receive()
    assert json.loads(message["Body"])["data"]["orderId"] == order_id
    run_worker(sqs_event(message))
    assert service.get_order(order_id, order_store()).status == "CONFIRMED"
    assert unfinished_before("9999") == []  # settled orders leave the sweeper's index


def test_young_orders_are_left_alone(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    orphan(monkeypatch)  # default threshold: 15 minutes
    assert sweep() == {"reenqueued": 0, "stuck": 0, "settled": 0}
    assert aws.receive() == []


def test_an_order_that_keeps_failing_is_left_for_an_operator(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan(monkeypatch)
    monkeypatch.setenv("SWEEP_AFTER_SECONDS", "0.001")
    monkeypatch.setenv("SWEEP_MAX_REENQUEUES", "2")

    results = [sweep() for _ in range(3)]

    assert [r["reenqueued"] for r in results] == [1, 1, 0]
    assert results[-1]["stuck"] == 1


def _place_order_with_callback(aws: Aws) -> tuple[dict[str, Any], dict[str, Any]]:
    """An accepted order with a callback URL (a public address, never called): the API's
    answer and the order's message on the orders queue."""
    body = {
        "customerId": "c-7",
        "items": [{"sku": "KB-001", "quantity": 1}],
        "callbackUrl": "https://93.184.215.14/hooks/orders",
    }
    status, _, answer = invoke(place_order_event(body=body))
    assert status == 202, answer
    (message,) = aws.receive()
    return answer, message


def test_a_settled_order_whose_webhook_was_never_published_is_re_sent_until_it_is(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an order with a callback, settled while the notifications queue was down: its
    # message failed after the settling write, and then went to the dead-letter queue
    answer, message = _place_order_with_callback(aws)

    def down(*_: Any) -> None:
        raise QueueUnavailable("notifications")

    with monkeypatch.context() as patch:
        patch.setattr(OrderQueues, "request_webhook", down)
        assert run_worker(sqs_event(message)) == [message["MessageId"]]
    order_id = answer["orderId"]
    assert service.get_order(order_id, order_store()).status == "CONFIRMED"
    assert aws.receive("notifications") == []
    # the order stays in the sweeper's index: it still owes its event
    assert unfinished_before("9999") == [order_id]

    # When the sweeper runs, the order is re-sent, and the worker publishes the event
    monkeypatch.setenv("SWEEP_AFTER_SECONDS", "0.001")
    assert sweep() == {"reenqueued": 1, "stuck": 0, "settled": 0}
    (again,) = aws.receive()
    assert run_worker(sqs_event(again)) == []

    (published,) = aws.receive("notifications")
    assert json.loads(published["Body"])["data"]["orderId"] == order_id
    assert unfinished_before("9999") == []  # owing nothing more, it left the index
    assert sweep() == {"reenqueued": 0, "stuck": 0, "settled": 0}


def test_a_settled_order_without_a_callback_leaves_the_index_when_it_settles(aws: Aws) -> None:
    status, _, answer = invoke(place_order_event())
    assert status == 202, answer
    (message,) = aws.receive()
    assert unfinished_before("9999") == [answer["orderId"]]
    assert run_worker(sqs_event(message)) == []
    assert unfinished_before("9999") == []


def test_a_settled_order_whose_event_got_out_unmarked_leaves_the_index_at_the_next_sweep(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an order whose event was published, but the worker died before recording that,
    # and whose delivery was then reported DELIVERED
    answer, message = _place_order_with_callback(aws)
    with monkeypatch.context() as patch:
        patch.setattr(OrderStore, "mark_published", lambda *_: None)
        assert run_worker(sqs_event(message)) == []
    (published,) = aws.receive("notifications")
    event_id = json.loads(published["Body"])["data"]["eventId"]
    update = delivery_updated(
        answer["orderId"], event_id, 1, DeliveryStatus.DELIVERED, 1, 204, delivered_at=utc_now()
    )
    assert run_worker(sqs_event(crafted(update))) == []
    assert unfinished_before("9999") == [answer["orderId"]]

    # When the sweeper runs, nothing is re-sent and the order leaves the index
    monkeypatch.setenv("SWEEP_AFTER_SECONDS", "0.001")
    assert sweep() == {"reenqueued": 0, "stuck": 0, "settled": 1}
    assert aws.receive() == []
    assert unfinished_before("9999") == []
