"""The key rotation procedure of docs/webhooks.md, followed with `orders-ops webhook-keys` on a
secret in moto: the deployed HMAC key, an ed25519 key added beside it, the old key removed, and
at each step which receivers verify what the notifier signs."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from infra.local.webhook_receiver import verify_v1a
from infra.tools import ops
from infra.topology import WEBHOOK_SECRET
from notifications.delivery.signing import signature_header
from tests.conftest import fake_aws_credentials

# What the stack generates: 44 alphanumeric characters, used without the `whsec_` prefix.
DEPLOYED_KEY = "Q2xvdWRGb3JtYXRpb25HZW5lcmF0ZWRLZXlPZjQ0Q2hh"
BODY = b'{"type":"order.confirmed","data":{"orderId":"o-1"}}'


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """The signing secret in moto, and a state file naming it as `make run` writes one."""
    fake_aws_credentials(monkeypatch)
    with mock_aws():
        secretsmanager = boto3.client("secretsmanager")
        arn = secretsmanager.create_secret(Name="webhook-signing", SecretString=DEPLOYED_KEY)["ARN"]
        state = tmp_path / "runtime.json"
        state.write_text(
            json.dumps(
                {
                    "endpointUrl": "http://127.0.0.1:9",  # never reached: clients are moto's
                    "region": "eu-west-1",
                    "queueUrls": {},
                    "deadLetterQueueUrls": {},
                    "secretArns": {WEBHOOK_SECRET.name: arn},
                }
            )
        )
        yield secretsmanager, state


def orders_ops(state: Path, *argv: str) -> int:
    return ops.main(
        [*argv, "--state-file", str(state)],
        make_client=lambda service, region, _endpoint: boto3.client(service, region_name=region),
    )


def deliver(secretsmanager: Any) -> dict[str, str]:
    """What the notifier sends with the secret as it is now."""
    value = secretsmanager.get_secret_value(SecretId="webhook-signing")["SecretString"]
    timestamp = int(time.time())
    return {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(value, "evt_1", timestamp, BODY),
    }


def test_the_rotation_procedure_moves_receivers_to_an_ed25519_key_without_a_gap(
    secret: tuple[Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    secretsmanager, state = secret
    old_receiver = Webhook(DEPLOYED_KEY)  # a receiver holding the deployed HMAC key

    # 1. add the new key: the notifier signs with both
    assert orders_ops(state, "webhook-keys", "add", "--ed25519") == 0
    added = capsys.readouterr().out
    public_key = re.search(r"^  (whpk_\S+)$", added, re.M)
    assert public_key is not None, added
    headers = deliver(secretsmanager)
    assert [s.split(",")[0] for s in headers["webhook-signature"].split(" ")] == ["v1a", "v1"]
    assert old_receiver.verify(BODY, headers)  # receivers not yet moved keep verifying
    assert verify_v1a(public_key.group(1), BODY, headers)  # moved ones verify with the public key

    # 2. list: both keys, newest first, and no secret shown
    assert orders_ops(state, "webhook-keys", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["version"], k["publicKey"]) for k in listed] == [
        ("v1a", public_key.group(1)),
        ("v1", None),
    ]
    assert orders_ops(state, "webhook-keys", "list") == 0
    table = capsys.readouterr().out
    assert DEPLOYED_KEY not in table
    assert "whsk_" not in table

    # 3. every receiver moved: remove the old key; only v1a is signed
    assert orders_ops(state, "webhook-keys", "remove", listed[1]["id"]) == 0
    capsys.readouterr()
    headers = deliver(secretsmanager)
    assert headers["webhook-signature"].startswith("v1a,")
    assert " " not in headers["webhook-signature"]
    assert verify_v1a(public_key.group(1), BODY, headers)
    with pytest.raises(WebhookVerificationError):
        old_receiver.verify(BODY, headers)


def test_an_hmac_key_is_shown_once_and_the_last_key_cannot_go(
    secret: tuple[Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    secretsmanager, state = secret
    assert orders_ops(state, "webhook-keys", "add", "--hmac") == 0
    new_key = re.search(r"^  (whsec_\S+)$", capsys.readouterr().out, re.M)
    assert new_key is not None
    headers = deliver(secretsmanager)
    assert Webhook(new_key.group(1)).verify(BODY, headers)
    assert Webhook(DEPLOYED_KEY).verify(BODY, headers)

    assert orders_ops(state, "webhook-keys", "list", "--json") == 0
    newest, oldest = json.loads(capsys.readouterr().out)
    assert orders_ops(state, "webhook-keys", "remove", oldest["id"]) == 0
    before = secretsmanager.get_secret_value(SecretId="webhook-signing")["SecretString"]
    capsys.readouterr()

    assert orders_ops(state, "webhook-keys", "remove", newest["id"]) == ops.EXIT_USAGE
    assert "only key" in capsys.readouterr().err
    assert orders_ops(state, "webhook-keys", "remove", "0123456789ab") == ops.EXIT_USAGE
    assert newest["id"] in capsys.readouterr().err  # the known ids are named
    assert secretsmanager.get_secret_value(SecretId="webhook-signing")["SecretString"] == before


def test_add_requires_a_kind(secret: tuple[Any, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, state = secret
    assert orders_ops(state, "webhook-keys", "add") == ops.EXIT_USAGE
    assert "--ed25519" in capsys.readouterr().err


def test_a_key_that_cannot_sign_is_listed_as_invalid_and_can_be_removed(
    secret: tuple[Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    secretsmanager, state = secret
    broken = "whsk_c2hvcnQta2V5"  # 9 bytes, not a 32-byte seed: the notifier refuses to sign
    secretsmanager.put_secret_value(
        SecretId="webhook-signing", SecretString=f"{broken} {DEPLOYED_KEY}"
    )

    assert orders_ops(state, "webhook-keys", "list") == 0
    table = capsys.readouterr().out
    assert "invalid" in table
    assert broken not in table
    assert orders_ops(state, "webhook-keys", "list", "--json") == 0
    invalid, good = json.loads(capsys.readouterr().out)
    assert (invalid["version"], good["version"]) == ("invalid", "v1")

    assert orders_ops(state, "webhook-keys", "remove", invalid["id"]) == 0
    assert secretsmanager.get_secret_value(SecretId="webhook-signing")["SecretString"] == (
        DEPLOYED_KEY
    )
