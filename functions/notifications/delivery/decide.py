"""What one attempt's result means: delivered, retry at a later time, or give up. Pure: no I/O.

2xx is delivered. 408, 429, 5xx, timeouts and connection errors are retried with exponential
backoff and equal jitter, never sooner than the receiver's Retry-After, until the attempts run
out. Any other answer (410, other 4xx, redirects, which are never followed) gives up at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# SQS caps a message's visibility at 12 hours counted from its receive, so a delay set later in
# the invocation must leave room: 12 hours less Lambda's longest timeout (15 minutes).
MAX_VISIBILITY_S = 43_200 - 900
RETRYABLE_STATUS = {408, 429}


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None  # None when no HTTP answer came back
    error: str | None = None
    retry_after_s: float | None = None
    permanent: bool = False  # no retry can help (a callback the guard refuses)

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def reason(self) -> str:
        return self.error or f"HTTP {self.status_code}"


@dataclass(frozen=True)
class Schedule:
    max_attempts: int
    base_delay_s: float
    max_delay_s: float


@dataclass(frozen=True)
class Delivered:
    status_code: int


@dataclass(frozen=True)
class RetryLater:
    delay_s: int
    reason: str


@dataclass(frozen=True)
class GiveUp:
    reason: str


Decision = Delivered | RetryLater | GiveUp


def decide(result: AttemptResult, attempt: int, schedule: Schedule, jitter: float) -> Decision:
    """The decision for attempt number `attempt` (1-based); `jitter` is a draw from [0, 1)."""
    if result.delivered:
        assert result.status_code is not None
        return Delivered(result.status_code)
    if not retryable(result) or attempt >= schedule.max_attempts:
        return GiveUp(result.reason)
    return RetryLater(backoff_delay(attempt, result.retry_after_s, schedule, jitter), result.reason)


def retryable(result: AttemptResult) -> bool:
    if result.permanent:
        return False
    code = result.status_code
    return code is None or code >= 500 or code in RETRYABLE_STATUS


def backoff_delay(
    attempt: int, retry_after_s: float | None, schedule: Schedule, jitter: float
) -> int:
    """Seconds until the next attempt: exponential with equal jitter, capped, and never sooner
    than the receiver's Retry-After."""
    ceiling = min(schedule.max_delay_s, schedule.base_delay_s * math.pow(2, attempt - 1))
    delay = ceiling / 2 + jitter * ceiling / 2
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return max(1, min(MAX_VISIBILITY_S, math.ceil(delay)))
