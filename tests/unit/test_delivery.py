"""Webhook delivery: what an attempt's result means (the pure `decide`), Standard Webhooks
signatures, event ids, and the one HTTP attempt's own limits."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from infra.topology import NOTIFIER, TOPOLOGY
from notifications.delivery import client
from notifications.delivery.decide import (
    MAX_VISIBILITY_S,
    AttemptResult,
    Delivered,
    GiveUp,
    RetryLater,
    Schedule,
    backoff_delay,
    decide,
)
from notifications.delivery.signing import sign
from orders.domain.notifications import event_id
from shared import aws as shared_aws
from shared.ssrf import CallbackTarget

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SCHEDULE = Schedule(max_attempts=12, base_delay_s=30, max_delay_s=3600)
JITTERS = (0.0, 0.25, 0.5, 0.999_999)


def ceiling(attempt: int, schedule: Schedule = SCHEDULE) -> float:
    """The longest backoff after attempt `attempt`: base doubling per attempt, capped."""
    return min(schedule.max_delay_s, schedule.base_delay_s * 2 ** (attempt - 1))


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deciding touches neither the network nor AWS."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("decide() did I/O")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(shared_aws, "dynamodb", refuse)
    monkeypatch.setattr(shared_aws, "sqs", refuse)
    monkeypatch.setattr(shared_aws, "secret_value", refuse)


# decide(): delivered -------------------------------------------------------------------------


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
@pytest.mark.parametrize("attempt", [1, 5, 12])
def test_a_2xx_is_delivered_on_any_attempt(status: int, attempt: int) -> None:
    assert decide(AttemptResult(status), attempt, SCHEDULE, 0.5) == Delivered(status)


# decide(): retried ---------------------------------------------------------------------------

RETRYABLE = [
    (AttemptResult(408), "HTTP 408"),
    (AttemptResult(429), "HTTP 429"),
    (AttemptResult(500), "HTTP 500"),
    (AttemptResult(502), "HTTP 502"),
    (AttemptResult(503), "HTTP 503"),
    (AttemptResult(599), "HTTP 599"),
    (AttemptResult(None, error="TimeoutError: read timed out"), "TimeoutError: read timed out"),
    (
        AttemptResult(None, error="NewConnectionError: connection refused"),
        "NewConnectionError: connection refused",
    ),
    (
        AttemptResult(None, error="the callback host h.invalid does not resolve"),
        "the callback host h.invalid does not resolve",
    ),
]


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize(("result", "reason"), RETRYABLE, ids=lambda v: str(v)[:40])
def test_408_429_5xx_and_no_answer_are_retried_with_backoff_within_bounds(
    result: AttemptResult, reason: str
) -> None:
    for attempt in range(1, SCHEDULE.max_attempts):
        for jitter in JITTERS:
            decision = decide(result, attempt, SCHEDULE, jitter)
            assert isinstance(decision, RetryLater), (attempt, jitter)
            assert decision.reason == reason
            # equal jitter: between half the ceiling and the ceiling
            assert ceiling(attempt) / 2 <= decision.delay_s <= ceiling(attempt)


@pytest.mark.usefixtures("no_io")
def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    for attempt in range(1, 12):
        low = backoff_delay(attempt, None, SCHEDULE, 0.0)
        high = backoff_delay(attempt, None, SCHEDULE, 0.999_999)
        assert low == ceiling(attempt) / 2
        assert high == ceiling(attempt)
        assert len({backoff_delay(attempt, None, SCHEDULE, j) for j in JITTERS}) > 1  # jittered
    assert backoff_delay(11, None, SCHEDULE, 0.999_999) == 3600  # capped


@pytest.mark.usefixtures("no_io")
def test_the_delay_is_a_whole_number_of_seconds_and_at_least_one() -> None:
    tiny = Schedule(max_attempts=3, base_delay_s=0.1, max_delay_s=0.2)
    for jitter in JITTERS:
        delay = backoff_delay(1, None, tiny, jitter)
        assert isinstance(delay, int)
        assert delay == 1
    assert isinstance(backoff_delay(3, None, SCHEDULE, 0.37), int)


@pytest.mark.usefixtures("no_io")
def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    schedule = Schedule(max_attempts=5, base_delay_s=1, max_delay_s=2)
    assert decide(AttemptResult(429, retry_after_s=120), 1, schedule, 0.5) == RetryLater(
        120, "HTTP 429"
    )
    assert decide(AttemptResult(503, retry_after_s=0.2), 1, schedule, 0.5) == RetryLater(
        1, "HTTP 503"
    )  # shorter than the backoff: the backoff
    assert backoff_delay(1, 120.5, schedule, 0.0) == 121  # never sooner than asked


@pytest.mark.usefixtures("no_io")
def test_retry_after_is_capped_at_the_sqs_maximum() -> None:
    schedule = Schedule(max_attempts=5, base_delay_s=1, max_delay_s=2)
    decision = decide(AttemptResult(503, retry_after_s=10**9), 1, schedule, 0.5)
    assert decision == RetryLater(MAX_VISIBILITY_S, "HTTP 503")
    assert MAX_VISIBILITY_S == 43_200 - 900  # room for SQS's 12 hours from the receive


# decide(): given up --------------------------------------------------------------------------


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("status", [410, 400, 401, 403, 404, 409, 413, 422, 301, 302, 304, 307])
def test_410_other_4xx_and_redirects_give_up_at_once(status: int) -> None:
    for attempt in (1, 2, 11):
        assert decide(AttemptResult(status), attempt, SCHEDULE, 0.5) == GiveUp(f"HTTP {status}")


@pytest.mark.usefixtures("no_io")
def test_a_permanent_failure_gives_up_at_once_with_its_reason() -> None:
    refused = AttemptResult(
        None, error="callback refused: 10.0.0.8 is not a public address", permanent=True
    )
    assert decide(refused, 1, SCHEDULE, 0.5) == GiveUp(
        "callback refused: 10.0.0.8 is not a public address"
    )
    # even an answer that would be retried, when marked permanent
    assert decide(AttemptResult(503, permanent=True), 1, SCHEDULE, 0.5) == GiveUp("HTTP 503")


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize(("result", "reason"), RETRYABLE, ids=lambda v: str(v)[:40])
def test_the_last_attempt_gives_up(result: AttemptResult, reason: str) -> None:
    last = SCHEDULE.max_attempts
    assert isinstance(decide(result, last - 1, SCHEDULE, 0.5), RetryLater)
    assert decide(result, last, SCHEDULE, 0.5) == GiveUp(reason)
    assert decide(result, last + 3, SCHEDULE, 0.5) == GiveUp(reason)  # SQS's safety net


@pytest.mark.usefixtures("no_io")
def test_a_single_attempt_schedule_never_retries() -> None:
    once = Schedule(max_attempts=1, base_delay_s=30, max_delay_s=3600)
    assert decide(AttemptResult(500), 1, once, 0.5) == GiveUp("HTTP 500")
    assert decide(AttemptResult(200), 1, once, 0.5) == Delivered(200)


@pytest.mark.usefixtures("no_io")
def test_deciding_is_pure() -> None:
    result = AttemptResult(503, retry_after_s=7)
    assert {decide(result, 3, SCHEDULE, 0.3) for _ in range(50)} == {
        decide(result, 3, SCHEDULE, 0.3)
    }


def test_the_default_schedule_rides_out_hours_of_outage() -> None:
    environment = TOPOLOGY.static_environment(NOTIFIER)
    schedule = Schedule(
        max_attempts=int(environment["WEBHOOK_MAX_ATTEMPTS"]),
        base_delay_s=float(environment["WEBHOOK_RETRY_BASE_SECONDS"]),
        max_delay_s=float(environment["WEBHOOK_RETRY_MAX_DELAY_SECONDS"]),
    )
    worst_case_s = sum(
        backoff_delay(a, None, schedule, 0.999_999) for a in range(1, schedule.max_attempts)
    )
    assert worst_case_s / 3600 > 4
    # the queue's own redrive is only a safety net above the notifier's last attempt
    assert TOPOLOGY.queue("notifications").max_receive_count > schedule.max_attempts


# Signing ---------------------------------------------------------------------------------------


def test_signatures_verify_with_the_reference_library() -> None:
    body = json.dumps({"type": "order.confirmed", "data": {"orderId": "o-1"}}).encode()
    timestamp = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(SECRET, "evt_1", timestamp, body),
    }
    assert Webhook(SECRET).verify(body, headers)["data"] == {"orderId": "o-1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers | {"webhook-id": "evt_2"})
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


@pytest.mark.parametrize(
    ("msg_id", "body"),
    [
        ("evt_1", '{"a":1}'),
        ("msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}'),
        ("evt_ü", '{"name":"Zoë","emoji":"\U0001f680"}'),
    ],
)
def test_signatures_are_what_the_reference_library_signs(msg_id: str, body: str) -> None:
    timestamp = 1_614_265_330
    expected = Webhook(SECRET).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)
    assert sign(SECRET, msg_id, timestamp, body.encode()) == expected
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", expected)


def test_a_secret_without_prefix_or_padding_signs_the_same() -> None:
    bare = SECRET.removeprefix("whsec_").rstrip("=")
    assert sign(bare, "e", 1, b"{}") == sign(SECRET, "e", 1, b"{}")


# Event ids -------------------------------------------------------------------------------------


def test_event_ids_are_deterministic_per_order_and_outcome() -> None:
    assert event_id("o-1", "order.confirmed") == event_id("o-1", "order.confirmed")
    assert event_id("o-1", "order.confirmed") != event_id("o-1", "order.rejected")
    assert event_id("o-1", "order.confirmed") != event_id("o-2", "order.confirmed")


def test_event_ids_fit_the_message_and_the_webhook_id_header() -> None:
    value = event_id("01a20a90-6da9-7051-8636-e5604348235b", "order.confirmed")
    assert re.fullmatch(r"evt_[0-9a-f]{32}", value)
    assert len(value) <= 64  # the envelope's and the delivery update's limit


# The HTTP attempt ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("\u00b2", None),
        ("9" * 400, float(MAX_VISIBILITY_S)),
    ],
)
def test_retry_after_header_parsing(value: str | None, expected: float | None) -> None:
    assert client._retry_after(value) == expected


def test_a_receiver_that_trickles_its_answer_cannot_hold_an_attempt_past_its_deadline() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100:
            if stop.wait(0.1):
                break
            connection.send(bytes([byte]))
        connection.close()

    threading.Thread(target=trickle, daemon=True).start()
    target = CallbackTarget("http", "127.0.0.1", server.getsockname()[1], "/", "127.0.0.1")
    started = time.monotonic()

    try:
        result = client.post(
            target, "evt_1", b"{}", SECRET, connect_timeout_s=0.5, read_timeout_s=0.5
        )
    finally:
        stop.set()
        server.close()

    # the 1 s deadline, with room for a busy machine, and far from what the trickle takes
    assert time.monotonic() - started < 6
    assert result.status_code is None
    assert result.error is not None
    assert "TimeoutError" in result.error
    assert decide(result, 1, SCHEDULE, 0.5) == RetryLater(23, result.error)  # 15 + 0.5 x 15
