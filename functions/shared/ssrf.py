"""The SSRF guard for callback URLs: where the system may send webhooks, and where never.

A callback must be https (plain http only to loopback, only in local mode). Its host is
resolved and refused when any address is loopback (outside local mode), private, link-local
(the instance metadata address 169.254.169.254 included, always), multicast, reserved or
otherwise not globally routable. In local mode a loopback callback must also use one of the
ports in WEBHOOK_LOCAL_ALLOWED_PORTS when the local runtime sets it (its built-in receiver, ports
its user allows), so a callback never reaches the moto server. It is checked when the order is
placed and again at every delivery, and delivery connects to the address that was checked (DNS
can change in between).

Resolution has a deadline (short at placement; inside the attempt's own at delivery): a slow
resolver fails the check instead of stretching it. Internationalized host names are converted
to their ASCII form (IDNA, punycode), which is what is resolved and what delivery presents in the
Host header and the TLS server name; a name that has no valid ASCII form is refused.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# How long placement waits for DNS: well inside the API's own deadline.
PLACEMENT_RESOLVE_TIMEOUT_S = 2.0

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


class UnsafeCallback(ValueError):
    """The callback URL may not be called; the message says why."""


class CallbackUnresolvable(UnsafeCallback):
    """The host does not resolve right now: refused at placement, retried at delivery."""


@dataclass(frozen=True)
class CallbackTarget:
    """A vetted callback: connect to `address`, present `host` (SNI, Host header)."""

    scheme: str
    host: str  # ASCII: an internationalized name in its IDNA (punycode) form
    port: int
    path: str  # path and query, never empty
    address: str


def vet(
    url: str, local_mode: bool, resolve_timeout_s: float = PLACEMENT_RESOLVE_TIMEOUT_S
) -> CallbackTarget:
    """Resolve (within `resolve_timeout_s`) and check `url`; raises UnsafeCallback when the
    system must not call it, CallbackUnresolvable when its host does not resolve in time."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise UnsafeCallback("the callback URL must use https")
    if parts.username or parts.password:
        raise UnsafeCallback("the callback URL must not carry credentials")
    host = parts.hostname
    if not host:
        raise UnsafeCallback("the callback URL has no host")
    host = ascii_host(host)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeCallback("the callback URL has an invalid port") from error
    addresses = _resolve(host, port, resolve_timeout_s)
    for address in addresses:
        _check_address(address, local_mode)
    allowed_ports = os.environ.get("WEBHOOK_LOCAL_ALLOWED_PORTS")
    if local_mode and allowed_ports is not None and str(port) not in allowed_ports.split(","):
        plain = [getattr(a, "ipv4_mapped", None) or a for a in addresses]
        if any(a.is_loopback for a in plain):
            raise UnsafeCallback(f"loopback port {port} is not an allowed local callback port")
    if parts.scheme == "http" and not (local_mode and all(a.is_loopback for a in addresses)):
        raise UnsafeCallback("the callback URL must use https")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return CallbackTarget(parts.scheme, host, port, path, str(addresses[0]))


def _check_address(address: IpAddress, local_mode: bool) -> None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            raise UnsafeCallback(f"{address} is a site-local address")
        # IPv4 carried inside IPv6 (mapped, 6to4, Teredo) is judged as the IPv4 address it carries
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            address = embedded
    if address in METADATA_ADDRESSES or address.is_link_local:
        raise UnsafeCallback(f"{address} is a link-local address")
    if address.is_loopback:
        if local_mode:
            return
        raise UnsafeCallback(f"{address} is a loopback address")
    if address.is_multicast:
        raise UnsafeCallback(f"{address} is a multicast address")
    if address.is_private or address.is_reserved or address.is_unspecified or not address.is_global:
        raise UnsafeCallback(f"{address} is not a public address")


def ascii_host(host: str) -> str:
    """The host as DNS, the Host header and SNI carry it: an IDN in punycode (IDNA 2003, the
    standard library's codec), anything already ASCII unchanged."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise UnsafeCallback("the callback host is not a valid internationalized name") from error


def _resolve(host: str, port: int, timeout_s: float) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = _getaddrinfo(host, port, timeout_s)
    addresses = list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )
    if not addresses:
        raise CallbackUnresolvable(f"the callback host {host} does not resolve")
    return addresses


AddrInfo = list[tuple[Any, ...]]


def _getaddrinfo(host: str, port: int, timeout_s: float) -> AddrInfo:
    """getaddrinfo with a deadline. The C resolver cannot be interrupted, so it runs in a daemon
    thread of its own; past the deadline nothing waits for it and its answer is dropped (it
    only ever resolves: it never connects or sends anything)."""
    outcome: list[AddrInfo | BaseException] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome.append(list(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
        except (OSError, UnicodeError) as error:
            outcome.append(error)
        finally:
            done.set()

    threading.Thread(target=lookup, name="resolve", daemon=True).start()
    if not done.wait(max(0.0, timeout_s)):
        raise CallbackUnresolvable(
            f"the callback host {host} did not resolve within {timeout_s:g} s"
        )
    (answer,) = outcome
    if isinstance(answer, BaseException):
        raise CallbackUnresolvable(f"the callback host {host} does not resolve") from answer
    return answer
