"""shared.aws: one botocore session for every client, and no boto3 on the functions' path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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


def test_the_functions_clients_load_without_boto3() -> None:
    """boto3 would add its S3 transfer manager and resource layer to every cold start."""
    probe = (
        "import sys; import shared.aws, shared.batch, orders.adapters.store; "
        "shared.aws.dynamodb(); shared.aws.sqs(); "
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
