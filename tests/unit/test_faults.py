"""Fault injection: rules that throttle or slow AWS calls on a schedule, or at seeded random,
and a log line for every fault injected. A real boto3 client calls a stub endpoint here."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from shared import faults
from shared.observability import logger


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """An SQS stand-in that answers every call with an empty success."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"QueueUrls": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Injected(logging.Handler):
    """The "Fault injected" records, with the fields they carry."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "Fault injected":
            self.records.append(dict(record.__dict__))


@pytest.fixture
def injected() -> Iterator[Injected]:
    handler = Injected()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def client(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, rules: list[dict[str, Any]], attempts: int = 1
) -> Any:
    """An SQS client with `rules` installed, as `shared.aws` installs them in a new process."""
    monkeypatch.setenv(faults.VARIABLE, json.dumps(rules))
    faults._environment_rules.cache_clear()
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )
    faults.install(sqs)
    return sqs


def throttled_calls(sqs: Any, calls: int) -> list[int]:
    """The numbers (from 1) of the calls, out of `calls`, that were throttled."""
    throttled = []
    for number in range(1, calls + 1):
        try:
            sqs.list_queues()
        except ClientError as error:
            if error.response["Error"]["Code"] != "ThrottlingException":
                raise
            throttled.append(number)
    return throttled


@pytest.fixture(autouse=True)
def _fresh_rules() -> Iterator[None]:
    yield
    faults._environment_rules.cache_clear()


def test_calls_are_throttled_on_schedule(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, injected: Injected
) -> None:
    rule = {"call": "sqs.ListQueues", "throttle_on_calls": [2, 3], "throttle_every": 5}
    sqs = client(monkeypatch, endpoint, [rule])

    assert throttled_calls(sqs, 10) == [2, 3, 5, 10]
    assert [(r["fault"], r["call"], r["call_number"]) for r in injected.records] == [
        ("throttle", "sqs.ListQueues", n) for n in (2, 3, 5, 10)
    ]


def test_a_rule_counts_only_the_calls_it_matches(
    monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    sqs = client(monkeypatch, endpoint, [{"call": "sqs.Send*", "throttle_every": 1}])

    assert throttled_calls(sqs, 3) == []


def test_seeded_draws_repeat(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    seeded = {"call": "sqs.*", "throttle_rate": 0.5, "seed": 42}

    first = throttled_calls(client(monkeypatch, endpoint, [seeded]), 40)
    again = throttled_calls(client(monkeypatch, endpoint, [seeded]), 40)

    assert first == again
    assert 0 < len(first) < 40
    assert throttled_calls(client(monkeypatch, endpoint, [seeded | {"seed": 7}]), 40) != first


def test_every_attempt_is_a_call_and_the_log_says_which_attempt_failed_for_good(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, injected: Injected
) -> None:
    # Given the SDK's two attempts per call, both throttled on the first call only
    sqs = client(monkeypatch, endpoint, [{"throttle_on_calls": [1, 2]}], attempts=2)

    with pytest.raises(ClientError, match="ThrottlingException"):
        sqs.list_queues()
    sqs.list_queues()

    assert [(r["call_number"], r["attempt"], r["max_attempts"]) for r in injected.records] == [
        (1, 1, 2),
        (2, 2, 2),
    ]


def test_a_slow_call_sleeps_before_it_is_sent(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, injected: Injected
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(faults.time, "sleep", slept.append)
    sqs = client(monkeypatch, endpoint, [{"slow_on_calls": [2], "slow_seconds": 11}])

    assert throttled_calls(sqs, 3) == []

    assert slept == [11]
    assert [(r["fault"], r["call_number"], r["seconds"]) for r in injected.records] == [
        ("slow", 2, 11)
    ]


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"throttle_rate": 1.5}, "throttle_rate must be between 0 and 1"),
        ({"slow_every": -1}, "slow_every must be a whole number"),
        ({"throttle_on_calls": [0]}, "throttle_on_calls must list call numbers"),
        ({"throttle_evry": 3}, "unknown setting"),
    ],
)
def test_a_mistaken_rule_is_refused_with_what_is_wrong(rule: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        faults.rules(json.dumps([rule]))


def test_nothing_is_injected_unless_configured(
    monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    assert faults.rules(None) == faults.rules("") == []
    assert throttled_calls(client(monkeypatch, endpoint, []), 3) == []


def test_the_clients_look_for_faults_under_the_modules_variable() -> None:
    # shared.aws imports this module only when the variable is set: the names must agree
    from shared import aws

    assert aws._FAULT_INJECTION == faults.VARIABLE
