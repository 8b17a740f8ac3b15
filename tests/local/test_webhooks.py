"""Webhook delivery end to end: the local runtime delivers to a real HTTP receiver in this test,
which verifies every signature with the Standard Webhooks reference library.

The retry schedule is shrunk to seconds: 3 attempts, 1 s doubling to a 2 s cap. The timeouts
stay generous (seconds, for a receiver on the same machine) so that a busy machine cannot turn
an answer into a timeout: a slow receiver is slower than them by design. No test sleeps to show
that something does not happen; it waits for the event that rules it out.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.runtime import LocalRuntime
from infra.orders_local import orders_runtime
from tests.local.conftest import Http, Receiver, wait_until

pytestmark = pytest.mark.local

SECRET = "whsec_c2VjcmV0LWZvci10aGUtbG9jYWwtd2ViaG9vay10ZXN0cw=="
FAST_SCHEDULE = {
    "WEBHOOK_MAX_ATTEMPTS": "3",
    "WEBHOOK_RETRY_BASE_SECONDS": "1",
    "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "2",
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "2",
    "WEBHOOK_READ_TIMEOUT_SECONDS": "3",
    # every test here shares one receiver (one destination): its failures must not pause it
    # (circuit breaking has its own runtime in test_webhook_isolation.py)
    "WEBHOOK_CIRCUIT_FAILURE_THRESHOLD": "1000",
}
SLOWER_THAN_THE_TIMEOUT_S = 6.0


@pytest.fixture(scope="module")
def runtime(receiver: Receiver) -> Iterator[LocalRuntime]:
    # the scripted receiver is on loopback: its port must be allowed, as LOCAL_CALLBACK_PORTS does
    with orders_runtime(
        callback_ports=[receiver.server.server_address[1]],
        port=0,
        echo_logs=False,
        webhook_secret=SECRET,
        function_environment={"notifier": FAST_SCHEDULE},
    ) as started:
        yield started


@pytest.fixture(scope="module")
def http(runtime: LocalRuntime) -> Http:
    return Http.for_runtime(runtime)


def order_with_callback(http: Http, callback_url: str, sku: str = "MS-002") -> str:
    reply = http.post(
        "/orders",
        {
            "customerId": "c-hook",
            "items": [{"sku": sku, "quantity": 1}],
            "callbackUrl": callback_url,
        },
    )
    assert reply.status == 202, reply.body
    return str(reply.body["orderId"])


def settled_notification(http: Http, order_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The order's one notification, once it is DELIVERED or FAILED."""
    result: dict[str, Any] = {}

    def done() -> bool:
        notes = http.get(f"/orders/{order_id}").body["notifications"]
        if notes and notes[0]["status"] != "PENDING":
            result.update(notes[0])
            return True
        return False

    wait_until(done, timeout_s, what=f"notification of {order_id} settled")
    return result


def dead_letters(runtime: LocalRuntime) -> list[dict[str, Any]]:
    dlq = runtime.resources.dlq_urls["notifications"]
    messages = runtime.sqs.receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    return list(messages)


def dead_letter_for(runtime: LocalRuntime, order_id: str) -> dict[str, Any] | None:
    for message in dead_letters(runtime):
        if json.loads(message["Body"])["data"]["orderId"] == order_id:
            return message
    return None


def test_a_delivery_is_signed_and_verifiable(http: Http, receiver: Receiver) -> None:
    url = receiver.script("/ok", (204, 0, {}))

    order_id = order_with_callback(http, url)
    notification = settled_notification(http, order_id)

    assert notification["status"] == "DELIVERED"
    assert notification["attempts"] == 1
    assert notification["lastStatusCode"] == 204
    assert notification["deliveredAt"]
    (request,) = receiver.hits("/ok")
    assert request["verified"]
    assert request["headers"]["webhook-id"] == notification["eventId"]
    assert request["payload"]["type"] == "order.confirmed"
    assert request["payload"]["data"]["orderId"] == order_id
    assert request["payload"]["data"]["status"] == "CONFIRMED"


def test_a_500_is_retried_until_it_succeeds(http: Http, receiver: Receiver) -> None:
    url = receiver.script("/flaky", (500, 0, {}), (200, 0, {}))

    notification = settled_notification(http, order_with_callback(http, url))

    assert (notification["status"], notification["attempts"]) == ("DELIVERED", 2)
    hits = receiver.hits("/flaky")
    assert len(hits) == 2
    assert all(h["verified"] for h in hits)
    assert hits[0]["headers"]["webhook-id"] == hits[1]["headers"]["webhook-id"]


def test_a_receiver_that_always_fails_ends_failed_and_dead_lettered(
    http: Http, receiver: Receiver, runtime: LocalRuntime
) -> None:
    url = receiver.script("/down", (500, 0, {}))

    order_id = order_with_callback(http, url)
    notification = settled_notification(http, order_id)

    assert notification["status"] == "FAILED"
    assert (notification["attempts"], notification["lastStatusCode"]) == (3, 500)
    assert len(receiver.hits("/down")) == 3
    dead = dead_letter_for(runtime, order_id)
    assert dead is not None
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["failureReason"] == "HTTP 500"
    assert attributes["attempts"] == "3"
    assert attributes["eventId"] == notification["eventId"]


def test_a_dead_lettered_event_is_replayable_once_the_receiver_recovers(
    http: Http, receiver: Receiver, runtime: LocalRuntime
) -> None:
    # Given an event that failed for good and sits in the DLQ
    url = receiver.script("/recovers", (503, 0, {}))
    order_id = order_with_callback(http, url)
    failed = settled_notification(http, order_id)
    assert failed["status"] == "FAILED"
    dead = dead_letter_for(runtime, order_id)
    assert dead is not None

    # When the receiver is fixed and the message is moved back to the notifications queue
    receiver.script("/recovers", (204, 0, {}))
    runtime.sqs.send_message(
        QueueUrl=runtime.resources.queue_urls["notifications"], MessageBody=dead["Body"]
    )
    runtime.sqs.delete_message(
        QueueUrl=runtime.resources.dlq_urls["notifications"], ReceiptHandle=dead["ReceiptHandle"]
    )

    # Then the same event is delivered
    def delivered() -> bool:
        return bool(
            http.get(f"/orders/{order_id}").body["notifications"][0]["status"] == "DELIVERED"
        )

    wait_until(delivered, 60, "replayed event delivered")
    assert receiver.hits("/recovers")[-1]["headers"]["webhook-id"] == failed["eventId"]


def test_410_is_permanent_and_not_retried(
    http: Http, receiver: Receiver, runtime: LocalRuntime
) -> None:
    url = receiver.script("/gone", (410, 0, {}))

    order_id = order_with_callback(http, url)
    settled_notification(http, order_id)
    # a retry needs the message back in the queue: once it is gone, none can come
    notifications = runtime.resources.queue_urls["notifications"]
    wait_until(lambda: runtime.queue_depth(notifications) == 0, 60, "the message deleted")

    notification = http.get(f"/orders/{order_id}").body["notifications"][0]
    assert (notification["status"], notification["attempts"]) == ("FAILED", 1)
    assert len(receiver.hits("/gone")) == 1
    assert dead_letter_for(runtime, order_id) is not None


def test_a_receiver_slower_than_the_timeout_is_retried(http: Http, receiver: Receiver) -> None:
    url = receiver.script("/slow", (200, SLOWER_THAN_THE_TIMEOUT_S, {}), (200, 0, {}))

    notification = settled_notification(http, order_with_callback(http, url))

    assert (notification["status"], notification["attempts"]) == ("DELIVERED", 2)
    assert len(receiver.hits("/slow")) == 2


def test_429_honours_retry_after(http: Http, receiver: Receiver) -> None:
    url = receiver.script("/busy", (429, 0, {"Retry-After": "3"}), (200, 0, {}))

    order_with_callback(http, url)
    wait_until(lambda: len(receiver.hits("/busy")) == 2, 60, "second attempt")

    first, second = receiver.hits("/busy")
    # the queue hides the message for Retry-After's 3 s, not the 1 s backoff; a busy machine can
    # only lengthen the gap (0.1 s spared for the clocks of two processes)
    assert second["received_at"] - first["received_at"] >= 2.9


def test_redirects_are_not_followed(http: Http, receiver: Receiver) -> None:
    target = receiver.script("/redirected-here", (204, 0, {}))
    url = receiver.script("/moved", (302, 0, {"Location": target}))

    notification = settled_notification(http, order_with_callback(http, url))

    assert (notification["status"], notification["lastStatusCode"]) == ("FAILED", 302)
    assert len(receiver.hits("/moved")) == 1
    assert receiver.hits("/redirected-here") == []


@pytest.mark.parametrize(
    "url",
    ["https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/hook", "https://192.168.0.10/"],
)
def test_private_and_metadata_callbacks_are_refused_at_placement(http: Http, url: str) -> None:
    reply = http.post(
        "/orders",
        {"customerId": "c", "items": [{"sku": "MS-002", "quantity": 1}], "callbackUrl": url},
    )
    assert reply.status == 422
    assert reply.body["errors"][0]["pointer"] == "/callbackUrl"


def test_a_callback_refused_at_delivery_is_never_requested(receiver: Receiver) -> None:
    # Given an API that accepted a loopback callback (local mode) and a notifier that, like AWS,
    # refuses loopback, as if the callback's DNS had changed to a forbidden address since
    strict = FAST_SCHEDULE | {"WEBHOOK_LOCAL_MODE": "false"}
    with orders_runtime(
        port=0,
        echo_logs=False,
        webhook_secret=SECRET,
        function_environment={"notifier": strict},
        callback_ports=[receiver.server.server_address[1]],
    ) as runtime:
        http = Http.for_runtime(runtime)
        url = receiver.script("/never", (204, 0, {}))

        order_id = order_with_callback(http, url)
        notification = settled_notification(http, order_id)

        assert notification["status"] == "FAILED"
        assert notification["lastError"].startswith("callback refused: 127.0.0.1 is a loopback")
        assert receiver.hits("/never") == []
        assert dead_letter_for(runtime, order_id) is not None


def test_the_built_in_receiver_verifies_deliveries(http: Http, runtime: LocalRuntime) -> None:
    order_id = order_with_callback(http, runtime.receiver_url)

    assert settled_notification(http, order_id)["status"] == "DELIVERED"
    deliveries = http.get("/_local/webhooks").body["deliveries"]
    assert order_id in {d["payload"]["data"]["orderId"] for d in deliveries}
    assert any("verified order.confirmed" in line for line in runtime.log_lines("webhook-receiver"))


def test_the_signing_secret_never_reaches_the_logs(http: Http, runtime: LocalRuntime) -> None:
    settled_notification(http, order_with_callback(http, runtime.receiver_url))
    lines = runtime.log_lines()
    assert any("Webhook delivered" in line for line in lines)
    key = SECRET.removeprefix("whsec_")
    assert not [line for line in lines if key in line]


def test_loopback_callbacks_reach_only_the_receiver_and_allowed_ports(
    http: Http, runtime: LocalRuntime
) -> None:
    # the moto server holds every table, queue and secret: a callback must never reach it
    moto_port = runtime.moto_url.rsplit(":", 1)[1]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        other_port = unused.getsockname()[1]
    for url in (
        f"http://127.0.0.1:{moto_port}/moto-api/reset",
        f"http://localhost:{moto_port}/",
        f"http://127.0.0.1:{other_port}/hook",
    ):
        reply = http.post(
            "/orders",
            {"customerId": "c", "items": [{"sku": "MS-002", "quantity": 1}], "callbackUrl": url},
        )
        assert reply.status == 422, url
        assert "not an allowed local callback port" in reply.body["errors"][0]["detail"]
    # the built-in receiver (the API's own port) is allowed
    assert order_with_callback(http, runtime.receiver_url)
