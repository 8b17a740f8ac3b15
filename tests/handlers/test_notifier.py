"""The notifier, invoked with SQS events against moto, delivering to a real HTTP receiver on
127.0.0.1 (local mode lets callbacks use plain http to loopback)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.circuit_breaker import base as breaker

from infra.topology import WEBHOOK_MAX_ATTEMPTS
from notifications import circuit
from notifications.delivery import client
from notifications.delivery import service as delivery
from orders.domain import service
from shared import aws as shared_aws
from shared.envelope import utc_now
from tests.handlers.helpers import (
    SLOW_ANSWER,
    WEBHOOK_SECRET,
    Aws,
    Receiver,
    as_client,
    attributes_of,
    invoke,
    order_of,
    order_store,
    place_order_event,
    run_notifier,
    run_worker,
    sqs_event,
    webhook_requested,
)

EVENT_ID = "evt_0123456789abcdef0123456789abcdef"
ORDER_ID = "01a20a90-6da9-7051-8636-e5604348235b"
BASE_DELAY_S = 30  # the topology's WEBHOOK_RETRY_BASE_SECONDS


@pytest.fixture(autouse=True)
def local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_LOCAL_MODE", "true")


@pytest.fixture(autouse=True)
def fresh_circuits() -> Iterator[None]:
    """Every test starts with closed circuits: Powertools counts failures per environment (this
    process), and the persistence holds the moto client of its test."""
    yield
    circuit._persistence.cache_clear()
    for counters in (
        breaker._LOCAL_FAILURES,
        breaker._LOCAL_SUCCESSES,
        breaker._LAST_OBSERVED_STATE,
    ):
        counters.clear()


@pytest.fixture
def visibility_changes(aws: Aws) -> Iterator[list[dict[str, Any]]]:
    """Every ChangeMessageVisibility the functions make (their shared SQS client)."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    events = shared_aws.sqs().meta.events
    events.register("provide-client-params.sqs.ChangeMessageVisibility", record)
    yield calls
    events.unregister("provide-client-params.sqs.ChangeMessageVisibility", record)


def requested(aws: Aws, callback_url: str, **fields: str) -> dict[str, Any]:
    """A webhook.requested message put on the notifications queue and received from it (with
    no visibility timeout: visible again at once unless the notifier hides it)."""
    aws.send("notifications", webhook_requested(callback_url, **fields), "webhook.requested")
    (message,) = aws.receive("notifications", visibility=0)
    return message


def again(aws: Aws, message: dict[str, Any]) -> dict[str, Any]:
    """The same message received once more (its visibility cut short), its count raised."""
    aws.sqs.change_message_visibility(
        QueueUrl=aws.resources.queue_urls["notifications"],
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    (received,) = aws.receive("notifications", visibility=0)
    assert received["MessageId"] == message["MessageId"]
    return received


def notify(aws: Aws, *messages: dict[str, Any]) -> list[str]:
    """Invoke the notifier with these messages and, as the event source mapping does, delete
    those it did not report failed."""
    failures = run_notifier(sqs_event(*messages, sample="sqs/notifications"))
    for message in messages:
        if message["MessageId"] not in failures:
            aws.sqs.delete_message(
                QueueUrl=aws.resources.queue_urls["notifications"],
                ReceiptHandle=message["ReceiptHandle"],
            )
    return failures


def updates(aws: Aws) -> list[dict[str, Any]]:
    """The delivery updates reported to the orders queue (their envelopes), oldest first."""
    messages = aws.receive("orders")
    for message in messages:
        assert attributes_of(message)["messageType"] == "webhook.delivery-updated"
    envelopes = [json.loads(m["Body"]) for m in messages]
    return sorted(envelopes, key=lambda e: (e["data"]["sequence"], e["occurredAt"]))


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_a_requested_webhook_is_delivered_signed_recorded_and_reported(
    aws: Aws, receiver: Receiver
) -> None:
    url = receiver.script("/ok", (204, {}))
    message = requested(aws, url)
    before = utc_now()

    assert notify(aws, message) == []

    # the receiver got one signed POST of the payload
    (hit,) = receiver.hits("/ok")
    assert hit["verified"]
    assert hit["headers"]["webhook-id"] == EVENT_ID
    assert hit["headers"]["content-type"] == "application/json"
    assert hit["payload"] == json.loads(message["Body"])["data"]["payload"]
    # the notifier's own record
    record = aws.delivery(EVENT_ID)
    assert record is not None
    assert record["status"] == "DELIVERED"
    assert (record["sequence"], record["attempts"], record["lastStatusCode"]) == (1, 1, 204)
    assert record["orderId"] == ORDER_ID
    assert before <= moment(record["deliveredAt"]) <= utc_now()
    assert "lastError" not in record
    assert "nextAttemptAt" not in record
    retention_s = 30 * 86_400  # WEBHOOK_RECORD_RETENTION_DAYS
    assert abs(record["expiresAt"] - (time.time() + retention_s)) < 60
    # and how it went, reported back to the orders component
    (update,) = updates(aws)
    assert update["type"] == "webhook.delivery-updated"
    assert update["id"] == f"{EVENT_ID}.1"
    assert update["correlationId"] == "corr-webhook-1"
    assert update["data"] == {
        "eventId": EVENT_ID,
        "orderId": ORDER_ID,
        "sequence": 1,
        "status": "DELIVERED",
        "attempts": 1,
        "lastStatusCode": 204,
        "lastError": None,
        "nextAttemptAt": None,
        "deliveredAt": record["deliveredAt"].replace("+00:00", "Z"),
        "destinationPaused": False,
    }
    assert aws.dead_letters("notifications") == []


def test_a_500_is_retried_later_and_reported_pending(
    aws: Aws, receiver: Receiver, visibility_changes: list[dict[str, Any]]
) -> None:
    url = receiver.script("/down", (500, {}))
    message = requested(aws, url)
    before = utc_now()

    assert notify(aws, message) == [message["MessageId"]]

    assert len(receiver.hits("/down")) == 1
    record = aws.delivery(EVENT_ID)
    assert record is not None
    assert (record["status"], record["attempts"], record["sequence"]) == ("PENDING", 1, 1)
    assert (record["lastStatusCode"], record["lastError"]) == (500, "HTTP 500")
    assert "deliveredAt" not in record
    # the message is hidden for the backoff (equal jitter: half to all of the base delay)...
    (change,) = visibility_changes
    assert change["ReceiptHandle"] == message["ReceiptHandle"]
    assert change["QueueUrl"] == aws.resources.queue_urls["notifications"]
    delay = change["VisibilityTimeout"]
    assert BASE_DELAY_S / 2 <= delay <= BASE_DELAY_S
    assert aws.receive("notifications") == []
    # ...and the record says when it comes back
    next_attempt = moment(record["nextAttemptAt"])
    assert before + timedelta(seconds=delay) <= next_attempt <= utc_now() + timedelta(seconds=delay)
    (update,) = updates(aws)
    assert update["data"]["sequence"] == 1
    assert update["data"]["status"] == "PENDING"
    assert update["data"]["lastError"] == "HTTP 500"
    assert update["data"]["nextAttemptAt"] is not None
    assert aws.dead_letters("notifications") == []


def test_a_retry_that_succeeds_clears_the_error_and_grows_the_sequence(
    aws: Aws, receiver: Receiver
) -> None:
    url = receiver.script("/flaky", (503, {}), (200, {}))
    message = requested(aws, url)
    assert notify(aws, message) == [message["MessageId"]]

    assert notify(aws, again(aws, message)) == []

    first, second = receiver.hits("/flaky")
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == EVENT_ID
    record = aws.delivery(EVENT_ID)
    assert record is not None
    assert (record["status"], record["attempts"], record["sequence"]) == ("DELIVERED", 2, 2)
    assert record["lastStatusCode"] == 200
    assert "lastError" not in record
    assert "nextAttemptAt" not in record
    assert [(u["data"]["sequence"], u["data"]["status"]) for u in updates(aws)] == [
        (1, "PENDING"),
        (2, "DELIVERED"),
    ]


def test_retry_after_is_honoured(
    aws: Aws, receiver: Receiver, visibility_changes: list[dict[str, Any]]
) -> None:
    url = receiver.script("/busy", (429, {"Retry-After": "600"}))

    assert notify(aws, requested(aws, url)) != []

    (change,) = visibility_changes
    assert change["VisibilityTimeout"] == 600


def test_a_retry_after_beyond_the_sqs_maximum_still_hides_the_message(
    aws: Aws, receiver: Receiver, visibility_changes: list[dict[str, Any]]
) -> None:
    url = receiver.script("/busy", (503, {"Retry-After": "99999"}))
    message = requested(aws, url)

    assert notify(aws, message) == [message["MessageId"]]

    (change,) = visibility_changes
    assert change["VisibilityTimeout"] <= 43_200 - 900
    assert aws.receive("notifications") == []  # hidden until its next attempt


def test_a_410_is_dead_lettered_with_its_context_and_marked_failed(
    aws: Aws, receiver: Receiver, visibility_changes: list[dict[str, Any]]
) -> None:
    url = receiver.script("/gone", (410, {}))
    message = requested(aws, url)

    # handled for good: not reported failed (no retry), parked in the dead-letter queue
    assert notify(aws, message) == []

    assert len(receiver.hits("/gone")) == 1
    (dead,) = aws.dead_letters("notifications")
    assert dead["Body"] == message["Body"]
    assert attributes_of(dead) == {
        "messageType": "webhook.requested",  # the message's own attributes are kept
        "failureReason": "HTTP 410",
        "lastStatusCode": "410",
        "attempts": "1",
        "orderId": ORDER_ID,
        "eventId": EVENT_ID,
        "correlationId": "corr-webhook-1",
    }
    record = aws.delivery(EVENT_ID)
    assert record is not None
    assert (record["status"], record["lastStatusCode"], record["lastError"]) == (
        "FAILED",
        410,
        "HTTP 410",
    )
    (update,) = updates(aws)
    assert (update["data"]["sequence"], update["data"]["status"]) == (1, "FAILED")
    assert visibility_changes == []


def test_the_last_attempt_gives_up(aws: Aws, receiver: Receiver) -> None:
    url = receiver.script("/down", (500, {}))
    event = sqs_event(requested(aws, url), sample="sqs/notifications")
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(WEBHOOK_MAX_ATTEMPTS)

    assert run_notifier(event) == []

    (dead,) = aws.dead_letters("notifications")
    assert attributes_of(dead)["failureReason"] == "HTTP 500"
    assert attributes_of(dead)["attempts"] == str(WEBHOOK_MAX_ATTEMPTS)
    record = aws.delivery(EVENT_ID)
    assert record is not None
    assert (record["status"], record["attempts"]) == ("FAILED", WEBHOOK_MAX_ATTEMPTS)


def test_a_callback_the_guard_refuses_is_dead_lettered_without_a_request(
    aws: Aws, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = receiver.script("/hook", (204, {}))
    monkeypatch.setenv("WEBHOOK_LOCAL_MODE", "false")  # loopback is refused outside local mode

    assert notify(aws, requested(aws, url)) == []

    assert receiver.hits("/hook") == []
    (dead,) = aws.dead_letters("notifications")
    reason = "callback refused: 127.0.0.1 is a loopback address"
    assert attributes_of(dead)["failureReason"] == reason
    record = aws.delivery(EVENT_ID)
    assert record is not None
    assert (record["status"], record["lastError"]) == ("FAILED", reason)
    assert "lastStatusCode" not in record


def test_a_second_copy_of_a_delivered_event_is_not_sent_again_but_re_reported(
    aws: Aws, receiver: Receiver
) -> None:
    url = receiver.script("/ok", (204, {}))
    assert notify(aws, requested(aws, url)) == []
    first = aws.delivery(EVENT_ID)

    # a second copy of the message (SQS delivers at least once; the worker may republish)
    assert notify(aws, requested(aws, url)) == []

    assert len(receiver.hits("/ok")) == 1
    assert aws.delivery(EVENT_ID) == first
    reported = updates(aws)
    assert [(u["data"]["sequence"], u["data"]["status"]) for u in reported] == [
        (1, "DELIVERED"),
        (1, "DELIVERED"),
    ]
    assert reported[0]["data"] == reported[1]["data"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            json.dumps(
                {
                    "id": ORDER_ID,
                    "type": "order.placed",
                    "version": 1,
                    "correlationId": "c-1",
                    "occurredAt": "2026-11-23T22:28:20Z",
                    "data": {"orderId": ORDER_ID},
                }
            ),
            "unknown message type order.placed@1",
        ),
        (
            webhook_requested("http://127.0.0.1:9/hook").replace('"version":1', '"version":2'),
            "unknown message type webhook.requested@2",
        ),
        ("{not json", "not a message envelope (type and version)"),
        (
            webhook_requested("http://127.0.0.1:9/hook").replace('"callbackUrl"', '"url"'),
            "webhook.requested@1 breaks its schema at data/callbackUrl: Field required",
        ),
    ],
    ids=["other-type", "unknown-version", "not-json", "breaks-schema"],
)
def test_what_the_notifier_cannot_handle_is_dead_lettered_at_once(
    aws: Aws, receiver: Receiver, body: str, reason: str
) -> None:
    aws.send("notifications", body)
    (message,) = aws.receive("notifications", visibility=0)

    assert notify(aws, message) == []

    (dead,) = aws.dead_letters("notifications")
    assert dead["Body"] == body
    assert attributes_of(dead)["failureReason"] == reason
    assert receiver.requests == []
    assert aws.count("deliveries") == 0
    assert aws.receive("orders") == []


def test_how_a_webhook_went_shows_in_its_order(aws: Aws, receiver: Receiver) -> None:
    # Given an order with a callback to the receiver, settled by the worker
    url = receiver.script("/orders-hook", (204, {}))
    body = {"customerId": "c-9", "items": [{"sku": "KB-001", "quantity": 1}], "callbackUrl": url}
    status, _, answer = invoke(place_order_event(body=body))
    assert status == 202, answer
    (placed,) = aws.receive()
    assert run_worker(sqs_event(placed)) == []
    (webhook,) = aws.receive("notifications", visibility=0)

    # When the notifier delivers it and the worker applies the update it reported
    assert notify(aws, webhook) == []
    (update,) = aws.receive()
    assert run_worker(sqs_event(update)) == []

    # Then the order shows the delivery
    order = service.get_order(order_of(placed), order_store())
    (notification,) = order.model_dump(mode="json", by_alias=True)["notifications"]
    assert notification["status"] == "DELIVERED"
    assert (notification["attempts"], notification["lastStatusCode"]) == (1, 204)
    (hit,) = receiver.hits("/orders-hook")
    assert hit["verified"]
    assert hit["headers"]["webhook-id"] == notification["eventId"]
    assert hit["payload"]["data"]["orderId"] == order.order_id
    assert hit["payload"]["data"]["status"] == "CONFIRMED"


def test_the_correlation_id_goes_to_the_receiver(aws: Aws, receiver: Receiver) -> None:
    url = receiver.script("/ok", (204, {}))

    assert notify(aws, requested(aws, url, correlation_id="corr-for-the-receiver")) == []

    (hit,) = receiver.hits("/ok")
    assert hit["headers"]["x-correlation-id"] == "corr-for-the-receiver"


# Every failure path records its attempt --------------------------------------------------------


def _refused(url: str) -> str:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def _broken_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: Any, **__: Any) -> Any:
        raise UnicodeEncodeError("ascii", "bücher", 1, 2, "ordinal not in range(128)")

    monkeypatch.setattr(client, "post", explode)


def _unresolvable(monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing(*_: Any, **__: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nothing)


def _slow_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_CONNECT_TIMEOUT_SECONDS", "0.3")

    def slow(*_: Any, **__: Any) -> Any:
        time.sleep(2)
        raise socket.gaierror(-2, "late")

    monkeypatch.setattr(socket, "getaddrinfo", slow)


def _timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_CONNECT_TIMEOUT_SECONDS", "0.2")
    monkeypatch.setenv("WEBHOOK_READ_TIMEOUT_SECONDS", "0.3")


FAILURE_PATHS = {
    "http-500": ("/down", (500, {}), None, "HTTP 500"),
    "http-410": ("/gone", (410, {}), None, "HTTP 410"),
    "connection-refused": ("refused", None, None, "ConnectionRefusedError"),
    "timeout": (
        "/slow",
        (200, {SLOW_ANSWER: "1"}),
        _timeout,
        "TimeoutError: no answer within 0.5 s",
    ),
    "encoding-error": ("/ok", (204, {}), _broken_encoding, "UnicodeEncodeError"),
    "unresolvable": ("http://nowhere.invalid/hook", None, _unresolvable, "the callback host"),
    "slow-dns": ("http://slow.invalid/hook", None, _slow_dns, "did not resolve within 0.3 s"),
}


@pytest.mark.parametrize("path", FAILURE_PATHS.values(), ids=FAILURE_PATHS.keys())
def test_every_failure_path_records_its_attempt_with_its_reason(
    aws: Aws, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, path: tuple[Any, ...]
) -> None:
    where, answer, arrange, reason = path
    if where == "refused":
        url = _refused(where)
    elif where.startswith("http"):
        url = where
    else:
        url = receiver.script(where, answer)
    if arrange is not None:
        arrange(monkeypatch)
    message = requested(aws, url)

    notify(aws, message)

    record = aws.delivery(EVENT_ID)
    assert record is not None, "no attempt recorded"
    assert record["attempts"] == 1
    assert record["status"] in ("PENDING", "FAILED")
    assert reason in record["lastError"]
    assert ("nextAttemptAt" in record) is (record["status"] == "PENDING")
    (update,) = updates(aws)
    assert update["data"]["attempts"] == 1
    assert update["data"]["lastError"] == record["lastError"]
    assert update["data"]["lastStatusCode"] == record.get("lastStatusCode")


BROKEN_KEY = "c2hvcnQta2V5"  # base64 of 9 bytes, not a 32-byte ed25519 seed


def put_signing_secret(value: str) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=os.environ["WEBHOOK_SECRET_ARN"], SecretString=value
    )
    shared_aws.forget_secrets()  # as if the notifier's five-minute cache had expired


def test_a_secret_that_cannot_sign_blames_no_receiver_and_the_event_waits_for_the_fix(
    aws: Aws, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an operator put a truncated ed25519 key beside the good HMAC key
    put_signing_secret(f"whsk_{BROKEN_KEY} {WEBHOOK_SECRET}")
    url = receiver.script("/ok", (204, {}))
    message = requested(aws, url)

    # Then the record fails for SQS to bring back: no request, no attempt, no circuit change
    assert notify(aws, message) == [message["MessageId"]]
    assert receiver.hits("/ok") == []
    assert aws.delivery(EVENT_ID) is None
    assert updates(aws) == []
    assert aws.dynamodb.scan(TableName=aws.resources.table_names["deliveries"])["Items"] == []
    assert "InvalidSigningKey" in caplog.text
    assert BROKEN_KEY not in caplog.text  # the reason, never the key

    # When the secret is fixed, the same message is delivered on its next receive
    put_signing_secret(WEBHOOK_SECRET)
    assert notify(aws, message) == []
    (hit,) = receiver.hits("/ok")
    assert hit["verified"]


def test_an_idn_callback_is_sent_with_its_punycode_host(
    aws: Aws, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = receiver.server.server_address[1]
    resolve = socket.getaddrinfo

    asked: list[str] = []

    def to_loopback(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return resolve("127.0.0.1" if host.startswith("xn--") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", to_loopback)
    receiver.script("/idn", (204, {}))

    assert notify(aws, requested(aws, f"http://bücher.localhost:{port}/idn")) == []

    (hit,) = receiver.hits("/idn")
    assert hit["headers"]["host"] == f"xn--bcher-kva.localhost:{port}"
    assert asked[0] == "xn--bcher-kva.localhost"  # DNS is asked the ASCII name
    record = aws.delivery(EVENT_ID)
    assert record is not None
    assert record["status"] == "DELIVERED"


# Isolation: a busy destination's events wait unattempted -------------------------------------


def test_an_event_over_its_destinations_limit_waits_on_the_queue_unattempted(
    aws: Aws, receiver: Receiver
) -> None:
    url = receiver.script("/busy-destination", (204, {}))
    message = requested(aws, url)
    destination = delivery.destination_of(url)

    with delivery._IN_FLIGHT.slot(destination, 2), delivery._IN_FLIGHT.slot(destination, 2):
        assert notify(aws, message) == []  # handled: a delayed copy waits on the queue

    assert receiver.hits("/busy-destination") == []
    assert aws.delivery(EVENT_ID) is None  # no attempt, nothing to record
    assert aws.receive("notifications") == []  # delayed
    copy = aws.sqs.receive_message(
        QueueUrl=aws.resources.queue_urls["notifications"], WaitTimeSeconds=10
    )["Messages"][0]
    assert copy["Body"] == message["Body"]


# Circuit breaking per destination: pause, probe, resume -----------------------------------


@pytest.fixture
def circuit_clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The circuit breaker's clock (whole seconds), moved by the test: a real one would make
    "still paused" depend on whether two calls straddle a second boundary."""
    now = [int(time.time())]
    monkeypatch.setattr(breaker.CircuitBreakerHandler, "_now", staticmethod(lambda: now[0]))
    return now


def test_a_failing_destination_is_paused_then_probed_once_and_resumed(
    aws: Aws, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, circuit_clock: list[int]
) -> None:
    monkeypatch.setenv("WEBHOOK_CIRCUIT_FAILURE_THRESHOLD", "2")
    monkeypatch.setenv("WEBHOOK_CIRCUIT_RECOVERY_SECONDS", "2")  # the paused copy's delay too
    url = receiver.script("/sick-1", (500, {}))
    receiver.script("/sick-2", (500, {}))
    sick = delivery.destination_of(url)
    for n in (1, 2):  # Given two consecutive failures of one destination
        event = f"evt_{n:032x}"
        notify(aws, requested(aws, url.replace("-1", f"-{n}"), event_id=event))
        assert aws.delivery(event)["attempts"] == 1  # type: ignore[index]
    updates(aws)

    # When another event for it comes: it is not attempted, it waits, and its order is told
    paused_event = "evt_" + "b" * 32
    message = requested(aws, url.replace("-1", "-3"), event_id=paused_event)
    assert notify(aws, message) == []
    assert receiver.hits("/sick-3") == []
    record = aws.delivery(paused_event)
    assert record is not None
    assert (record["status"], record["attempts"], record["destinationPaused"]) == (
        "PENDING",
        0,
        True,
    )
    (update,) = updates(aws)
    assert update["data"]["destinationPaused"] is True
    assert update["data"]["nextAttemptAt"] is not None
    # another destination is not affected
    healthy = receiver.script("/healthy", (204, {})).replace("127.0.0.1", "localhost")
    assert notify(aws, requested(aws, healthy, event_id="evt_" + "c" * 32)) == []
    assert len(receiver.hits("/healthy")) == 1
    updates(aws)

    # Then after the recovery time one event probes it; its success resumes delivery
    receiver.script("/sick-3", (204, {}))
    circuit_clock[0] += 2
    copy = aws.sqs.receive_message(
        QueueUrl=aws.resources.queue_urls["notifications"],
        WaitTimeSeconds=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"][0]
    assert json.loads(copy["Body"])["data"]["eventId"] == paused_event
    assert notify(aws, copy) == []
    assert len(receiver.hits("/sick-3")) == 1
    record = aws.delivery(paused_event)
    assert record is not None
    assert (record["status"], record["attempts"]) == ("DELIVERED", 1)
    assert "destinationPaused" not in record
    state = aws.delivery(circuit.KEY_PREFIX + sick)
    assert state is not None
    assert state["state"] == "CLOSED"
    after = "evt_" + "d" * 32
    assert notify(aws, requested(aws, url.replace("-1", "-4"), event_id=after)) == []
    assert aws.delivery(after)["status"] == "DELIVERED"  # type: ignore[index]


def test_a_failed_probe_pauses_the_destination_again(
    aws: Aws, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, circuit_clock: list[int]
) -> None:
    monkeypatch.setenv("WEBHOOK_CIRCUIT_FAILURE_THRESHOLD", "1")
    monkeypatch.setenv("WEBHOOK_CIRCUIT_RECOVERY_SECONDS", "60")
    url = receiver.script("/still-sick", (503, {}))
    notify(aws, requested(aws, url, event_id="evt_" + "1" * 32))  # trips at once
    circuit_clock[0] += 60

    notify(aws, requested(aws, url, event_id="evt_" + "2" * 32))  # the probe, which fails
    notify(aws, requested(aws, url, event_id="evt_" + "3" * 32))  # paused again
    updates(aws)
    notify(aws, requested(aws, url, event_id="evt_" + "3" * 32))  # its copy, still paused

    assert updates(aws) == []  # shown paused once: waiting again floods no one

    assert len(receiver.hits("/still-sick")) == 2
    assert aws.delivery("evt_" + "2" * 32)["attempts"] == 1  # type: ignore[index]
    third = aws.delivery("evt_" + "3" * 32)
    assert third is not None
    assert (third["attempts"], third["destinationPaused"]) == (0, True)
    state = aws.delivery(circuit.KEY_PREFIX + delivery.destination_of(url))
    assert state is not None
    assert state["state"] == "OPEN"


def test_the_worker_puts_each_clients_webhooks_in_its_own_fair_queue_group(
    aws: Aws, receiver: Receiver
) -> None:
    url = receiver.script("/orders-hook", (204, {}))
    body = {"customerId": "c-9", "items": [{"sku": "KB-001", "quantity": 1}], "callbackUrl": url}
    status, _, answer = invoke(as_client(place_order_event(body=body), "client-fair-1"))
    assert status == 202, answer
    (placed,) = aws.receive()

    assert run_worker(sqs_event(placed)) == []

    (webhook,) = aws.receive("notifications")
    assert webhook["Attributes"]["MessageGroupId"] == "client-fair-1"
