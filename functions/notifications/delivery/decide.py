"""What one attempt's result means: delivered, retry at a later time, or give up. Pure: no I/O.

2xx is delivered. 408, 429, 5xx, timeouts and connection errors are retried with exponential
backoff and equal jitter until the attempts run out; 429, 502, 503 and 504 are the receiver
throttling us, and a Retry-After on 429 or 503 is honoured as the larger of it and the backoff,
capped at the backoff plus two hours. 410 Gone stops delivery for good, and so does any other
answer (other 4xx, redirects, which are never followed).

An answer also says whether the destination is healthy, for its circuit breaker: no answer,
408 and 5xx count against it, any other answer (a 4xx included) shows it is up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# SQS caps a message's visibility at 12 hours counted from its receive, so a delay set later in
# the invocation must leave room: 12 hours less Lambda's longest timeout (15 minutes).
MAX_VISIBILITY_S = 43_200 - 900
RETRYABLE_STATUS = {408, 429}
THROTTLING_STATUS = {429, 502, 503, 504}
RETRY_AFTER_STATUS = {429, 503}  # where a Retry-After is read
RETRY_AFTER_EXTRA_CAP_S = 2 * 3600  # Retry-After may push an attempt this far past the backoff


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

    @property
    def throttled(self) -> bool:
        return self.status_code in THROTTLING_STATUS

    @property
    def destination_unhealthy(self) -> bool:
        """What counts against the destination's circuit: it did not answer, or answered
        408 or 5xx. A refused callback was never asked and counts for nothing."""
        if self.permanent:
            return False
        code = self.status_code
        return code is None or code >= 500 or code == 408


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
    """Seconds until the next attempt: exponential with equal jitter, capped; a Retry-After is
    honoured as the larger of it and the backoff, at most two hours past the backoff."""
    ceiling = min(schedule.max_delay_s, schedule.base_delay_s * math.pow(2, attempt - 1))
    backoff = ceiling / 2 + jitter * ceiling / 2
    delay = backoff
    if retry_after_s is not None:
        delay = min(max(backoff, retry_after_s), backoff + RETRY_AFTER_EXTRA_CAP_S)
    return max(1, min(MAX_VISIBILITY_S, math.ceil(delay)))
