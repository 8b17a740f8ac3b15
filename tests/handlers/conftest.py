"""Handlers against moto (in process): resources come from the same topology as the stack."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local.provision import Resources, provision
from infra.orders_local import sample_catalog, seed_catalog
from infra.topology import TOPOLOGY
from shared import aws as shared_aws
from shared.settings import get_settings

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Aws:
    dynamodb: Any
    sqs: Any
    resources: Resources

    def receive(self, queue: str = "orders", wait: int = 0) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.resources.queue_urls[queue],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def order_item(self, order_id: str) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(TableName="orders", Key={"orderId": {"S": order_id}})
        return found.get("Item")

    def stock(self, sku: str) -> int:
        item = self.dynamodb.get_item(TableName="products", Key={"sku": {"S": sku}})["Item"]
        return int(item["available"]["N"])

    def count(self, table: str) -> int:
        return int(self.dynamodb.scan(TableName=table, Select="COUNT")["Count"])


def _reset_caches() -> None:
    get_settings.cache_clear()
    shared_aws.dynamodb.cache_clear()
    shared_aws.sqs.cache_clear()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto with the topology's tables and queues, the sample catalog, and every function's
    resource variables set as the stack sets them."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
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
            for variable, value in resources.environment(TOPOLOGY, function).items():
                monkeypatch.setenv(variable, value)
        _reset_caches()
        yield Aws(dynamodb, sqs, resources)
    _reset_caches()
