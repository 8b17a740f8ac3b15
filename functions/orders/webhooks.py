"""Webhook I/O: Standard Webhooks signatures and one HTTP attempt to a vetted callback.

One attempt, never more: no redirects followed, no transport retries, short connect and read
timeouts. Retrying is the queue's job (see orders.notifications).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import urllib3
from urllib3.exceptions import HTTPError

from orders.callbacks import CallbackTarget

USER_AGENT = "AsyncOrders-Webhooks/1.0"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None  # None when no HTTP answer came back
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the base64 secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")  # tolerate unpadded keys
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def post(
    target: CallbackTarget,
    event_id: str,
    body: bytes,
    secret: str,
    connect_timeout_s: float,
    read_timeout_s: float,
) -> AttemptResult:
    """POST the signed body to the vetted address, presenting the callback's host name."""
    timestamp = int(time.time())
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
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
    return AttemptResult(
        response.status, retry_after_s=_retry_after(response.headers.get("Retry-After"))
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), if it has a usable one."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _describe(error: HTTPError) -> str:
    kind = type(error).__name__
    reason = getattr(error, "reason", None) or error
    return f"{kind}: {reason}"[:300]
