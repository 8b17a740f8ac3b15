"""Each baseline of `make bench` makes the same AWS calls as its function, on the same event.

A baseline that skipped a call would make every ratio flatter than the truth; one that added a
call, harsher. Both run in this process against `mock_aws`, with the bench's own scenarios
(event and state), and every botocore operation they send is recorded.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from infra.local.provision import provision
from infra.orders_local import sample_catalog, seed_catalog
from infra.tools.bench.scenarios import (
    BASELINES_DIR,
    SCENARIOS,
    Aws,
    Receiver,
    Scenario,
    environment,
)
from infra.topology import TOPOLOGY
from shared import aws as shared_aws
from tests.conftest import FakeContext, fake_aws_credentials

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _reset_clients() -> None:
    shared_aws.dynamodb.cache_clear()
    shared_aws.sqs.cache_clear()
    shared_aws.forget_secrets()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    fake_aws_credentials(monkeypatch)
    monkeypatch.syspath_prepend(str(BASELINES_DIR))
    with mock_aws(), Receiver() as receiver:
        dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        resources = provision(
            TOPOLOGY, dynamodb, sqs, boto3.client("secretsmanager"), {"webhook-signing": SECRET}
        )
        seed_catalog(dynamodb, resources.table_names["products"], sample_catalog())
        _reset_clients()
        yield Aws(dynamodb, sqs, resources, receiver.url)
    _reset_clients()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS call made while recording, as `service.Operation`."""
    recorded: list[str] = []
    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        recorded.append(f"{self.meta.service_model.service_name}.{operation}")
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return recorded


def _handler(module_name: str, attribute: str) -> Any:
    """The handler, its module imported afresh (baselines read the environment at import)."""
    sys.modules.pop(module_name, None)
    return getattr(importlib.import_module(module_name), attribute)


def _run(scenario: Scenario, aws: Aws, calls: list[str], handler_path: str) -> list[str]:
    scenario.prepare(aws)
    event = scenario.event(aws)
    handler = _handler(*handler_path.rsplit(".", 1))
    calls.clear()
    answer = handler(event, FakeContext())
    assert scenario.succeeded(answer), answer
    return list(calls)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_baseline_makes_the_same_aws_calls_as_its_function(
    scenario: Scenario, aws: Aws, calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function's environment, as the stack sets it, and the scenario's state
    for name, value in environment(TOPOLOGY.function(scenario.function), aws).items():
        monkeypatch.setenv(name, value)
    function = next(f for f in TOPOLOGY.functions if f.name == scenario.function)

    # When the function, then its baseline, handle the scenario's event
    by_function = _run(scenario, aws, calls, function.handler)
    by_baseline = _run(scenario, aws, calls, scenario.baseline)

    # Then both made the same calls, in the same order, and did make some
    assert by_function, "the function made no AWS call"
    assert by_baseline == by_function, (by_function, by_baseline)
