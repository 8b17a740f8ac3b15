"""A webhook receiver for the local runtime: verifies each delivery with the Standard Webhooks
reference library and logs it, so `make run` shows the whole loop end to end.

    POST /_local/webhooks   verify and record a delivery (204, or 401 when the signature is bad)
    GET  /_local/webhooks   every delivery received so far, newest last: its headers, its body
                            and the signature's verdict (`valid`, or why it was refused)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from infra.local.gateway import GatewayRequestHandler

PATH = "/_local/webhooks"


class WebhookReceiver:
    def __init__(self, secret: str, log: Callable[[str], None]) -> None:
        self.verifier = Webhook(secret)
        self.log = log
        self.deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def verify(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """The verified payload; raises WebhookVerificationError for a bad or stale signature."""
        payload: dict[str, Any] = self.verifier.verify(body, headers)
        return payload

    def handle(self, request: GatewayRequestHandler) -> None:
        if request.command == "GET":
            with self._lock:
                request.send_json(200, {"deliveries": list(self.deliveries)})
            return
        if request.command != "POST":
            request.send_problem(405, "method-not-allowed", "Method not allowed")
            return
        body = request.read_body()
        if body is None:
            return
        headers = {name.lower(): value for name, value in request.headers.items()}
        delivery: dict[str, Any] = {
            "webhookId": headers.get("webhook-id"),
            "receivedAt": datetime.now(UTC).isoformat(),
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
        }
        try:
            payload = self.verify(body, headers)
        except WebhookVerificationError as error:
            delivery["signature"] = f"refused: {error}"
            with self._lock:
                self.deliveries.append(delivery)
            self.log(f"REJECTED delivery {headers.get('webhook-id')}: {error}")
            request.send_problem(401, "invalid-signature", "Invalid webhook signature")
            return
        delivery |= {"signature": "valid", "payload": payload}
        with self._lock:
            self.deliveries.append(delivery)
        self.log(
            f"verified {payload.get('type')} {delivery['webhookId']} for order "
            f"{payload.get('data', {}).get('orderId')}: {json.dumps(payload)[:200]}"
        )
        request.send_response(204)
        request.send_header("Content-Length", "0")
        request.end_headers()
