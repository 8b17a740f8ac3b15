"""Fault injection for tests and demos; off unless `FAULT_INJECTION` is set.

`FAULT_INJECTION` is a JSON list of rules, each for the AWS calls it matches:

    [{"call": "sqs.SendMessage", "throttle_rate": 0.3},
     {"call": "dynamodb.*", "slow_rate": 0.1, "slow_seconds": 2}]

A throttled call gets a real `ThrottlingException` answer without reaching AWS, so the SDK's
retries, and then our error handling, do what they would do in production. A slow call sleeps
before it is sent.
"""

from __future__ import annotations

import fnmatch
import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse

VARIABLE = "FAULT_INJECTION"


@dataclass(frozen=True)
class CallFault:
    call: str = "*"  # service.Operation, shell-style wildcards allowed
    throttle_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.payload


def install(client: Any) -> None:
    """Register the configured faults on a boto3 client (a no-op when none are configured)."""
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    faults = [CallFault(**rule) for rule in json.loads(spec)]
    service = client.meta.service_model.service_name

    def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        call = f"{service}.{event_name.rsplit('.', 1)[-1]}"
        for fault in faults:
            if not fnmatch.fnmatchcase(call, fault.call):
                continue
            if random.random() < fault.slow_rate:
                time.sleep(fault.slow_seconds)
            if random.random() < fault.throttle_rate:
                return _throttled(request.url)
        return None

    client.meta.events.register("before-send", before_send)


def _throttled(url: str) -> AWSResponse:
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded (injected)"})
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-query-error": "ThrottlingException;Sender",
    }
    return AWSResponse(url, 400, headers, _Body(body.encode()))  # type: ignore[arg-type]  # a plain dict works
