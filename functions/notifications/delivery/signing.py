"""Standard Webhooks signatures over `{id}.{timestamp}.{body}`, one per key of the secret.

A key is either
- symmetric, `whsec_<base64>` (the prefix optional): signs `v1,<base64 HMAC-SHA256>`; or
- an ed25519 secret key, `whsk_<base64 of its 32-byte seed>`: signs `v1a,<base64 ed25519>`,
  which receivers verify with its public key, `whpk_<base64 of 32 bytes>` (`public_key`).

The signing secret holds one or several keys, separated by whitespace, newest first: the
notifier signs with each, and `webhook-signature` carries one signature per key
(space-separated, as the specification allows). That is how both kinds are offered side by side
and how a key is rotated with an overlap (docs/webhooks.md has the procedure). Receivers reject a
timestamp more than 5 minutes away from their clock.

ed25519 comes from `cryptography`, which the Powertools v3 layer ships (requirements/lambda.in);
it is imported at the first `whsk_` key, so a function that signs only `v1` never loads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefixes, not secrets
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
TOLERANCE_S = 5 * 60  # how far a receiver accepts webhook-timestamp from its clock
ED25519_SEED_BYTES = 32


class InvalidSigningKey(ValueError):
    """A key of the signing secret that cannot sign. Never carries the key itself."""


def keys(secret: str) -> list[str]:
    """The signing keys a secret value holds (whitespace-separated, newest first)."""
    found = secret.split()
    if not found:
        raise InvalidSigningKey("the webhook signing secret holds no key")
    return found


def sign(key: str, event_id: str, timestamp: int, body: bytes) -> str:
    """One signature with one key: `v1,...` for a symmetric key, `v1a,...` for an ed25519 one."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    if key.startswith(SIGNING_KEY_PREFIX):
        return "v1a," + _b64(_ed25519_key(key).sign(signed))
    digest = hmac.new(_decode(key.removeprefix(SECRET_PREFIX), "whsec_"), signed, hashlib.sha256)
    return "v1," + _b64(digest.digest())


def signature_header(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per key of the secret, space-separated."""
    return " ".join(sign(key, event_id, timestamp, body) for key in keys(secret))


def validate(secret: str) -> None:
    """Raise InvalidSigningKey unless every key of the secret can sign (checked before an
    attempt, so a broken secret never counts against a receiver)."""
    for key in keys(secret):
        if key.startswith(SIGNING_KEY_PREFIX):
            _ed25519_key(key)
        else:
            _decode(key.removeprefix(SECRET_PREFIX), SECRET_PREFIX)


def public_key(key: str) -> str:
    """The `whpk_` public key receivers verify an ed25519 (`whsk_`) key's `v1a` signatures with."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = _ed25519_key(key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + _b64(raw)


def new_ed25519_key() -> str:
    """A fresh `whsk_` key (32 random bytes from the OS, the seed RFC 8032 defines)."""
    import secrets

    return SIGNING_KEY_PREFIX + _b64(secrets.token_bytes(ED25519_SEED_BYTES))


def new_symmetric_key() -> str:
    """A fresh `whsec_` key: 32 random bytes, as the specification recommends (24 to 64)."""
    import secrets

    return SECRET_PREFIX + _b64(secrets.token_bytes(32))


@cache
def _ed25519_key(key: str) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = _decode(key.removeprefix(SIGNING_KEY_PREFIX), SIGNING_KEY_PREFIX)
    if len(seed) != ED25519_SEED_BYTES:
        raise InvalidSigningKey(
            f"a {SIGNING_KEY_PREFIX} key must be the base64 of a 32-byte ed25519 seed, "
            f"not of {len(seed)} bytes"
        )
    return Ed25519PrivateKey.from_private_bytes(seed)


def _decode(text: str, kind: str) -> bytes:
    unpadded = text.rstrip("=")  # tolerate keys with their padding missing
    try:
        return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except binascii.Error:
        raise InvalidSigningKey(f"a {kind} key of the signing secret is not base64") from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
