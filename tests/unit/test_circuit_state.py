"""notifications.circuit_state keeps each circuit as Powertools' DynamoDB layer does: the same
items through the same transitions, the same probe election, a short read cache, a read that
fails open. Powertools' layer (which imports boto3) is the reference, on moto."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.circuit_breaker import CircuitBreakerConfig, CircuitState
from aws_lambda_powertools.utilities.circuit_breaker.persistence import (
    CircuitBreakerDynamoDBPersistence,
)
from moto import mock_aws

from notifications import circuit_state
from notifications.circuit_state import CircuitStore
from tests.conftest import fake_aws_credentials

NAME = "circuit#https://hooks.example:443"
RECOVERY_S = 30


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_credentials(monkeypatch)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        for table in ("ours", "powertools"):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "eventId", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "eventId", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield dynamodb


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Both layers' clock, in whole seconds, moved by the test."""
    now = [1_800_000_000]
    monkeypatch.setattr(circuit_state, "_now", lambda: now[0])

    class Frozen:
        @staticmethod
        def now() -> Any:
            return type("Stamp", (), {"timestamp": lambda _: float(now[0])})()

    from aws_lambda_powertools.utilities.circuit_breaker.persistence import base, dynamodb

    for module in (base, dynamodb):  # their `dt` (the datetime module), not datetime itself
        monkeypatch.setattr(module, "dt", SimpleNamespace(datetime=Frozen))
    return now


def _layers(client: Any) -> tuple[CircuitStore, CircuitBreakerDynamoDBPersistence]:
    ours = CircuitStore(client, "ours")
    theirs = CircuitBreakerDynamoDBPersistence(
        table_name="powertools", key_attr="eventId", expiry_attr="expiresAt", boto3_client=client
    )
    config = CircuitBreakerConfig(recovery_timeout=RECOVERY_S, local_cache_max_age=5)
    for layer in (ours, theirs):
        layer.configure(config=config, circuit_name=NAME)
    return ours, theirs


def _item(client: Any, table: str) -> dict[str, Any]:
    item: dict[str, Any] = client.get_item(TableName=table, Key={"eventId": {"S": NAME}})["Item"]
    return item


Step = Callable[[Any], object]
TRANSITIONS: list[tuple[str, Step]] = [
    ("open", lambda layer: layer.save_open(NAME, failure_count=3, opened_at=1_799_999_990)),
    ("probe", lambda layer: layer.try_acquire_half_open(NAME, "env-a", 1_799_999_990)),
    ("reopen", lambda layer: layer.save_reopen(NAME, opened_at=1_800_000_000)),
    ("probe again", lambda layer: layer.try_acquire_half_open(NAME, "env-b", 1_800_000_000)),
    ("close", lambda layer: layer.save_closed(NAME)),
]


def test_each_transition_leaves_the_item_powertools_leaves(client: Any, clock: list[int]) -> None:
    ours, theirs = _layers(client)
    for step, transition in TRANSITIONS:
        assert transition(ours) == transition(theirs), step
        assert _item(client, "ours") == _item(client, "powertools"), step
        clock[0] += 1
    assert _item(client, "ours")["state"] == {"S": "CLOSED"}


def test_each_layer_reads_the_others_items(client: Any, clock: list[int]) -> None:
    """One table can move from Powertools' layer to ours (and back) without losing a circuit."""
    ours, theirs = _layers(client)
    for _, transition in TRANSITIONS:
        transition(theirs)
        client.put_item(TableName="ours", Item=_item(client, "powertools"))
        clock[0] += 10  # past both local caches
        assert ours.get_state(NAME) == _as_ours(theirs.get_state(NAME))


def _as_ours(record: Any) -> circuit_state.CircuitRecord:
    return circuit_state.CircuitRecord(
        record.name,
        record.state,
        record.failure_count,
        record.opened_at,
        record.half_open_owner,
        record.probe_lease_expiry,
        record.expiry_timestamp,
    )


def test_one_probe_is_elected_until_its_lease_runs_out(client: Any, clock: list[int]) -> None:
    ours, _ = _layers(client)
    ours.save_open(NAME, failure_count=3, opened_at=1_799_999_000)
    assert not ours.try_acquire_half_open(NAME, "late", 1_799_998_000)  # saw an older opening
    assert ours.try_acquire_half_open(NAME, "first", 1_799_999_000)
    assert not ours.try_acquire_half_open(NAME, "second", 1_799_999_000)
    clock[0] += RECOVERY_S - 1
    assert not ours.try_acquire_half_open(NAME, "second", 1_799_999_000)
    clock[0] += 1  # the first prober's lease has run out: it may have died mid-probe
    assert ours.try_acquire_half_open(NAME, "second", 1_799_999_000)
    assert _item(client, "ours")["half_open_owner"] == {"S": "second"}


def test_a_read_is_cached_for_the_configured_seconds(client: Any, clock: list[int]) -> None:
    ours, _ = _layers(client)
    assert ours.get_state(NAME).state is CircuitState.CLOSED
    CircuitStore(client, "ours").save_open(NAME, failure_count=3, opened_at=clock[0])  # elsewhere
    clock[0] += 4
    assert ours.get_state(NAME).state is CircuitState.CLOSED
    clock[0] += 1
    assert ours.get_state(NAME).state is CircuitState.OPEN


def test_an_unreadable_table_reads_as_closed_and_is_read_again(
    client: Any, clock: list[int]
) -> None:
    CircuitStore(client, "ours").save_open(NAME, failure_count=3, opened_at=clock[0])
    broken = CircuitStore(client, "no-such-table")
    assert broken.get_state(NAME).state is CircuitState.CLOSED
    broken._table = "ours"  # the table is back: nothing stale was cached
    assert broken.get_state(NAME).state is CircuitState.OPEN


@pytest.mark.parametrize(
    "item",
    [
        {"failure_count": {"N": "3"}},
        {"state": {"S": "AJAR"}},
        {"state": {"S": "OPEN"}, "opened_at": {"S": "x"}},
    ],
    ids=["no state", "unknown state", "not a number"],
)
def test_an_unreadable_item_reads_as_closed(
    client: Any, clock: list[int], item: dict[str, Any]
) -> None:
    client.put_item(TableName="ours", Item={"eventId": {"S": NAME}, **item})
    assert CircuitStore(client, "ours").get_state(NAME).state is CircuitState.CLOSED
