"""One HTTP attempt to a vetted callback, signed with Standard Webhooks headers.

One attempt, never more: no redirects followed, no transport retries. The attempt has one
wall-clock deadline that covers everything it does (DNS, done by the caller's vetting within
it, connect, TLS, sending the request, and the answer's status line and headers): it runs in
the calling thread, and every socket operation gets what is left of the deadline as its timeout,
so a receiver that trickles its answer byte by byte is cut off when the deadline passes, not when
it stops sending. The connection is then closed: nothing of the attempt outlives it, and nothing
is queued to be sent later. The answer's body is never read: the status is the outcome.

Retrying is the queue's job (see notifications.delivery.decide).
"""

from __future__ import annotations

import io
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.client import parse_headers
from urllib.parse import quote

from notifications.delivery.decide import MAX_VISIBILITY_S, RETRY_AFTER_STATUS, AttemptResult
from shared.ssrf import CallbackTarget

USER_AGENT = "AsyncOrders-Webhooks/1.0"
RETRY_AFTER_CAP_S = float(MAX_VISIBILITY_S)  # the longest a message can be hidden for
MAX_HEAD_BYTES = 64 * 1024  # status line and headers of the answer
# what may stay as it is in a request target; anything else (non-ASCII, spaces, controls) is
# percent-encoded, so a path can never break the request line
_PATH_SAFE = "/?#[]@!$&'()*+,;=:%-._~"


class DeadlinePassed(TimeoutError):
    """The attempt's deadline passed during `phase`."""


@dataclass
class Deadline:
    """A wall-clock budget: `remaining()` is what any step may still take."""

    seconds: float
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.started or time.monotonic()

    def remaining(self, phase: str, cap: float | None = None) -> float:
        left = self.started + self.seconds - time.monotonic()
        if left <= 0:
            raise DeadlinePassed(phase)
        return left if cap is None else min(left, cap)


def post(
    target: CallbackTarget,
    body: bytes,
    headers: dict[str, str],
    deadline: Deadline,
    connect_timeout_s: float,
) -> AttemptResult:
    """POST `body` to the vetted address, presenting the callback's (ASCII) host name, within
    `deadline`; connecting (TLS included) takes at most `connect_timeout_s` of it.

    Never raises: every failure is a result with its reason (and the phase it happened in).
    """
    phase = "connect"
    sock: socket.socket | None = None
    try:
        sock = socket.create_connection(
            (target.address, target.port), timeout=deadline.remaining(phase, connect_timeout_s)
        )
        if target.scheme == "https":
            phase = "tls"
            sock.settimeout(deadline.remaining(phase, connect_timeout_s))
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
        phase = "send"
        request = _request(target, body, headers)
        sock.settimeout(deadline.remaining(phase))
        sock.sendall(request)
        phase = "answer"
        status, answer_headers = _read_head(sock, deadline)
    except DeadlinePassed as passed:
        return AttemptResult(
            None, error=f"TimeoutError: no answer within {deadline.seconds:g} s ({passed})"
        )
    except TimeoutError:
        return AttemptResult(
            None, error=f"TimeoutError: no answer within {deadline.seconds:g} s ({phase})"
        )
    except ssl.SSLError as error:
        return AttemptResult(None, error=_describe(error, phase))
    except OSError as error:
        return AttemptResult(None, error=_describe(error, phase))
    except Exception as error:
        return AttemptResult(None, error=_describe(error, phase))
    finally:
        if sock is not None:
            sock.close()
    retry_after = (
        _retry_after(answer_headers.get("retry-after")) if status in RETRY_AFTER_STATUS else None
    )
    return AttemptResult(status, retry_after_s=retry_after)


def _request(target: CallbackTarget, body: bytes, headers: dict[str, str]) -> bytes:
    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host  # an IPv6 literal
    host_header = host if target.port == default_port else f"{host}:{target.port}"
    lines = [f"POST {quote(target.path, safe=_PATH_SAFE)} HTTP/1.1", f"Host: {host_header}"]
    all_headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
    } | headers
    for name, value in all_headers.items():
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name} has a line break")
        lines.append(f"{name}: {value}")
    # headers are ASCII (ids, numbers, base64): encoding fails loudly rather than corrupting
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def _read_head(sock: socket.socket, deadline: Deadline) -> tuple[int, dict[str, str]]:
    """The final answer's status and headers; every read gets only what is left of the
    deadline, however the bytes trickle in."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > MAX_HEAD_BYTES:
                raise ValueError(f"the answer's head is over {MAX_HEAD_BYTES} bytes")
            sock.settimeout(deadline.remaining("answer"))
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("the receiver closed the connection before answering")
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        status_line, _, header_block = head.partition(b"\r\n")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            continue  # an interim answer (100 Continue, 103 Early Hints): the final one follows
        message = parse_headers(io.BytesIO(header_block + b"\r\n\r\n"))
        return status, {name.lower(): str(value) for name, value in message.items()}


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


def _describe(error: BaseException, phase: str) -> str:
    return f"{type(error).__name__}: {error} ({phase})"[:300]
