"""shared.aws: one botocore session for every client, and the signing secret read at most
every five minutes per execution environment."""

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


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_credentials(monkeypatch)
    with mock_aws():
        aws.secretsmanager.cache_clear()
        aws.forget_secrets()
        client = boto3.client("secretsmanager")
        client.create_secret(Name="signing", SecretString="first")
        yield client
    aws.secretsmanager.cache_clear()
    aws.forget_secrets()


def test_a_secret_is_read_again_once_five_minutes_old(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("shared.aws.time.monotonic", lambda: now[0])
    assert aws.secret_value("signing") == "first"

    secretsmanager.put_secret_value(SecretId="signing", SecretString="rotated")
    now[0] += aws.SECRET_MAX_AGE_S - 1
    assert aws.secret_value("signing") == "first"  # kept: no call to Secrets Manager

    now[0] += 1
    assert aws.secret_value("signing") == "rotated"


def test_every_client_comes_from_the_one_session(secretsmanager: Any) -> None:
    aws.dynamodb.cache_clear()
    aws.sqs.cache_clear()
    try:
        clients: tuple[Any, ...] = (aws.dynamodb(), aws.sqs(), aws.secretsmanager())
        loaders = {id(client._loader) for client in clients}
        assert loaders == {id(aws.session().get_component("data_loader"))}
    finally:
        aws.dynamodb.cache_clear()
        aws.sqs.cache_clear()


def test_the_functions_clients_load_without_boto3() -> None:
    """boto3 would add its S3 transfer manager and resource layer to every cold start."""
    probe = (
        "import sys; import shared.aws, shared.batch, orders.adapters.store; "
        "shared.aws.dynamodb(); shared.aws.sqs(); shared.aws.secretsmanager(); "
        "print('boto3' in sys.modules)"
    )
    answer = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe],
        cwd=FUNCTIONS,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(FUNCTIONS)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.strip() == "False"
