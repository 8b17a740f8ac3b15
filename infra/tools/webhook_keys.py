"""The webhook signing secret's keys: list them, add one, remove one (`orders-ops webhook-keys`).

The secret holds whitespace-separated keys, newest first, and the notifier signs every webhook
with each (functions/notifications/delivery/signing.py): `whsec_` keys sign `v1` (HMAC),
`whsk_` keys `v1a` (ed25519). Adding a key starts an overlap and removing the old one ends it,
which is the whole rotation procedure (docs/webhooks.md). A key is named by an id, a short hash
of it, so listing the keys never shows a secret; only `add` prints the new key's material, the
public key of an ed25519 key, or an HMAC key once, for the receivers.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))
# functions/ is the Lambda code root: the key format is the notifications component's own.
from notifications.delivery import signing

Kind = Literal["ed25519", "hmac"]
# How long a notifier may keep signing with the keys it read before a change (its cache).
NOTIFIER_CACHE_MINUTES = 5


class RefusedChange(ValueError):
    """A change that would break signing: an unknown key id, or removing the last key."""


@dataclass(frozen=True)
class SigningKey:
    key_id: str  # the first 12 hex digits of the key's SHA-256: names it, reveals nothing
    version: str  # the signature it makes: v1 (HMAC), v1a (ed25519), or "invalid" (none)
    public_key: str | None  # what receivers verify a v1a signature with

    def to_json(self) -> dict[str, Any]:
        return {"id": self.key_id, "version": self.version, "publicKey": self.public_key}


def describe(key: str) -> SigningKey:
    key_id = hashlib.sha256(key.encode()).hexdigest()[:12]
    try:
        signing.validate(key)
    except signing.InvalidSigningKey:  # listed, so that it can be removed by its id
        return SigningKey(key_id, "invalid", None)
    if key.startswith(signing.SIGNING_KEY_PREFIX):
        return SigningKey(key_id, "v1a", signing.public_key(key))
    return SigningKey(key_id, "v1", None)


def listed(secretsmanager: Any, secret_id: str) -> list[SigningKey]:
    """The secret's keys, newest first."""
    return [describe(key) for key in signing.keys(_value(secretsmanager, secret_id))]


def add(secretsmanager: Any, secret_id: str, kind: Kind) -> tuple[str, SigningKey]:
    """A new key, put first: the notifiers sign with it as well within their cache's time."""
    key = signing.new_ed25519_key() if kind == "ed25519" else signing.new_symmetric_key()
    current = _value(secretsmanager, secret_id).split()
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=" ".join([key, *current]))
    return key, describe(key)


def remove(secretsmanager: Any, secret_id: str, key_id: str) -> SigningKey:
    """Drop the key `key_id` names; the last key cannot go (nothing would sign)."""
    current = signing.keys(_value(secretsmanager, secret_id))
    matching = [key for key in current if describe(key).key_id == key_id]
    if not matching:
        known = ", ".join(describe(key).key_id for key in current)
        raise RefusedChange(f"no key {key_id!r} in the signing secret (its keys: {known})")
    if len(current) == 1:
        raise RefusedChange(f"{key_id} is the only key: add its successor first")
    kept = [key for key in current if key not in matching]
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=" ".join(kept))
    return describe(matching[0])


def _value(secretsmanager: Any, secret_id: str) -> str:
    return str(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])
