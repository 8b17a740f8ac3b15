"""A webhook receiver for the local runtime: verifies each delivery as receivers do and logs
it, so `make run` shows the whole loop end to end.

    POST /_local/webhooks   verify and record a delivery (204, or 401 when the signature is bad)
    GET  /_local/webhooks   every delivery received so far, newest last: its headers, its body
                            and the signature's verdict (`valid`, or why it was refused)

The receiver holds the keys of the signing secret it was started with and accepts a delivery
that one of them verifies, as a receiver holding any of those keys would: each `whsec_` key
through the Standard Webhooks reference library (`v1`, HMAC), each `whsk_` key through its public
key (`v1a`, ed25519, which the reference Python library does not verify), with the same header
and 5-minute timestamp checks (`verify_v1a`). Each delivery lists which versions verified.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from infra.local.gateway import GatewayRequestHandler

PATH = "/_local/webhooks"
TOLERANCE_S = 5 * 60  # Standard Webhooks' timestamp tolerance, the reference library's


def public_key_of(signing_key: str) -> str:
    """The `whpk_<base64>` public key of a `whsk_<base64 seed>` signing key."""
    seed = _b64decode(signing_key.removeprefix("whsk_"))
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return "whpk_" + base64.b64encode(raw.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def describe_signing_keys(secret: str) -> str:
    """What a receiver needs of each key: the `whsec_` key itself (v1), or a `whsk_` key's
    public key (v1a); a whitespace-separated secret names one per line."""
    return "\n                 ".join(
        f"v1a (ed25519), public key {public_key_of(key)}"
        if key.startswith("whsk_")
        else f"v1 (HMAC) with {key}"
        for key in secret.split()
    )


def verify_v1a(
    public_key: str, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> dict[str, Any]:
    """A Standard Webhooks `v1a` (ed25519) verification with a `whpk_` public key: the payload,
    or WebhookVerificationError as the reference verifier raises it for `v1`."""
    headers = {name.lower(): value for name, value in headers.items()}
    try:
        event_id = headers["webhook-id"]
        timestamp = headers["webhook-timestamp"]
        signatures = headers["webhook-signature"]
    except KeyError:
        raise WebhookVerificationError("Missing required headers") from None
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("Invalid Signature Headers") from None
    now = time.time() if now is None else now
    if sent_at < now - TOLERANCE_S:
        raise WebhookVerificationError("Message timestamp too old")
    if sent_at > now + TOLERANCE_S:
        raise WebhookVerificationError("Message timestamp too new")
    verifier = Ed25519PublicKey.from_public_bytes(_b64decode(public_key.removeprefix("whpk_")))
    signed = f"{event_id}.{timestamp}.".encode() + body
    for versioned in signatures.split(" "):
        version, _, signature = versioned.partition(",")
        if version != "v1a":
            continue
        try:
            verifier.verify(base64.b64decode(signature, validate=True), signed)
        except (InvalidSignature, binascii.Error, ValueError):
            continue
        payload: dict[str, Any] = json.loads(body)
        return payload
    raise WebhookVerificationError("No matching signature found")


class WebhookReceiver:
    def __init__(self, secret: str, log: Callable[[str], None]) -> None:
        keys = secret.split()
        self.verifiers: list[tuple[str, Callable[[bytes, dict[str, str]], Any]]] = [
            ("v1a", _v1a_verifier(public_key_of(key)))
            if key.startswith("whsk_")
            else ("v1", Webhook(key).verify)
            for key in keys
        ]
        self.log = log
        self.deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def verify(self, body: bytes, headers: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
        """The payload and the versions whose signature verified with one of the keys; raises
        WebhookVerificationError (each key's reason) when none did."""
        payload: dict[str, Any] = {}
        verified: set[str] = set()
        refusals: list[str] = []
        for version, verify in self.verifiers:
            try:
                payload = verify(body, headers)
            except WebhookVerificationError as error:
                refusals.append(f"{version}: {error}")
            else:
                verified.add(version)
        if not verified:
            raise WebhookVerificationError("; ".join(refusals))
        return payload, sorted(verified)

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
            payload, verified = self.verify(body, headers)
        except WebhookVerificationError as error:
            delivery["signature"] = f"refused: {error}"
            with self._lock:
                self.deliveries.append(delivery)
            self.log(f"REJECTED delivery {headers.get('webhook-id')}: {error}")
            request.send_problem(401, "invalid-signature", "Invalid webhook signature")
            return
        delivery |= {"signature": "valid", "verified": verified, "payload": payload}
        with self._lock:
            self.deliveries.append(delivery)
        self.log(
            f"verified {payload.get('type')} {delivery['webhookId']} for order "
            f"{payload.get('data', {}).get('orderId')}: {json.dumps(payload)[:200]}"
        )
        request.send_response(204)
        request.send_header("Content-Length", "0")
        request.end_headers()


def _v1a_verifier(public_key: str) -> Callable[[bytes, dict[str, str]], Any]:
    return lambda body, headers: verify_v1a(public_key, body, headers)


def _b64decode(text: str) -> bytes:
    """Base64 with its padding optional, as the notifier reads keys."""
    unpadded = text.rstrip("=")
    return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
