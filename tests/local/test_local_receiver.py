"""The built-in receiver of `make run` shows each delivery: headers, body, signature verdict."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from infra.local.runtime import LocalRuntime
from infra.local.webhook_receiver import PATH
from tests.local.conftest import Http, wait_until

pytestmark = pytest.mark.local


def deliveries(runtime: LocalRuntime) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{runtime.api_url}{PATH}", timeout=10) as answer:  # noqa: S310
        return list(json.loads(answer.read())["deliveries"])


def test_a_delivery_shows_its_headers_body_and_a_valid_signature(
    runtime: LocalRuntime, http: Http
) -> None:
    # Given an order whose callback is the built-in receiver
    reply = http.post(
        "/orders",
        {
            "customerId": "c-receiver",
            "items": [{"sku": "MS-002", "quantity": 1}],
            "callbackUrl": f"{runtime.api_url}{PATH}",
        },
        headers={"X-Correlation-Id": "receiver-test"},
    )
    assert reply.status == 202
    order_id = reply.body["orderId"]

    # Then GET lists the delivery as it arrived, and says the signature is valid
    wait_until(
        lambda: any(
            d["payload"]["data"]["orderId"] == order_id
            for d in deliveries(runtime)
            if "payload" in d
        ),
        60,
        "the webhook at the built-in receiver",
    )
    (delivery,) = [
        d
        for d in deliveries(runtime)
        if d.get("payload", {}).get("data", {}).get("orderId") == order_id
    ]
    assert delivery["signature"] == "valid"
    assert delivery["headers"]["webhook-id"] == delivery["webhookId"]
    # make run's default secret holds an ed25519 and an HMAC key: one signature each, both valid
    versions = [s.split(",")[0] for s in delivery["headers"]["webhook-signature"].split(" ")]
    assert versions == ["v1a", "v1"]
    assert delivery["verified"] == ["v1", "v1a"]
    assert json.loads(delivery["body"]) == delivery["payload"]


def test_a_forged_delivery_is_refused_and_shown_with_why(runtime: LocalRuntime) -> None:
    forged = urllib.request.Request(  # noqa: S310 - the local runtime
        f"{runtime.api_url}{PATH}",
        data=b'{"type": "order.confirmed"}',
        method="POST",
        headers={
            "Content-Type": "application/json",
            "webhook-id": "evt_forged",
            "webhook-timestamp": "1",
            "webhook-signature": "v1,AAAA",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)  # noqa: S310
    assert refused.value.code == 401

    (shown,) = [d for d in deliveries(runtime) if d["webhookId"] == "evt_forged"]
    assert shown["signature"].startswith("refused: ")
    assert shown["body"] == '{"type": "order.confirmed"}'
    assert "payload" not in shown
