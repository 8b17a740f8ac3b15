"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per key.

The signing secret may hold several keys, separated by whitespace, newest first: during a key
rotation the notifier signs with each, and `webhook-signature` carries one signature per key
(space-separated, as the specification allows), so a receiver verifies with either key until
the old one is dropped (docs/webhooks.md has the procedure). Receivers reject a timestamp more
than 5 minutes away from their clock.

Only `v1` (HMAC) is offered: `v1a` (ed25519) needs an ed25519 implementation, and neither the
Lambda runtime nor the Powertools layer this function runs with ships one (`cryptography` is not
in them); bundling its native wheel into the asset is a cost we chose not to pay (docs/webhooks.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
TOLERANCE_S = 5 * 60  # how far a receiver accepts webhook-timestamp from its clock


def keys(secret: str) -> list[str]:
    """The signing keys a secret value holds (whitespace-separated, newest first)."""
    found = secret.split()
    if not found:
        raise ValueError("the webhook signing secret holds no key")
    return found


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the base64 secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")  # tolerate unpadded keys
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per key of the secret, space-separated."""
    return " ".join(sign(key, event_id, timestamp, body) for key in keys(secret))
