"""The order worker, invoked with SQS sample events against moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from messages.webhooks import DeliveryStatus
from orders.adapters.store import OrderStore
from orders.domain import notifications, service
from orders.domain.models import OrderStatus, StoredOrder
from tests.conftest import load_event
from tests.handlers.helpers import (
    Aws,
    attributes_of,
    crafted,
    delivery_updated,
    invoke,
    order_of,
    order_store,
    place_order_event,
    run_worker,
    sqs_event,
)


def place(aws: Aws, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Place an order through the API and return the queued record it produced."""
    status, _, body = invoke(place_order_event(body={"customerId": "c-7", "items": items}))
    assert status == 202, body
    (message,) = aws.receive()
    return message


def status_of(aws: Aws, message: dict[str, Any]) -> dict[str, Any]:
    order = service.get_order(order_of(message), order_store())
    return order.model_dump(mode="json", by_alias=True)


def test_confirms_an_order_with_catalog_prices_and_reserves_stock(aws: Aws) -> None:
    message = place(aws, [{"sku": "KB-001", "quantity": 2}, {"sku": "MS-002", "quantity": 3}])

    assert run_worker(sqs_event(message)) == []

    order = status_of(aws, message)
    assert order["status"] == "CONFIRMED"
    assert order["items"] == [
        {"sku": "KB-001", "quantity": 2, "unitPrice": {"amount": 8900, "currency": "EUR"}},
        {"sku": "MS-002", "quantity": 3, "unitPrice": {"amount": 2900, "currency": "EUR"}},
    ]
    assert order["total"] == {"amount": 2 * 8900 + 3 * 2900, "currency": "EUR"}
    assert (aws.stock("KB-001"), aws.stock("MS-002")) == (23, 37)
    assert order["updatedAt"] > order["createdAt"]


def test_settling_publishes_the_time_since_acceptance_as_an_emf_metric(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    confirmed = place(aws, [{"sku": "KB-001", "quantity": 1}])
    rejected = place(aws, [{"sku": "ZZ-404", "quantity": 1}])
    capsys.readouterr()

    run_worker(sqs_event(confirmed, rejected))

    emf = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and '"_aws"' in line
    ]
    (document,) = emf
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units["SettlementLatency"] == "Milliseconds"
    assert directive["Dimensions"] == [["service"]]  # few dimensions: the service alone
    latencies = document["SettlementLatency"]
    assert len(latencies) == 2  # one per settled order, confirmed or rejected
    assert all(0 <= value < 60_000 for value in latencies)


def test_insufficient_stock_rejects_and_reserves_nothing(aws: Aws) -> None:
    message = place(aws, [{"sku": "KB-001", "quantity": 1}, {"sku": "MN-003", "quantity": 6}])

    assert run_worker(sqs_event(message)) == []

    order = status_of(aws, message)
    assert order["status"] == "REJECTED"
    assert order["reason"] == "insufficient stock for MN-003: requested 6, available 5"
    assert (aws.stock("KB-001"), aws.stock("MN-003")) == (25, 5)


def test_unknown_sku_rejects_with_reason(aws: Aws) -> None:
    message = place(aws, [{"sku": "KB-001", "quantity": 1}, {"sku": "ZZ-999", "quantity": 1}])

    run_worker(sqs_event(message))

    order = status_of(aws, message)
    assert (order["status"], order["reason"]) == ("REJECTED", "unknown SKU: ZZ-999")
    assert aws.stock("KB-001") == 25


def test_redelivery_never_reserves_twice(aws: Aws) -> None:
    message = place(aws, [{"sku": "KB-001", "quantity": 4}])

    for _ in range(3):
        assert run_worker(sqs_event(message)) == []

    assert status_of(aws, message)["status"] == "CONFIRMED"
    assert aws.stock("KB-001") == 21


def test_a_racing_duplicate_cannot_reserve_twice(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a worker that read the order while it was ACCEPTED...
    message = place(aws, [{"sku": "KB-001", "quantity": 5}])
    store = order_store()
    stale = store.get_order(order_of(message))
    # ...and another delivery that settled it in the meantime
    settled = service.settle_order(order_of(message), order_store())
    assert settled is not None
    assert settled.status is OrderStatus.CONFIRMED
    # When the slow worker carries on, its transaction's condition refuses it
    with monkeypatch.context() as patch:
        patch.setattr(store, "get_order", lambda _: stale)
        service.settle_order(order_of(message), store)

    assert aws.stock("KB-001") == 20
    assert service.get_order(order_of(message), order_store()).status is OrderStatus.CONFIRMED


def test_the_last_units_go_to_one_order_only(aws: Aws) -> None:
    first = place(aws, [{"sku": "MN-003", "quantity": 3}])
    second = place(aws, [{"sku": "MN-003", "quantity": 3}])

    assert run_worker(sqs_event(first, second)) == []

    statuses = [status_of(aws, m)["status"] for m in (first, second)]
    assert statuses == ["CONFIRMED", "REJECTED"]
    assert aws.stock("MN-003") == 2


def test_a_poison_record_fails_alone_and_is_dead_lettered_at_once(aws: Aws) -> None:
    good = place(aws, [{"sku": "CB-005", "quantity": 1}])
    poison = dict(good, MessageId="poison-1", Body="{not json")
    wrong_type = dict(
        good, MessageId="poison-2", Body=json.dumps(json.loads(good["Body"]) | {"type": "x"})
    )

    failures = run_worker(sqs_event(poison, good, wrong_type))

    # no retry can fix them: not reported failed (so not retried), but dead-lettered with why
    assert failures == []
    assert status_of(aws, good)["status"] == "CONFIRMED"
    dead = {m["Body"]: attributes_of(m) for m in aws.dead_letters("orders")}
    assert dead.keys() == {poison["Body"], wrong_type["Body"]}
    assert dead[poison["Body"]]["failureReason"] == "not a message envelope (type and version)"
    assert dead[wrong_type["Body"]]["failureReason"] == "unknown message type x@1"
    # the copy keeps the message's own attributes
    assert dead[poison["Body"]]["correlationId"] == "sample-correlation-0001"


def test_a_record_that_breaks_its_schema_is_dead_lettered_with_where(aws: Aws) -> None:
    body = json.dumps(
        {
            "id": "o-1",
            "type": "order.placed",
            "version": 1,
            "correlationId": "c-1",
            "occurredAt": "2026-11-23T22:28:20Z",
            "data": {},
        }
    )

    assert run_worker(sqs_event(crafted(body))) == []

    (dead,) = aws.dead_letters("orders")
    assert dead["Body"] == body
    assert attributes_of(dead)["failureReason"] == (
        "order.placed@1 breaks its schema at data/orderId: Field required"
    )


def test_a_storage_error_fails_only_that_record(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    first = place(aws, [{"sku": "CB-005", "quantity": 1}])
    second = place(aws, [{"sku": "CB-005", "quantity": 2}])
    real_get_order = OrderStore.get_order

    def flaky(store: OrderStore, order_id: str) -> StoredOrder | None:
        if order_id == order_of(first):
            raise ConnectionError("DynamoDB unreachable")
        return real_get_order(store, order_id)

    monkeypatch.setattr(OrderStore, "get_order", flaky)

    assert run_worker(sqs_event(first, second)) == [first["MessageId"]]
    assert aws.stock("CB-005") == 198
    assert aws.dead_letters("orders") == []  # retried by SQS, not dead-lettered


def test_a_batch_whose_every_record_fails_reports_them_all(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the invocation itself succeeds: SQS retries just the failed records (Lambda would count
    # an error, and scale the queue's pollers down, if the handler raised instead)
    first = place(aws, [{"sku": "CB-005", "quantity": 1}])
    second = place(aws, [{"sku": "CB-005", "quantity": 2}])

    def unreachable(store: OrderStore, order_id: str) -> StoredOrder | None:
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(OrderStore, "get_order", unreachable)

    assert run_worker(sqs_event(first)) == [first["MessageId"]]
    assert run_worker(sqs_event(first, second)) == [first["MessageId"], second["MessageId"]]
    assert aws.stock("CB-005") == 200


def test_an_order_that_was_never_accepted_is_dropped(aws: Aws) -> None:
    message = place(aws, [{"sku": "CB-005", "quantity": 1}])
    aws.dynamodb.delete_item(TableName="orders", Key={"orderId": {"S": order_of(message)}})

    assert run_worker(sqs_event(message)) == []
    assert aws.stock("CB-005") == 200


def test_sample_event_settles_its_order_and_dead_letters_the_poison_record(aws: Aws) -> None:
    # The committed sample: one order.placed message and one malformed body.
    event = load_event("sqs/orders")
    order_id = json.loads(event["Records"][0]["body"])["data"]["orderId"]
    invoke(place_order_event())  # a real order so the table is in use
    aws.dynamodb.put_item(
        TableName="orders",
        Item={
            "orderId": {"S": order_id},
            "customerId": {"S": "c-1"},
            "status": {"S": "ACCEPTED"},
            "items": {"L": [{"M": {"sku": {"S": "KB-001"}, "quantity": {"N": "1"}}}]},
            "createdAt": {"S": "2026-11-23T22:28:20.123000Z"},
            "updatedAt": {"S": "2026-11-23T22:28:20.123000Z"},
            "correlationId": {"S": "sample-correlation-0001"},
        },
    )

    assert run_worker(event) == []

    assert service.get_order(order_id, order_store()).status is OrderStatus.CONFIRMED
    (dead,) = aws.dead_letters("orders")
    assert dead["Body"] == event["Records"][1]["body"]
    assert attributes_of(dead) == {
        "correlationId": "sample-correlation-0002",
        "messageType": "order.placed",
        "failureReason": "not a message envelope (type and version)",
    }


PUBLIC_CALLBACK = (
    "https://93.184.215.14/hooks/orders"  # a public address literal; never called here
)


def place_with_callback(aws: Aws, items: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"customerId": "c-7", "items": items, "callbackUrl": PUBLIC_CALLBACK}
    status, _, answer = invoke(place_order_event(body=body))
    assert status == 202, answer
    (message,) = aws.receive()
    return message


def test_a_settled_order_with_a_callback_publishes_one_event(aws: Aws) -> None:
    message = place_with_callback(aws, [{"sku": "KB-001", "quantity": 1}])

    run_worker(sqs_event(message))

    (published,) = aws.receive("notifications")
    envelope = json.loads(published["Body"])
    order = status_of(aws, message)
    (notification,) = order["notifications"]
    assert notification["status"] == "PENDING"
    assert notification["type"] == "order.confirmed"
    assert envelope["type"] == "webhook.requested"
    assert envelope["id"] == envelope["data"]["eventId"] == notification["eventId"]
    assert notification["eventId"] == notifications.event_id(order["orderId"], "order.confirmed")
    assert envelope["data"]["orderId"] == order["orderId"]
    assert envelope["data"]["callbackUrl"] == PUBLIC_CALLBACK
    assert envelope["data"]["payload"]["type"] == "order.confirmed"
    assert envelope["data"]["payload"]["data"]["total"] == {"amount": 8900, "currency": "EUR"}
    assert envelope["correlationId"] == "sample-correlation-0001"
    assert attributes_of(published)["messageType"] == "webhook.requested"


def test_a_redelivered_order_message_does_not_publish_the_event_again(aws: Aws) -> None:
    message = place_with_callback(aws, [{"sku": "MN-003", "quantity": 99}])

    run_worker(sqs_event(message))
    run_worker(sqs_event(message))

    (published,) = aws.receive("notifications")
    (notification,) = status_of(aws, message)["notifications"]
    assert json.loads(published["Body"])["data"]["eventId"] == notification["eventId"]
    assert notification["type"] == "order.rejected"


def test_a_crash_between_settling_and_publishing_is_healed_by_the_redelivery(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = place_with_callback(aws, [{"sku": "KB-001", "quantity": 1}])
    with monkeypatch.context() as patch:
        patch.setattr(notifications, "publish_pending", lambda *_: 0)  # the process died here
        run_worker(sqs_event(message))
    assert aws.receive("notifications") == []

    run_worker(sqs_event(message))  # the message comes back after its visibility timeout

    (published,) = aws.receive("notifications")
    (notification,) = status_of(aws, message)["notifications"]
    assert json.loads(published["Body"])["data"]["eventId"] == notification["eventId"]


def test_no_event_is_published_once_the_event_is_settled(aws: Aws) -> None:
    message = place_with_callback(aws, [{"sku": "KB-001", "quantity": 1}])
    run_worker(sqs_event(message))
    aws.receive("notifications")
    (notification,) = status_of(aws, message)["notifications"]
    delivered = delivery_updated(
        order_of(message), notification["eventId"], 1, DeliveryStatus.DELIVERED, attempts=1
    )
    assert run_worker(sqs_event(crafted(delivered))) == []

    run_worker(sqs_event(message))

    assert aws.receive("notifications") == []


def test_an_order_without_callback_owes_no_event(aws: Aws) -> None:
    message = place(aws, [{"sku": "KB-001", "quantity": 1}])
    run_worker(sqs_event(message))
    assert status_of(aws, message)["notifications"] == []
    assert aws.receive("notifications") == []


# webhook.delivery-updated: how the notifier's delivery went, shown in the order ----------------

LATER = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
DELIVERED_AT = datetime(2026, 11, 23, 22, 31, tzinfo=UTC)


def settled_with_callback(aws: Aws) -> tuple[str, str]:
    """An order settled with a callback: its id and its one event's id."""
    message = place_with_callback(aws, [{"sku": "KB-001", "quantity": 1}])
    assert run_worker(sqs_event(message)) == []
    aws.receive("notifications")
    (notification,) = status_of(aws, message)["notifications"]
    return order_of(message), notification["eventId"]


def retrying(order_id: str, event_id: str, sequence: int = 1) -> str:
    return delivery_updated(
        order_id,
        event_id,
        sequence,
        DeliveryStatus.PENDING,
        attempts=1,
        last_status_code=500,
        last_error="HTTP 500",
        next_attempt_at=LATER,
    )


def delivered(order_id: str, event_id: str, sequence: int = 2) -> str:
    return delivery_updated(
        order_id,
        event_id,
        sequence,
        DeliveryStatus.DELIVERED,
        attempts=2,
        last_status_code=204,
        delivered_at=DELIVERED_AT,
    )


def notification_of(order_id: str) -> dict[str, Any]:
    order = service.get_order(order_id, order_store())
    (notification,) = order.model_dump(mode="json", by_alias=True)["notifications"]
    return dict(notification)


DELIVERED_VIEW = {
    "type": "order.confirmed",
    "status": "DELIVERED",
    "attempts": 2,
    "lastStatusCode": 204,
    "lastError": None,
    "nextAttemptAt": None,
    "deliveredAt": "2026-11-23T22:31:00Z",
    "destinationPaused": False,
}


def test_delivery_updates_show_in_the_order_in_sequence(aws: Aws) -> None:
    order_id, event_id = settled_with_callback(aws)

    assert run_worker(sqs_event(crafted(retrying(order_id, event_id)))) == []
    assert notification_of(order_id) == {
        "eventId": event_id,
        "type": "order.confirmed",
        "status": "PENDING",
        "attempts": 1,
        "lastStatusCode": 500,
        "lastError": "HTTP 500",
        "nextAttemptAt": "2026-11-23T22:30:00Z",
        "deliveredAt": None,
        "destinationPaused": False,
    }

    assert run_worker(sqs_event(crafted(delivered(order_id, event_id)))) == []
    # the newer update clears what no longer holds (the error, the next attempt)
    assert notification_of(order_id) == {"eventId": event_id} | DELIVERED_VIEW


def test_an_older_update_arriving_late_changes_nothing(aws: Aws) -> None:
    order_id, event_id = settled_with_callback(aws)

    assert run_worker(sqs_event(crafted(delivered(order_id, event_id, sequence=2)))) == []
    assert run_worker(sqs_event(crafted(retrying(order_id, event_id, sequence=1)))) == []

    assert notification_of(order_id) == {"eventId": event_id} | DELIVERED_VIEW
    # nor does the same update twice
    assert run_worker(sqs_event(crafted(retrying(order_id, event_id, sequence=2)))) == []
    assert notification_of(order_id) == {"eventId": event_id} | DELIVERED_VIEW


def test_an_update_for_an_unknown_event_changes_nothing(aws: Aws) -> None:
    order_id, event_id = settled_with_callback(aws)
    before = aws.order_item(order_id)
    orders = aws.count("orders")

    unknown_event = delivered(order_id, "evt_" + "0" * 32)
    unknown_order = delivered("01a20a90-6da9-7051-8636-e5604348235b", event_id)
    assert run_worker(sqs_event(crafted(unknown_event), crafted(unknown_order))) == []

    assert aws.order_item(order_id) == before
    assert aws.count("orders") == orders  # no order made up for it
    assert aws.dead_letters("orders") == []
