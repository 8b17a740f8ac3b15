"""`orders-ops invoke`: one function, once, on a sample event, as the local runtime runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.local.runtime import LocalRuntime
from infra.tools import invoke, ops
from tests.conftest import SAMPLES

pytestmark = pytest.mark.local


def test_the_api_answers_a_sample_request_as_the_gateway_would_pass_it_on(
    runtime: LocalRuntime,
) -> None:
    result = invoke.invoke(runtime.describe(), "order-api", SAMPLES / "api" / "list_products.json")

    assert result["statusCode"] == 200
    skus = [product["sku"] for product in json.loads(result["body"])["items"]]
    assert "KB-001" in skus  # the running runtime's catalog, not an empty table


def test_a_consumer_answers_its_sample_batch_with_partial_failures(
    runtime: LocalRuntime,
) -> None:
    result = invoke.invoke(runtime.describe(), "order-worker", SAMPLES / "sqs" / "orders.json")

    assert result == {"batchItemFailures": []}  # unknown orders are never accepted: nothing to do


def test_the_cli_prints_the_result_or_a_clear_error(
    runtime: LocalRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = runtime.describe()
    assert invoke.run(state, "sweeper", SAMPLES / "eventbridge" / "sweeper_schedule.json") == 0
    assert set(json.loads(capsys.readouterr().out)) == {"reenqueued", "stuck", "settled"}

    assert invoke.run(state, "nope", SAMPLES / "sqs" / "orders.json") == 2
    assert "no function 'nope'" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert invoke.run(state, "sweeper", broken) == 2
    assert "cannot read the event" in capsys.readouterr().err


def test_orders_ops_invoke_runs_a_function_on_a_sample(
    runtime: LocalRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "runtime.json"
    state.write_text(json.dumps(runtime.describe()))
    event = SAMPLES / "api" / "get_product.json"

    assert ops.main(["invoke", "order-api", str(event), "--state-file", str(state)]) == 0

    answer = json.loads(capsys.readouterr().out)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["sku"] == "KB-001"
