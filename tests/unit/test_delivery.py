"""Webhook delivery: what an attempt's result means (the pure `decide`), Standard Webhooks
signatures, event ids, and the one HTTP attempt's own limits."""

from __future__ import annotations

import base64
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from infra.local.webhook_receiver import verify_v1a
from infra.topology import NOTIFIER, TOPOLOGY
from notifications.delivery import client
from notifications.delivery.decide import (
    MAX_VISIBILITY_S,
    RETRY_AFTER_EXTRA_CAP_S,
    AttemptResult,
    Delivered,
    GiveUp,
    RetryLater,
    Schedule,
    backoff_delay,
    decide,
)
from notifications.delivery.signing import (
    TOLERANCE_S,
    InvalidSigningKey,
    keys,
    public_key,
    sign,
    signature_header,
    validate,
)
from orders.domain.notifications import event_id
from shared import aws as shared_aws
from shared.ssrf import (
    PLACEMENT_RESOLVE_TIMEOUT_S,
    CallbackTarget,
    CallbackUnresolvable,
    UnsafeCallback,
    vet,
)

REPO = Path(__file__).resolve().parents[2]
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
def test_retry_after_is_capped_two_hours_past_the_backoff_and_at_the_sqs_maximum() -> None:
    schedule = Schedule(max_attempts=5, base_delay_s=1, max_delay_s=2)
    decision = decide(AttemptResult(503, retry_after_s=10**9), 1, schedule, 0.5)
    assert decision == RetryLater(math.ceil(0.75 + RETRY_AFTER_EXTRA_CAP_S), "HTTP 503")
    assert RETRY_AFTER_EXTRA_CAP_S == 2 * 3600
    long = Schedule(max_attempts=5, base_delay_s=40_000, max_delay_s=43_200)
    assert backoff_delay(1, 10**9, long, 0.999_999) == MAX_VISIBILITY_S
    assert MAX_VISIBILITY_S == 43_200 - 900  # room for SQS's 12 hours from the receive


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_429_502_503_504_are_throttling_and_retried(status: int) -> None:
    result = AttemptResult(status)
    assert result.throttled
    assert isinstance(decide(result, 1, SCHEDULE, 0.5), RetryLater)
    assert not AttemptResult(500).throttled
    assert not AttemptResult(410).throttled


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize(
    ("result", "unhealthy"),
    [
        (AttemptResult(None, error="TimeoutError"), True),
        (AttemptResult(500), True),
        (AttemptResult(503), True),
        (AttemptResult(408), True),
        (AttemptResult(429), False),  # it answered: throttling is retried, not a failure
        (AttemptResult(404), False),
        (AttemptResult(410), False),
        (AttemptResult(204), False),
        (AttemptResult(None, error="callback refused", permanent=True), False),
    ],
)
def test_what_counts_against_a_destination_circuit(result: AttemptResult, unhealthy: bool) -> None:
    assert result.destination_unhealthy is unhealthy


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


@contextmanager
def raw_server(serve: Callable[[socket.socket], None]) -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on loopback whose one connection `serve` handles; yields its port and what
    it received on every connection (so a late send would show)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    received: list[bytes] = []

    def run() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                serve(connection)
                connection.settimeout(3)
                try:  # what else comes: a send that timed out must never go out later
                    while chunk := connection.recv(65536):
                        received.append(chunk)
                except OSError:
                    pass

    threading.Thread(target=run, daemon=True).start()
    try:
        yield server.getsockname()[1], received
    finally:
        server.close()


def attempt(port: int, deadline_s: float = 1.0, connect_s: float = 0.5) -> AttemptResult:
    target = CallbackTarget("http", "127.0.0.1", port, "/", "127.0.0.1")
    headers = {"webhook-id": "evt_1", "webhook-timestamp": "1", "webhook-signature": "v1,x"}
    return client.post(target, b"{}", headers, client.Deadline(deadline_s), connect_s)


def test_a_receiver_that_trickles_its_answer_cannot_hold_an_attempt_past_its_deadline() -> None:
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        connection.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n" + b"X-Pad: y\r\n" * 100:
            if stop.wait(0.05):  # a byte every 50 ms: every read gets one, none times out
                break
            connection.send(bytes([byte]))

    with raw_server(trickle) as (port, _):
        started = time.monotonic()
        result = attempt(port, deadline_s=1.0)
        elapsed = time.monotonic() - started
        stop.set()

    assert elapsed < 1.5
    assert result.status_code is None
    assert result.error == "TimeoutError: no answer within 1 s (answer)"
    assert decide(result, 1, SCHEDULE, 0.5) == RetryLater(23, result.error)  # 15 + 0.5 x 15


def test_a_timed_out_attempt_closes_its_connection_frees_its_thread_and_never_sends_later() -> None:
    closed = threading.Event()
    answered: list[bytes] = []

    def silent(connection: socket.socket) -> None:
        answered.append(connection.recv(65536))  # reads the request, never answers
        connection.settimeout(5)
        if connection.recv(1) == b"":  # the notifier hung up
            closed.set()

    threads_before = threading.active_count()
    with raw_server(silent) as (port, received):
        started = time.monotonic()
        result = attempt(port, deadline_s=0.5)
        assert time.monotonic() - started < 1.0
        assert closed.wait(2), "the connection was not closed at the deadline"
        time.sleep(0.2)  # anything the attempt left behind would send by now

    assert "TimeoutError" in (result.error or "")
    assert answered[0].startswith(b"POST / HTTP/1.1\r\n")
    assert received == []  # nothing more on that connection, ever
    assert threading.active_count() <= threads_before + 1  # only the test server's thread


def test_a_connection_refused_is_a_failed_attempt_with_its_phase() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = attempt(port)
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("ConnectionRefusedError")
    assert result.error.endswith("(connect)")


def test_an_answer_that_is_not_http_is_a_failed_attempt() -> None:
    def garbage(connection: socket.socket) -> None:
        connection.recv(65536)
        connection.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")

    with raw_server(garbage) as (port, _):
        result = attempt(port)
    assert result.status_code is None
    assert (result.error or "").startswith("ValueError: not an HTTP answer")


@pytest.mark.parametrize(
    ("status", "expected"), [(429, 30.0), (503, 30.0), (500, None), (502, None), (504, None)]
)
def test_retry_after_is_read_on_429_and_503_only(status: int, expected: float | None) -> None:
    def answer(connection: socket.socket) -> None:
        connection.recv(65536)
        connection.sendall(
            f"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 {status} X\r\nretry-after: 30\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )

    with raw_server(answer) as (port, _):
        result = attempt(port)
    assert (result.status_code, result.retry_after_s) == (status, expected)


def test_dns_resolution_has_a_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_resolver(*_: object, **__: object) -> list[object]:
        time.sleep(3)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
    started = time.monotonic()
    with pytest.raises(CallbackUnresolvable, match=r"did not resolve within 0\.3 s"):
        vet("https://slow.example/hook", local_mode=False, resolve_timeout_s=0.3)
    assert time.monotonic() - started < 1
    assert PLACEMENT_RESOLVE_TIMEOUT_S <= 2  # short at placement: the API answers in time


def test_an_idn_callback_is_resolved_and_presented_as_punycode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def resolver(host: str, port: int, **_: object) -> list[object]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    target = vet("https://bücher.example/hook?ü=1", local_mode=False)
    assert target.host == "xn--bcher-kva.example"
    assert asked == ["xn--bcher-kva.example"]
    request = client._request(target, b"{}", {})
    assert b"Host: xn--bcher-kva.example\r\n" in request
    assert request.startswith(b"POST /hook?%C3%BC=1 HTTP/1.1\r\n")  # never a raw non-ASCII path


def test_a_host_with_no_valid_ascii_form_is_refused() -> None:
    with pytest.raises(UnsafeCallback, match="not a valid internationalized name"):
        vet("https://" + "ü" * 70 + ".example/", local_mode=False)  # a label over 63 octets


# Standard Webhooks: rotation and the six verification cases ---------------------------------

OLD_KEY = "whsec_" + base64.b64encode(b"old-key-" * 4).decode()
NEW_KEY = "whsec_" + base64.b64encode(b"new-key-" * 4).decode()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secret, "evt_1", timestamp, body),
    }


def test_during_a_rotation_every_key_signs_and_either_verifies() -> None:
    body = b'{"type":"order.confirmed"}'
    headers = signed_headers(f"{NEW_KEY} {OLD_KEY}", body)  # the secret during the overlap
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(NEW_KEY).verify(body, headers) == {"type": "order.confirmed"}
    assert Webhook(OLD_KEY).verify(body, headers) == {"type": "order.confirmed"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers)
    assert keys(f" {NEW_KEY}\n{OLD_KEY} ") == [NEW_KEY, OLD_KEY]
    with pytest.raises(ValueError, match="no key"):
        keys("  ")


BODY = b'{"type":"order.confirmed","data":{"orderId":"o-1"}}'


def _valid() -> tuple[bytes, dict[str, str]]:
    return BODY, signed_headers(SECRET, BODY)


def _several_one_valid() -> tuple[bytes, dict[str, str]]:
    headers = signed_headers(SECRET, BODY)
    forged = "v1," + base64.b64encode(b"f" * 32).decode()
    headers["webhook-signature"] = f"{forged} {headers['webhook-signature']} v1a,{forged[3:]}"
    return BODY, headers


def _tampered() -> tuple[bytes, dict[str, str]]:
    return BODY.replace(b"o-1", b"o-2"), signed_headers(SECRET, BODY)


def _wrong_secret() -> tuple[bytes, dict[str, str]]:
    return BODY, signed_headers(OLD_KEY, BODY)


def _old_timestamp() -> tuple[bytes, dict[str, str]]:
    return BODY, signed_headers(SECRET, BODY, int(time.time()) - TOLERANCE_S - 10)


def _missing_headers() -> tuple[bytes, dict[str, str]]:
    headers = signed_headers(SECRET, BODY)
    del headers["webhook-timestamp"]
    return BODY, headers


# The six standard verification cases: each builds (body, headers) signed with SECRET, and
# whether a verifier must accept them.
SIX_CASES = pytest.mark.parametrize(
    ("case", "accepted"),
    [
        (_valid, True),
        (_several_one_valid, True),
        (_tampered, False),
        (_wrong_secret, False),
        (_old_timestamp, False),
        (_missing_headers, False),
    ],
    ids=[
        "valid",
        "several-one-valid",
        "tampered-body",
        "wrong-key",
        "old-timestamp",
        "missing-headers",
    ],
)


@SIX_CASES
def test_the_six_standard_verification_cases_against_the_reference_verifier(
    case: Callable[[], tuple[bytes, dict[str, str]]], accepted: bool
) -> None:
    body, headers = case()
    if accepted:
        assert Webhook(SECRET).verify(body, headers)["data"] == {"orderId": "o-1"}
    else:
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(body, headers)


# v1a: ed25519 -----------------------------------------------------------------------------------

# RFC 8032, section 7.1, TEST 1: the seed and the public key it must give.
RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
ED_KEY = "whsk_" + base64.b64encode(bytes.fromhex(RFC8032_SEED)).decode()
ED_PUBLIC = "whpk_" + base64.b64encode(bytes.fromhex(RFC8032_PUBLIC)).decode()
OTHER_ED_KEY = "whsk_" + base64.b64encode(b"another-32-byte-ed25519-seed-!!!").decode()


def test_an_ed25519_key_is_an_rfc8032_seed_and_signs_v1a() -> None:
    assert public_key(ED_KEY) == ED_PUBLIC
    signature = sign(ED_KEY, "evt_1", 1_700_000_000, BODY)
    assert signature.startswith("v1a,")
    assert len(base64.b64decode(signature.removeprefix("v1a,"))) == 64
    # ed25519 is deterministic: the same content, the same signature; other content, another
    assert sign(ED_KEY, "evt_1", 1_700_000_000, BODY) == signature
    assert sign(ED_KEY, "evt_2", 1_700_000_000, BODY) != signature


def test_both_kinds_sign_side_by_side_and_each_receiver_verifies_its_own() -> None:
    headers = signed_headers(f"{ED_KEY} {SECRET}", BODY)
    versions = [s.split(",")[0] for s in headers["webhook-signature"].split(" ")]
    assert versions == ["v1a", "v1"]
    assert Webhook(SECRET).verify(BODY, headers)["data"] == {"orderId": "o-1"}  # skips v1a
    assert verify_v1a(ED_PUBLIC, BODY, headers)["data"] == {"orderId": "o-1"}  # skips v1
    with pytest.raises(WebhookVerificationError):
        verify_v1a(public_key(OTHER_ED_KEY), BODY, headers)


@pytest.mark.parametrize(
    "bad",
    ["whsk_c2hvcnQ=", "whsk_" + base64.b64encode(b"s" * 64).decode(), "whsk_not*base64", "w*"],
)
def test_a_key_that_cannot_sign_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(InvalidSigningKey) as refused:
        signature_header(f"{SECRET} {bad}", "evt_1", 1, BODY)
    assert bad.removeprefix("whsk_") not in str(refused.value)
    with pytest.raises(InvalidSigningKey):  # what the notifier checks before any attempt
        validate(f"{SECRET} {bad}")
    validate(f"{ED_KEY} {SECRET}")


def _v1a_case(case: Callable[[], tuple[bytes, dict[str, str]]]) -> tuple[bytes, dict[str, str]]:
    """The same case with ed25519 keys: ED_KEY where it had SECRET, OTHER_ED_KEY for OLD_KEY."""
    body, headers = case()
    if "webhook-signature" in headers:
        timestamp = int(headers.get("webhook-timestamp") or time.time())
        signing_key = OTHER_ED_KEY if case is _wrong_secret else ED_KEY
        signed = BODY if case is _tampered else body
        signature = sign(signing_key, "evt_1", timestamp, signed)
        if case is _several_one_valid:
            forged = "v1a," + base64.b64encode(b"f" * 64).decode()
            signature = f"{forged} v1,{forged[4:48]} {signature}"
        headers["webhook-signature"] = signature
    return body, headers


@SIX_CASES
def test_the_six_standard_verification_cases_for_v1a(
    case: Callable[[], tuple[bytes, dict[str, str]]], accepted: bool
) -> None:
    """The reference Python verifier has no v1a: these run against the receiver's verifier,
    which checks headers and the 5-minute tolerance as the reference does and the signature
    with `cryptography`'s ed25519 and the public key only."""
    body, headers = _v1a_case(case)
    if accepted:
        assert verify_v1a(ED_PUBLIC, body, headers)["data"] == {"orderId": "o-1"}
    else:
        with pytest.raises(WebhookVerificationError):
            verify_v1a(ED_PUBLIC, body, headers)


def documented_v1a_verifier() -> Callable[[str, bytes, dict[str, str]], bool]:
    """The `verify_v1a` printed in docs/webhooks.md for receivers, run as printed."""
    text = (REPO / "docs" / "webhooks.md").read_text()
    found = re.search(r"<!-- tested: verify-v1a -->\n```python\n(.*?)```", text, re.S)
    assert found is not None, "docs/webhooks.md lost its verify-v1a block"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), "docs/webhooks.md", "exec"), namespace)  # noqa: S102
    verify: Callable[[str, bytes, dict[str, str]], bool] = namespace["verify_v1a"]
    return verify


@SIX_CASES
def test_the_documented_receiver_snippet_passes_the_six_cases(
    case: Callable[[], tuple[bytes, dict[str, str]]], accepted: bool
) -> None:
    body, headers = _v1a_case(case)
    assert documented_v1a_verifier()(ED_PUBLIC, body, headers) is accepted


def test_the_documented_snippet_refuses_forgeries_and_verifies_through_a_rotation() -> None:
    verify = documented_v1a_verifier()
    now = int(time.time())
    forged = [
        {"webhook-id": "evt_1", "webhook-timestamp": str(now), "webhook-signature": "v1,AAAA"},
        {"webhook-id": "evt_1", "webhook-timestamp": str(now), "webhook-signature": ""},
        {"webhook-id": "evt_1", "webhook-timestamp": "soon", "webhook-signature": "v1a,AAAA"},
    ]
    assert not any(verify(ED_PUBLIC, BODY, headers) for headers in forged)
    # newest key first: a receiver still on the old key skips the new key's signature
    rotating = signed_headers(f"{OTHER_ED_KEY} {ED_KEY}", BODY)
    assert verify(ED_PUBLIC, BODY, {k.title(): v for k, v in rotating.items()})
    assert verify(public_key(OTHER_ED_KEY), BODY, rotating)


def test_the_tolerance_is_the_specifications_five_minutes() -> None:
    assert TOLERANCE_S == 300
    body = BODY
    inside = signed_headers(SECRET, body, int(time.time()) - TOLERANCE_S + 30)
    assert Webhook(SECRET).verify(body, inside)
