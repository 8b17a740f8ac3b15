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
from orders.adapters.idempotency_records import Answered, Claim, IdempotencyRecords
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


def claimed(records: IdempotencyRecords, deadline_ms: int | None = None) -> Claim:
    claim = records.claim(KEY, BODY, running_until() if deadline_ms is None else deadline_ms)
    assert isinstance(claim, Claim)
    return claim


def the_record(client: Any) -> dict[str, Any]:
    (item,) = client.scan(TableName="idempotency")["Items"]
    return dict(item)


def test_the_first_request_runs_and_holds_the_key(records: IdempotencyRecords, client: Any) -> None:
    deadline = running_until()
    claim = records.claim(KEY, BODY, deadline)
    assert isinstance(claim, Claim)
    record = the_record(client)
    assert record["claim_token"] == {"S": claim.token}
    assert record["status"] == {"S": "INPROGRESS"}
    assert record["validation"] == {"S": BODY}
    assert record["in_progress_expiration"] == {"N": str(deadline)}
    assert abs(int(record["expiration"]["N"]) - (time.time() + WINDOW_S)) < 60
    assert KEY not in record["id"]["S"]  # a client's key is never a table key as written


def test_while_it_runs_the_same_body_waits_and_another_is_refused(
    records: IdempotencyRecords,
) -> None:
    claimed(records)
    with pytest.raises(RequestInProgress):
        records.claim(KEY, BODY, running_until())
    with pytest.raises(IdempotencyKeyReused):
        records.claim(KEY, OTHER_BODY, running_until())


def test_once_finished_the_same_body_gets_the_first_answer(
    records: IdempotencyRecords, client: Any
) -> None:
    records.complete(claimed(records), '{"orderId":"o-1"}')
    assert records.claim(KEY, BODY, running_until()) == Answered('{"orderId":"o-1"}')
    with pytest.raises(IdempotencyKeyReused):
        records.claim(KEY, OTHER_BODY, running_until())
    assert the_record(client)["status"] == {"S": "COMPLETED"}


def test_a_request_that_died_frees_its_key_at_its_deadline(records: IdempotencyRecords) -> None:
    claimed(records, deadline_ms=int(time.time() * 1000) - 1)  # its invocation has ended
    with pytest.raises(IdempotencyKeyReused):  # it may have recorded an order for its body
        records.claim(KEY, OTHER_BODY, running_until())
    assert isinstance(records.claim(KEY, BODY, running_until()), Claim)
    with pytest.raises(RequestInProgress):
        records.claim(KEY, BODY, running_until())


def test_a_request_that_outlived_its_claim_leaves_the_next_one_alone(
    records: IdempotencyRecords, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    late = claimed(records, deadline_ms=int(time.time() * 1000) - 1)
    current = claimed(records)

    records.complete(late, '{"orderId":"o-late"}')
    records.release(late)

    record = the_record(client)
    assert (record["status"], record["claim_token"]) == ({"S": "INPROGRESS"}, {"S": current.token})
    assert [r.getMessage() for r in caplog.records if r.name == idempotency_records.__name__] == [
        "idempotency record not completed: its claim had lapsed",
        "idempotency record not released: its claim had lapsed",
    ]
    records.complete(current, '{"orderId":"o-1"}')
    assert records.claim(KEY, BODY, running_until()) == Answered('{"orderId":"o-1"}')


def test_a_released_key_runs_again(records: IdempotencyRecords, client: Any) -> None:
    records.release(claimed(records))
    assert client.scan(TableName="idempotency")["Items"] == []
    assert isinstance(records.claim(KEY, OTHER_BODY, running_until()), Claim)


def test_a_record_past_its_window_is_a_new_key(records: IdempotencyRecords, client: Any) -> None:
    """DynamoDB's TTL deletes expired items within days, not at once: expired means gone."""
    records.complete(claimed(records), '{"orderId":"o-1"}')
    client.update_item(
        TableName="idempotency",
        Key={"id": the_record(client)["id"]},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert isinstance(records.claim(KEY, OTHER_BODY, running_until()), Claim)


def test_without_the_old_item_in_the_refusal_the_record_is_read(
    records: IdempotencyRecords,
) -> None:
    """ALL_OLD on a failed condition is recent (2023); where it is missing, read the record."""
    records.complete(claimed(records), '{"orderId":"o-1"}')

    def strip_old_item(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("Item", None)

    aws.dynamodb().meta.events.register("after-call.dynamodb.PutItem", strip_old_item)
    assert records.claim(KEY, BODY, running_until()) == Answered('{"orderId":"o-1"}')
    with pytest.raises(IdempotencyKeyReused):
        records.claim(KEY, OTHER_BODY, running_until())


def test_a_failed_completion_or_release_is_logged_not_raised(
    records: IdempotencyRecords, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The order's answer (or the request's own error) is the truth; the claim lapses."""
    claim = claimed(records)
    monkeypatch.setattr(records, "table_name", "no-such-table")
    records.complete(claim, '{"orderId":"o-1"}')
    records.release(claim)
    assert [r.getMessage() for r in caplog.records if r.name == idempotency_records.__name__] == [
        "idempotency record not completed; its claim will lapse",
        "idempotency record not released; its claim will lapse",
    ]


@pytest.mark.parametrize("meanwhile", ["released", "expired"])
def test_a_record_that_goes_between_a_refused_claim_and_its_read_is_claimed_again(
    records: IdempotencyRecords, client: Any, meanwhile: str
) -> None:
    claimed(records)

    def change_after_the_refusal(parsed: dict[str, Any], **_: Any) -> None:
        if parsed.pop("Item", None) is None:
            return  # the claim that passed
        key = {"id": the_record(client)["id"]}
        if meanwhile == "released":
            client.delete_item(TableName="idempotency", Key=key)
        else:
            client.update_item(
                TableName="idempotency",
                Key=key,
                UpdateExpression="SET expiration = :past",
                ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
            )

    aws.dynamodb().meta.events.register("after-call.dynamodb.PutItem", change_after_the_refusal)
    claim = records.claim(KEY, OTHER_BODY, running_until())  # gone: any body may have it
    assert isinstance(claim, Claim)
    assert the_record(client)["claim_token"] == {"S": claim.token}
