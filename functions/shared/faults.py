"""Fault injection for tests and demos; off unless `FAULT_INJECTION` is set.

`FAULT_INJECTION` is a JSON list of rules, each for the AWS calls it matches:

    [{"call": "sqs.SendMessage", "throttle_on_calls": [1, 2, 3, 4], "throttle_every": 5},
     {"call": "sqs.SendMessage", "slow_on_calls": [22], "slow_seconds": 30},
     {"call": "dynamodb.*", "throttle_rate": 0.05, "seed": 7},
     {"call": "dynamodb.*", "slow_rate": 0.1, "slow_seconds": 2}]

A throttled call gets a real `ThrottlingException` answer without reaching AWS, so the SDK's
retries, and then our error handling, do what they would do in production. A slow call sleeps
before it is sent (and is then throttled too if a rule says so).

Each fault (`throttle`, `slow`) fires on a call when any of the rule's settings for it says so:

- `<fault>_on_calls`: on those calls, counting the calls the rule matches from 1;
- `<fault>_every`: on every n-th of them;
- `<fault>_rate`: at random, with that probability. With `seed`, the rule's draws are
  reproducible (the same sequence in every execution environment); without, they change.

Calls are counted per rule and per execution environment (one process; Lambda's environments
share nothing, and a replaced one counts from 1 again). Every attempt the SDK makes is a call:
`"throttle_on_calls": [1, 2, 3, 4]` throttles every attempt of the first call, so with the
SDK's four attempts (`shared.aws`) that call fails for good.

Every fault injected is logged, `"Fault injected"` with the `fault`, the `call`, its
`call_number` and the SDK's `attempt` and `max_attempts`, so a test can assert on what was
injected rather than on what chance might have done.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from botocore.awsrequest import AWSResponse

from shared.observability import logger

VARIABLE = "FAULT_INJECTION"
_SDK_ATTEMPT = re.compile(r"attempt=(\d+);\s*max=(\d+)")  # the amz-sdk-request header


@dataclass(frozen=True)
class CallFault:
    call: str = "*"  # service.Operation, shell-style wildcards allowed
    throttle_rate: float = 0.0
    throttle_every: int = 0
    throttle_on_calls: tuple[int, ...] = ()
    slow_rate: float = 0.0
    slow_every: int = 0
    slow_on_calls: tuple[int, ...] = ()
    slow_seconds: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for kind in ("throttle", "slow"):
            rate, every = getattr(self, f"{kind}_rate"), getattr(self, f"{kind}_every")
            on_calls = tuple(getattr(self, f"{kind}_on_calls"))
            if not 0 <= rate <= 1:
                raise ValueError(f"{VARIABLE}: {kind}_rate must be between 0 and 1")
            if not isinstance(every, int) or every < 0:
                raise ValueError(f"{VARIABLE}: {kind}_every must be a whole number >= 0")
            if not all(isinstance(n, int) and n >= 1 for n in on_calls):
                raise ValueError(f"{VARIABLE}: {kind}_on_calls must list call numbers >= 1")
            object.__setattr__(self, f"{kind}_on_calls", on_calls)


@dataclass
class _Rule:
    """A rule and its state in this execution environment: its call count and its draws."""

    fault: CallFault
    _calls: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _draw: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.fault.seed is not None:
            self._draw = random.Random(self.fault.seed).random

    def count(self, call: str) -> int | None:
        """The call's number among those this rule matches, or None if it does not match."""
        return next(self._calls) if fnmatch.fnmatchcase(call, self.fault.call) else None

    def fires(self, kind: str, number: int) -> bool:
        rate: float = getattr(self.fault, f"{kind}_rate")
        every: int = getattr(self.fault, f"{kind}_every")
        scheduled = number in getattr(self.fault, f"{kind}_on_calls") or (
            every > 0 and number % every == 0
        )
        drawn = rate > 0 and self._draw() < rate  # drawn on every call: the sequence is fixed
        return scheduled or drawn


def rules(spec: str | None) -> list[CallFault]:
    """The rules of a `FAULT_INJECTION` value; a ValueError names what is wrong."""
    if not spec:
        return []
    known = {f.name for f in fields(CallFault)}
    parsed = []
    for rule in json.loads(spec):
        unknown = set(rule) - known
        if unknown:
            raise ValueError(f"{VARIABLE}: unknown setting(s) {sorted(unknown)}")
        parsed.append(CallFault(**rule))
    return parsed


@cache
def _environment_rules() -> tuple[_Rule, ...]:
    """This environment's rules, shared by all its clients: calls are counted once per process."""
    return tuple(_Rule(fault) for fault in rules(os.environ.get(VARIABLE)))


def install(client: Any) -> None:
    """Register the configured faults on a boto3 client (a no-op when none are configured)."""
    active = _environment_rules()
    if not active:
        return
    service = client.meta.service_model.service_name

    def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        call = f"{service}.{event_name.rsplit('.', 1)[-1]}"
        numbered = [(rule, number) for rule in active if (number := rule.count(call)) is not None]
        throttled = False
        for rule, number in numbered:
            if rule.fires("slow", number):
                _log("slow", call, number, request, seconds=rule.fault.slow_seconds)
                time.sleep(rule.fault.slow_seconds)
            if rule.fires("throttle", number) and not throttled:
                _log("throttle", call, number, request)
                throttled = True
        return _throttled(request.url) if throttled else None

    client.meta.events.register("before-send", before_send)


def _log(fault: str, call: str, number: int, request: Any, **details: Any) -> None:
    attempt = _SDK_ATTEMPT.search(str(request.headers.get("amz-sdk-request", "")))
    if attempt:
        details |= {"attempt": int(attempt[1]), "max_attempts": int(attempt[2])}
    logger.warning(
        "Fault injected", extra={"fault": fault, "call": call, "call_number": number} | details
    )


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.payload


def _throttled(url: str) -> AWSResponse:
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded (injected)"})
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-query-error": "ThrottlingException;Sender",
    }
    return AWSResponse(url, 400, headers, _Body(body.encode()))  # type: ignore[arg-type]  # a plain dict works
