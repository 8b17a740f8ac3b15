"""The sweeper re-enqueues orders left ACCEPTED without a message, and only those."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orders.adapters.queues import OrderQueues
from orders.domain import service
from orders.settings import SweeperSettings
from shared.settings import load_settings
from tests.handlers.helpers import (
    Aws,
    invoke,
    order_store,
    place_order_event,
    run_worker,
    sqs_event,
    sweep,
)


def accepted_before(cutoff: str) -> list[str]:
    return load_settings(SweeperSettings).store().accepted_before(cutoff)


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
    (order_id,) = accepted_before("9999")
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
    assert accepted_before("9999") == []  # settled orders leave the sweeper's index


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
