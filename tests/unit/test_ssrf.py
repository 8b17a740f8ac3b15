"""The SSRF guard: where webhooks may go, and where never."""

from __future__ import annotations

import pytest

from shared.ssrf import CallbackUnresolvable, UnsafeCallback, vet


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/",
        "https://[fd00:ec2::254]/",
        "https://169.254.10.1/",
        "https://10.0.0.8/hook",
        "https://172.16.4.4/hook",
        "https://192.168.1.20/hook",
        "https://100.64.0.1/hook",
        "https://[fc00::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://224.0.0.1/hook",
        "https://240.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[fec0::1]/hook",
        "https://[2002:a9fe:a9fe::1]/hook",
        "https://[2001:0:4136:e378:8000:63bf:f5fe:fdfe]/hook",
    ],
)
def test_non_public_addresses_are_refused_even_in_local_mode(url: str) -> None:
    with pytest.raises(UnsafeCallback):
        vet(url, local_mode=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "http://127.0.0.1:3000/hook",
        "https://[::1]/",
        "https://localhost/",
    ],
)
def test_loopback_is_refused_outside_local_mode(url: str) -> None:
    with pytest.raises(UnsafeCallback, match="loopback"):
        vet(url, local_mode=False)


def test_loopback_over_http_is_allowed_only_in_local_mode() -> None:
    target = vet("http://127.0.0.1:3000/_local/webhooks?x=1", local_mode=True)
    assert (target.scheme, target.address, target.port, target.path) == (
        "http",
        "127.0.0.1",
        3000,
        "/_local/webhooks?x=1",
    )


def test_plain_http_to_a_public_host_is_refused() -> None:
    with pytest.raises(UnsafeCallback, match="https"):
        vet("http://93.184.215.14/hook", local_mode=True)


def test_a_public_https_address_is_allowed_and_pinned() -> None:
    target = vet("https://93.184.215.14/hooks/orders", local_mode=False)
    assert (target.host, target.address, target.port, target.path) == (
        "93.184.215.14",
        "93.184.215.14",
        443,
        "/hooks/orders",
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.215.14/x", "https"),
        ("https://user:pw@93.184.215.14/x", "credentials"),
        ("https:///x", "no host"),
        ("https://no-such-host.invalid/x", "does not resolve"),
    ],
)
def test_malformed_callbacks_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeCallback, match=reason):
        vet(url, local_mode=True)


def test_a_host_that_does_not_resolve_is_a_retryable_kind_of_refusal() -> None:
    with pytest.raises(CallbackUnresolvable):
        vet("https://no-such-host.invalid/x", local_mode=False)
