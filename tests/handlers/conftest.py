"""Handlers against moto (in process): resources come from the same topology as the stack."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from infra.local.provision import provision
from infra.orders_local import sample_catalog, seed_catalog
from infra.topology import TOPOLOGY
from shared import aws as shared_aws
from tests.conftest import fake_aws_credentials
from tests.handlers.helpers import WEBHOOK_SECRET, Aws, Receiver


def _reset_caches() -> None:
    """Clients (and the secrets they read) belong to one moto: settings need no reset, they
    are cached by the environment's values."""
    shared_aws.dynamodb.cache_clear()
    shared_aws.sqs.cache_clear()
    shared_aws.forget_secrets()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto with the topology's tables, queues and secrets, the sample catalog, and every
    function's variables set as the stack sets them."""
    fake_aws_credentials(monkeypatch)
    with mock_aws():
        dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        resources = provision(
            TOPOLOGY,
            dynamodb,
            sqs,
            boto3.client("secretsmanager"),
            {secret.name: WEBHOOK_SECRET for secret in TOPOLOGY.secrets},
        )
        seed_catalog(dynamodb, resources.table_names["products"], sample_catalog())
        for function in TOPOLOGY.functions:
            variables = resources.environment(TOPOLOGY, function)
            for variable, value in (TOPOLOGY.static_environment(function) | variables).items():
                monkeypatch.setenv(variable, value)
        _reset_caches()
        yield Aws(dynamodb, sqs, resources)
    _reset_caches()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (a free port), stopped after the test."""
    started = Receiver().start()
    try:
        yield started
    finally:
        started.stop()
