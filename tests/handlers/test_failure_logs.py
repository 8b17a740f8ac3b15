"""A failure is one structured ERROR line, with its traceback once; a designed retry is a
WARNING without one."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from orders.adapters.store import OrderStore
from shared.observability import logger
from tests.handlers.helpers import (
    Aws,
    Receiver,
    invoke,
    place_order_event,
    run_notifier,
    run_worker,
    sqs_event,
    webhook_requested,
)


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the functions' logger writes, as Lambda would ship it."""
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    return stream


def log_lines(logs: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]


def test_an_unexpected_failure_is_one_error_line_with_its_context(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO
) -> None:
    # Given a placed order, and a table that fails when the worker reads it
    status, _, body = invoke(place_order_event())
    assert status == 202
    (message,) = aws.receive("orders")
    logs.seek(0)
    logs.truncate()

    def unavailable(self: OrderStore, order_id: str) -> None:
        raise ConnectionError("x" * 5000)

    monkeypatch.setattr(OrderStore, "get_order", unavailable)

    assert run_worker(sqs_event(message)) == [message["MessageId"]]

    errors = [line for line in log_lines(logs) if line["level"] == "ERROR"]
    (error,) = errors
    assert error["message"] == "Record failed; SQS will deliver it again"
    assert error["order_id"] == body["orderId"]
    assert error["correlation_id"]
    assert error["function_name"] == "order-worker"
    assert error["error_type"] == "ConnectionError"
    assert len(error["error"]) <= 300  # long values are cut
    assert "Traceback" in error["exception"]  # once: no structured copy beside it
    assert "stack_trace" not in error
    assert all(len(line) < 400 for line in error["exception"].splitlines())


def test_a_designed_retry_is_a_warning_without_a_traceback(
    aws: Aws,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    logs: io.StringIO,
) -> None:
    monkeypatch.setenv("WEBHOOK_LOCAL_MODE", "true")  # the receiver is on loopback
    url = receiver.script("/busy", (503, {}))
    aws.send("notifications", webhook_requested(url), "webhook.requested")
    (message,) = aws.receive("notifications", visibility=0)
    logs.seek(0)
    logs.truncate()

    assert run_notifier(sqs_event(message, sample="sqs/notifications")) == [message["MessageId"]]

    lines = log_lines(logs)
    assert [line for line in lines if line["level"] == "ERROR"] == []
    (warning,) = [line for line in lines if line["level"] == "WARNING"]
    assert warning["message"] == "Webhook attempt failed; retrying"
    assert "exception" not in warning
