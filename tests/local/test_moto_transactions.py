"""The local moto server's TransactWriteItems: all or nothing, at the cost of its own items.

moto deep-copied every table a transaction names (infra/local/moto_server.py); the server now
copies only the transaction's items. These tests hold the outcome to DynamoDB's: every write of
a transaction lands, or none does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.table import Table

from infra.local.moto_server import _transactions_copy_only_their_items

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's default account


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # the server's patch, undone after the test (this process's other tests use plain moto)
    monkeypatch.setattr(
        DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items
    )
    monkeypatch.setattr(dynamodb_models, "copy", vars(dynamodb_models)["copy"])
    _transactions_copy_only_their_items()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="lines",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(50):
            client.put_item(TableName="orders", Item={"pk": {"S": f"o{n}"}, "stock": {"N": "5"}})
        client.put_item(
            TableName="lines",
            Item={"pk": {"S": "o1"}, "sk": {"S": "a"}, "note": {"S": "first"}},
        )
        yield client


def _everything(client: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        table: sorted(
            client.scan(TableName=table, ConsistentRead=True)["Items"],
            key=lambda item: (item["pk"]["S"], item.get("sk", {}).get("S", "")),
        )
        for table in ("orders", "lines")
    }


def _writes(stock_above: int) -> list[dict[str, Any]]:
    """A Put, an Update of an item with a range key, a Delete, and an Update of o3 (stock 5)
    conditioned on its stock being above `stock_above`."""
    return [
        {"Put": {"TableName": "orders", "Item": {"pk": {"S": "new"}, "stock": {"N": "1"}}}},
        {
            "Update": {
                "TableName": "lines",
                "Key": {"pk": {"S": "o1"}, "sk": {"S": "a"}},
                "UpdateExpression": "SET note = :note",
                "ExpressionAttributeValues": {":note": {"S": "changed"}},
            }
        },
        {"Delete": {"TableName": "orders", "Key": {"pk": {"S": "o7"}}}},
        {
            "Update": {
                "TableName": "orders",
                "Key": {"pk": {"S": "o3"}},
                "UpdateExpression": "SET stock = stock - :one",
                "ConditionExpression": "stock > :floor",
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":floor": {"N": str(stock_above)},
                },
            }
        },
    ]


def test_a_transaction_whose_last_condition_fails_changes_nothing(dynamodb: Any) -> None:
    before = _everything(dynamodb)
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=_writes(stock_above=5))
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in refused.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _everything(dynamodb) == before


def test_a_transaction_whose_conditions_hold_applies_every_write(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=_writes(stock_above=1))

    after = _everything(dynamodb)
    orders = {item["pk"]["S"]: item for item in after["orders"]}
    assert orders["new"]["stock"] == {"N": "1"}
    assert "o7" not in orders
    assert orders["o3"]["stock"] == {"N": "4"}
    assert after["lines"] == [{"pk": {"S": "o1"}, "sk": {"S": "a"}, "note": {"S": "changed"}}]


def test_a_transaction_writing_one_item_twice_is_refused_and_changes_nothing(
    dynamodb: Any,
) -> None:
    before = _everything(dynamodb)
    delete_the_put = {"Delete": {"TableName": "orders", "Key": {"pk": {"S": "new"}}}}
    twice = [*_writes(stock_above=1)[:2], delete_the_put]
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=twice)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _everything(dynamodb) == before


def test_a_transaction_copies_its_own_items_not_the_tables(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What kept the server busy: each transaction copied every item of every table it named."""
    copied: list[type] = []
    deepcopy = copy.deepcopy

    def counting(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if memo is None:  # a top-level copy, not one of its parts
            copied.append(type(value))
        return deepcopy(value, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    tables = dynamodb_backends[ACCOUNT][REGION].tables
    orders = tables["orders"]

    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=_writes(stock_above=5))
    dynamodb.transact_write_items(TransactItems=_writes(stock_above=1))

    assert Table not in copied
    assert tables["orders"] is orders
    assert len(copied) <= 2 * 2 * len(_writes(1)), copied  # each write's item, at most twice
