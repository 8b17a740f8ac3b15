"""The order worker, invoked with SQS sample events against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from order_worker import handler

from orders import notifications, service, store
from orders.models import NotificationStatus, OrderStatus
from tests.conftest import FakeContext, load_event
from tests.handlers.conftest import Aws
from tests.handlers.test_order_api import invoke as invoke_api
from tests.handlers.test_order_api import place_order_event


def place(aws: Aws, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Place an order through the API and return the queued record it produced."""
    status, _, body = invoke_api(place_order_event(body={"customerId": "c-7", "items": items}))
    assert status == 202, body
    (message,) = aws.receive()
    return message


def sqs_event(*messages: dict[str, Any]) -> dict[str, Any]:
    """An SQS event shaped like events/samples/sqs/orders.json carrying these messages."""
    template = load_event("sqs/orders")["Records"][0]
    records = []
    for message in messages:
        record = dict(template)
        record["messageId"], record["body"] = message["MessageId"], message["Body"]
        record["receiptHandle"] = message["ReceiptHandle"]
        records.append(record)
    return {"Records": records}


def run_worker(event: dict[str, Any]) -> list[str]:
    response = handler.lambda_handler(event, FakeContext(function_name="order-worker"))
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def order_of(message: dict[str, Any]) -> str:
    return str(json.loads(message["Body"])["data"]["orderId"])


def status_of(aws: Aws, message: dict[str, Any]) -> dict[str, Any]:
    return service.get_order(order_of(message)).model_dump(mode="json", by_alias=True)


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
    stale = store.get_order(order_of(message))
    # ...and another delivery that settled it in the meantime
    settled = service.settle_order(order_of(message))
    assert settled is not None
    assert settled.status is OrderStatus.CONFIRMED
    # When the slow worker carries on, its transaction's condition refuses it
    with monkeypatch.context() as patch:
        patch.setattr(store, "get_order", lambda _: stale)
        service.settle_order(order_of(message))

    assert aws.stock("KB-001") == 20
    assert service.get_order(order_of(message)).status is OrderStatus.CONFIRMED


def test_the_last_units_go_to_one_order_only(aws: Aws) -> None:
    first = place(aws, [{"sku": "MN-003", "quantity": 3}])
    second = place(aws, [{"sku": "MN-003", "quantity": 3}])

    assert run_worker(sqs_event(first, second)) == []

    statuses = [status_of(aws, m)["status"] for m in (first, second)]
    assert statuses == ["CONFIRMED", "REJECTED"]
    assert aws.stock("MN-003") == 2


def test_a_poison_record_fails_alone(aws: Aws) -> None:
    good = place(aws, [{"sku": "CB-005", "quantity": 1}])
    poison = dict(good, MessageId="poison-1", Body="{not json")
    wrong_type = dict(
        good, MessageId="poison-2", Body=json.dumps(json.loads(good["Body"]) | {"type": "x"})
    )

    failures = run_worker(sqs_event(poison, good, wrong_type))

    assert failures == ["poison-1", "poison-2"]
    assert status_of(aws, good)["status"] == "CONFIRMED"


def test_a_storage_error_fails_only_that_record(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    first = place(aws, [{"sku": "CB-005", "quantity": 1}])
    second = place(aws, [{"sku": "CB-005", "quantity": 2}])
    real_get_order = store.get_order

    def flaky(order_id: str) -> store.StoredOrder | None:
        if order_id == order_of(first):
            raise ConnectionError("DynamoDB unreachable")
        return real_get_order(order_id)

    monkeypatch.setattr(store, "get_order", flaky)

    assert run_worker(sqs_event(first, second)) == [first["MessageId"]]
    assert aws.stock("CB-005") == 198


def test_an_order_that_was_never_accepted_is_dropped(aws: Aws) -> None:
    message = place(aws, [{"sku": "CB-005", "quantity": 1}])
    aws.dynamodb.delete_item(TableName="orders", Key={"orderId": {"S": order_of(message)}})

    assert run_worker(sqs_event(message)) == []
    assert aws.stock("CB-005") == 200


def test_sample_event_settles_its_order_and_reports_the_poison_record(aws: Aws) -> None:
    # The committed sample: one order.placed message and one malformed body.
    event = load_event("sqs/orders")
    order_id = json.loads(event["Records"][0]["body"])["data"]["orderId"]
    invoke_api(place_order_event())  # a real order so the table is in use
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

    assert run_worker(event) == [event["Records"][1]["messageId"]]
    assert service.get_order(order_id).status is OrderStatus.CONFIRMED


PUBLIC_CALLBACK = (
    "https://93.184.215.14/hooks/orders"  # a public address literal; never called here
)


def place_with_callback(aws: Aws, items: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"customerId": "c-7", "items": items, "callbackUrl": PUBLIC_CALLBACK}
    status, _, answer = invoke_api(place_order_event(body=body))
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
    assert envelope["data"]["callbackUrl"] == PUBLIC_CALLBACK
    assert envelope["data"]["payload"]["type"] == "order.confirmed"
    assert envelope["data"]["payload"]["data"]["total"] == {"amount": 8900, "currency": "EUR"}
    assert envelope["correlationId"] == "sample-correlation-0001"


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
        patch.setattr(notifications, "publish_pending", lambda _: 0)  # the process died here
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
    order = store.get_order(order_of(message))
    assert order is not None
    store.record_notification(
        order.order_id,
        order.notifications[0].model_copy(
            update={"status": NotificationStatus.DELIVERED, "attempts": 1}
        ),
    )

    run_worker(sqs_event(message))

    assert aws.receive("notifications") == []


def test_an_order_without_callback_owes_no_event(aws: Aws) -> None:
    message = place(aws, [{"sku": "KB-001", "quantity": 1}])
    run_worker(sqs_event(message))
    assert status_of(aws, message)["notifications"] == []
    assert aws.receive("notifications") == []
