"""The sweeper re-enqueues orders left ACCEPTED without a message, and only those."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sweeper import handler

from orders import messaging, service, store
from tests.conftest import FakeContext, load_event
from tests.handlers.conftest import Aws
from tests.handlers.test_order_api import invoke, place_order_event
from tests.handlers.test_order_worker import run_worker, sqs_event


class Crash(BaseException):
    pass


def orphan(monkeypatch: pytest.MonkeyPatch) -> str:
    """An order recorded by an API that died before sending its message."""

    def die(*_: Any) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(messaging, "send_order_placed", die)
        with pytest.raises(Crash):
            invoke(place_order_event())
    order_id = next(iter(store.accepted_before("9999")))
    return order_id


def sweep() -> dict[str, int]:
    result: dict[str, int] = handler.lambda_handler(
        load_event("eventbridge/sweeper_schedule"), FakeContext(function_name="sweeper")
    )
    return result


def test_an_orphaned_order_is_re_enqueued_and_then_settles(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = orphan(monkeypatch)
    monkeypatch.setenv("SWEEP_AFTER_SECONDS", "0.001")
    from shared.settings import get_settings

    get_settings.cache_clear()

    assert sweep() == {"reenqueued": 1, "stuck": 0, "settled": 0}

    (message,) = aws.receive()
    assert json.loads(message["Body"])["data"]["orderId"] == order_id
    run_worker(sqs_event(message))
    assert service.get_order(order_id).status == "CONFIRMED"
    assert store.accepted_before("9999") == []  # settled orders leave the sweeper's index


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
    from shared.settings import get_settings

    get_settings.cache_clear()

    results = [sweep() for _ in range(3)]

    assert [r["reenqueued"] for r in results] == [1, 1, 0]
    assert results[-1]["stuck"] == 1
