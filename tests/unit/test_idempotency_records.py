"""orders.adapters.idempotency_records: who may run a keyed request, on moto's DynamoDB.

The handler tests (tests/handlers/test_idempotency.py) show the API's answers; these pin the
record's rules one by one, including the states a test of whole requests rarely reaches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orders.adapters import idempotency_records
from orders.adapters.idempotency_records import IdempotencyRecords
from orders.domain.errors import IdempotencyKeyReused, RequestInProgress
from shared import aws
from tests.conftest import fake_aws_credentials

WINDOW_S = 24 * 3600
KEY, BODY, OTHER_BODY = '["client-1","key-1"]', "fingerprint-1", "fingerprint-2"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_credentials(monkeypatch)
    aws.dynamodb.cache_clear()
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb
    aws.dynamodb.cache_clear()


@pytest.fixture
def records(client: Any) -> IdempotencyRecords:
    return IdempotencyRecords("idempotency", WINDOW_S)


def running_until() -> int:
    return int(time.time() * 1000) + 30_000


def the_record(client: Any) -> dict[str, Any]:
    (item,) = client.scan(TableName="idempotency")["Items"]
    return dict(item)


def test_the_first_request_runs_and_holds_the_key(records: IdempotencyRecords, client: Any) -> None:
    deadline = running_until()
    assert records.claim(KEY, BODY, deadline) is None
    record = the_record(client)
    assert record["status"] == {"S": "INPROGRESS"}
    assert record["validation"] == {"S": BODY}
    assert record["in_progress_expiration"] == {"N": str(deadline)}
    assert abs(int(record["expiration"]["N"]) - (time.time() + WINDOW_S)) < 60
    assert KEY not in record["id"]["S"]  # a client's key is never a table key as written


def test_while_it_runs_the_same_body_waits_and_another_is_refused(
    records: IdempotencyRecords,
) -> None:
    records.claim(KEY, BODY, running_until())
    with pytest.raises(RequestInProgress):
        records.claim(KEY, BODY, running_until())
    with pytest.raises(IdempotencyKeyReused):
        records.claim(KEY, OTHER_BODY, running_until())


def test_once_finished_the_same_body_gets_the_first_answer(
    records: IdempotencyRecords, client: Any
) -> None:
    records.claim(KEY, BODY, running_until())
    records.complete(KEY, '{"orderId":"o-1"}')
    assert records.claim(KEY, BODY, running_until()) == '{"orderId":"o-1"}'
    with pytest.raises(IdempotencyKeyReused):
        records.claim(KEY, OTHER_BODY, running_until())
    assert the_record(client)["status"] == {"S": "COMPLETED"}


def test_a_request_that_died_frees_its_key_at_its_deadline(records: IdempotencyRecords) -> None:
    records.claim(KEY, BODY, int(time.time() * 1000) - 1)  # its invocation has ended
    assert records.claim(KEY, BODY, running_until()) is None
    with pytest.raises(RequestInProgress):
        records.claim(KEY, BODY, running_until())


def test_a_released_key_runs_again(records: IdempotencyRecords, client: Any) -> None:
    records.claim(KEY, BODY, running_until())
    records.release(KEY)
    assert client.scan(TableName="idempotency")["Items"] == []
    assert records.claim(KEY, OTHER_BODY, running_until()) is None


def test_a_record_past_its_window_is_a_new_key(records: IdempotencyRecords, client: Any) -> None:
    """DynamoDB's TTL deletes expired items within days, not at once: expired means gone."""
    records.claim(KEY, BODY, running_until())
    records.complete(KEY, '{"orderId":"o-1"}')
    client.update_item(
        TableName="idempotency",
        Key={"id": the_record(client)["id"]},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert records.claim(KEY, OTHER_BODY, running_until()) is None


def test_without_the_old_item_in_the_refusal_the_record_is_read(
    records: IdempotencyRecords,
) -> None:
    """ALL_OLD on a failed condition is recent (2023); where it is missing, read the record."""
    records.claim(KEY, BODY, running_until())
    records.complete(KEY, '{"orderId":"o-1"}')

    def strip_old_item(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("Item", None)

    aws.dynamodb().meta.events.register("after-call.dynamodb.PutItem", strip_old_item)
    assert records.claim(KEY, BODY, running_until()) == '{"orderId":"o-1"}'
    with pytest.raises(IdempotencyKeyReused):
        records.claim(KEY, OTHER_BODY, running_until())


def test_a_failed_completion_or_release_is_logged_not_raised(
    records: IdempotencyRecords, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The order's answer (or the request's own error) is the truth; the claim lapses."""
    records.claim(KEY, BODY, running_until())
    monkeypatch.setattr(records, "table_name", "no-such-table")
    records.complete(KEY, '{"orderId":"o-1"}')
    records.release(KEY)
    assert [r.getMessage() for r in caplog.records if r.name == idempotency_records.__name__] == [
        "idempotency record not completed; its claim will lapse",
        "idempotency record not released; its claim will lapse",
    ]
