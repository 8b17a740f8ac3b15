"""shared.aws: one botocore session for every client, and no boto3 on the functions' path."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared import aws
from tests.conftest import fake_aws_credentials

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def test_every_client_comes_from_the_one_session(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch)
    aws.dynamodb.cache_clear()
    aws.sqs.cache_clear()
    try:
        clients: tuple[Any, ...] = (aws.dynamodb(), aws.sqs())
        loaders = {id(client._loader) for client in clients}
        assert loaders == {id(aws.session().get_component("data_loader"))}
    finally:
        aws.dynamodb.cache_clear()
        aws.sqs.cache_clear()


@pytest.mark.parametrize(
    "path",
    [
        # every function's clients
        "import shared.aws, shared.batch, orders.adapters.store; "
        "shared.aws.dynamodb(); shared.aws.sqs()",
        # the API's Idempotency-Key records (Powertools idempotency imports boto3)
        "import orders.api.idempotency, orders.adapters.idempotency_records",
        # the notifier's circuits and secret (Powertools' persistence and parameters do)
        "import shared.aws, notifications.circuit, notifications.circuit_state; "
        "from aws_lambda_powertools.utilities import circuit_breaker; "
        "notifications.circuit._persistence('deliveries'); shared.aws._secrets_manager()",
    ],
    ids=["clients", "idempotency", "circuits and secret"],
)
def test_the_functions_paths_load_without_boto3(path: str) -> None:
    """boto3 would add its S3 transfer manager and resource layer to the cold start."""
    answer = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", f"import sys; {path}; print('boto3' in sys.modules)"],
        cwd=FUNCTIONS,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(FUNCTIONS)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.strip() == "False"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_credentials(monkeypatch)
    aws.forget_secrets()
    with mock_aws():
        yield boto3.client("secretsmanager")
    aws.forget_secrets()


def test_a_secret_is_read_once_per_five_minutes(
    secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(aws, "_clock", lambda: now[0])
    secrets.create_secret(Name="signing", SecretString="key-1")
    assert aws.secret_value("signing") == "key-1"
    secrets.put_secret_value(SecretId="signing", SecretString="key-2")
    now[0] += aws.SECRET_MAX_AGE_S - 1
    assert aws.secret_value("signing") == "key-1"  # cached
    now[0] += 1
    assert aws.secret_value("signing") == "key-2"  # read again
    secrets.put_secret_value(SecretId="signing", SecretString="key-3")
    aws.forget_secrets()
    assert aws.secret_value("signing") == "key-3"


def test_a_binary_secret_is_read_as_text(secrets: Any) -> None:
    secrets.create_secret(Name="binary", SecretBinary=b"key-1 key-0")
    assert aws.secret_value("binary") == "key-1 key-0"
