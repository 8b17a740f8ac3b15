"""One HTTP attempt to a vetted callback, signed with Standard Webhooks headers.

One attempt, never more: no redirects followed, no transport retries, short connect and read
timeouts. Retrying is the queue's job (see notifications.delivery.decide).
"""

from __future__ import annotations

import concurrent.futures
import time
from email.utils import parsedate_to_datetime

import urllib3
from urllib3.exceptions import HTTPError

from notifications.delivery.decide import MAX_VISIBILITY_S, AttemptResult
from notifications.delivery.signing import sign
from shared.ssrf import CallbackTarget

USER_AGENT = "AsyncOrders-Webhooks/1.0"
RETRY_AFTER_CAP_S = float(MAX_VISIBILITY_S)  # the longest a message can be hidden for


def post(
    target: CallbackTarget,
    event_id: str,
    body: bytes,
    secret: str,
    connect_timeout_s: float,
    read_timeout_s: float,
) -> AttemptResult:
    """POST the signed body to the vetted address, presenting the callback's host name.

    The whole attempt has a deadline (connect + read timeouts): a receiver that trickles its
    answer byte by byte cannot hold the notifier past it.
    """
    deadline_s = connect_timeout_s + read_timeout_s
    attempt = _ATTEMPTS.submit(
        _post, target, event_id, body, secret, connect_timeout_s, read_timeout_s
    )
    try:
        return attempt.result(timeout=deadline_s)
    except concurrent.futures.TimeoutError:
        # the stray request ends at its own socket timeouts; nothing waits for it
        return AttemptResult(
            None, error=f"TimeoutError: no complete answer within {deadline_s:g} s"
        )


# A stray over-deadline attempt must not block the next one: a few spare threads.
_ATTEMPTS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook")


def _post(
    target: CallbackTarget,
    event_id: str,
    body: bytes,
    secret: str,
    connect_timeout_s: float,
    read_timeout_s: float,
) -> AttemptResult:
    timestamp = int(time.time())
    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host  # an IPv6 literal
    host_header = host if target.port == default_port else f"{host}:{target.port}"
    headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, event_id, timestamp, body),
    }
    timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=timeout, retries=False, maxsize=1
        )
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers=headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            response.read(64 * 1024)  # a bounded read: we only need the status
        finally:
            response.release_conn()
    except HTTPError as error:
        return AttemptResult(None, error=_describe(error))
    finally:
        pool.close()
    retryable = response.status >= 500 or response.status in (408, 429)
    retry_after = _retry_after(response.headers.get("Retry-After")) if retryable else None
    return AttemptResult(response.status, retry_after_s=retry_after)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), if it has a usable one."""
    if not value:
        return None
    value = value.strip()
    try:
        if value.isascii() and value.isdigit():
            seconds = float(value)
        else:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_CAP_S)


def _describe(error: HTTPError) -> str:
    kind = type(error).__name__
    reason = getattr(error, "reason", None) or error
    return f"{kind}: {reason}"[:300]
