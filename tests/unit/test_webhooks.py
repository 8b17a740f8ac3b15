"""Standard Webhooks signatures and the retry schedule."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from orders import notifications, webhooks
from shared.settings import Settings

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_signatures_verify_with_the_reference_library() -> None:
    body = json.dumps({"type": "order.confirmed", "data": {"orderId": "o-1"}}).encode()
    timestamp = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(SECRET, "evt_1", timestamp, body),
    }
    assert Webhook(SECRET).verify(body, headers)["data"] == {"orderId": "o-1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", headers)


def test_a_secret_without_prefix_or_padding_signs_the_same() -> None:
    bare = SECRET.removeprefix("whsec_").rstrip("=")
    assert webhooks.sign(bare, "e", 1, b"{}") == webhooks.sign(SECRET, "e", 1, b"{}")


def test_event_ids_are_deterministic_per_order_and_outcome() -> None:
    assert notifications.event_id("o-1", "order.confirmed") == notifications.event_id(
        "o-1", "order.confirmed"
    )
    assert notifications.event_id("o-1", "order.confirmed") != notifications.event_id(
        "o-1", "order.rejected"
    )
    assert notifications.event_id("o-1", "order.confirmed") != notifications.event_id(
        "o-2", "order.confirmed"
    )


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    settings = Settings(webhook_retry_base_seconds=30, webhook_retry_max_delay_seconds=3600)
    for attempt in range(1, 12):
        ceiling = min(3600, 30 * 2 ** (attempt - 1))
        delays = {notifications.backoff_delay(attempt, None, settings) for _ in range(200)}
        assert min(delays) >= ceiling // 2
        assert max(delays) <= ceiling
        assert len(delays) > 1  # jittered


def test_the_default_schedule_rides_out_hours_of_outage() -> None:
    settings = Settings()
    worst_case_s = sum(
        min(
            settings.webhook_retry_max_delay_seconds,
            settings.webhook_retry_base_seconds * 2 ** (a - 1),
        )
        for a in range(1, settings.webhook_max_attempts)
    )
    assert worst_case_s / 3600 > 4


def test_retry_after_is_honoured_but_capped_at_the_sqs_maximum() -> None:
    settings = Settings(webhook_retry_base_seconds=1, webhook_retry_max_delay_seconds=2)
    assert notifications.backoff_delay(1, 120, settings) == 120
    assert notifications.backoff_delay(1, 10**9, settings) == 43_200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("\u00b2", None),
        ("9" * 400, 43_200.0),
    ],
)
def test_retry_after_header_parsing(value: str, expected: float | None) -> None:
    assert webhooks._retry_after(value) == expected


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (None, True),
        (500, True),
        (503, True),
        (408, True),
        (429, True),
        (410, False),
        (400, False),
        (302, False),
    ],
)
def test_which_answers_are_retried(status: int | None, retryable: bool) -> None:
    assert notifications._retryable(webhooks.AttemptResult(status)) is retryable


def test_a_receiver_that_trickles_its_answer_cannot_hold_an_attempt_past_its_deadline() -> None:
    import socket
    import threading

    from orders.callbacks import CallbackTarget

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

    result = webhooks.post(
        target, "evt_1", b"{}", SECRET, connect_timeout_s=0.5, read_timeout_s=0.5
    )

    # the 1 s deadline, with room for a busy machine, and far from the 14 s the trickle takes
    assert time.monotonic() - started < 6
    assert result.status_code is None
    assert result.error is not None
    assert "TimeoutError" in result.error
    stop.set()
    server.close()
