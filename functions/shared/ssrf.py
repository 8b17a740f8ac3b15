"""The SSRF guard for callback URLs: where the system may send webhooks, and where never.

A callback must be https (plain http only to loopback, only in local mode). Its host is
resolved and refused when any address is loopback (outside local mode), private, link-local
(the instance metadata address 169.254.169.254 included, always), multicast, reserved or
otherwise not globally routable. In local mode a loopback callback must also use one of the
ports in WEBHOOK_LOCAL_ALLOWED_PORTS when the local runtime sets it (its built-in receiver, ports
its user allows), so a callback never reaches the moto server. It is checked when the order is
placed and again at every delivery, and delivery connects to the address that was checked (DNS can change in between).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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
    host: str
    port: int
    path: str  # path and query, never empty
    address: str


def vet(url: str, local_mode: bool) -> CallbackTarget:
    """Resolve and check `url`; raises UnsafeCallback when the system must not call it."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise UnsafeCallback("the callback URL must use https")
    if parts.username or parts.password:
        raise UnsafeCallback("the callback URL must not carry credentials")
    host = parts.hostname
    if not host:
        raise UnsafeCallback("the callback URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeCallback("the callback URL has an invalid port") from error
    addresses = _resolve(host, port)
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


def _resolve(host: str, port: int) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise CallbackUnresolvable(f"the callback host {host} does not resolve") from error
    addresses = list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )
    if not addresses:
        raise CallbackUnresolvable(f"the callback host {host} does not resolve")
    return addresses
