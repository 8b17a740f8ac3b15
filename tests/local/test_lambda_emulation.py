"""The local Lambda emulation itself: isolation, timeouts, crashes, concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.local.event_source import _failed_ids
from infra.local.lambda_runtime import (
    EnvironmentCrashed,
    FunctionConfig,
    FunctionError,
    FunctionTimeout,
    LocalFunction,
)

pytestmark = pytest.mark.local

LAMBDAS = Path(__file__).with_name("lambdas")


@pytest.fixture
def probe() -> LocalFunction:
    logs: list[str] = []
    function = LocalFunction(
        FunctionConfig(
            name="probe",
            handler="probe.handler",
            code_dir=LAMBDAS,
            timeout_s=1.0,
            memory_mb=128,
            environment={"PROBE_COLOUR": "blue"},
            concurrency=2,
        ),
        lambda _, line: logs.append(line),
    )
    function.logs = logs  # type: ignore[attr-defined]
    yield function
    function.close()


def test_a_function_sees_only_its_own_environment(probe: LocalFunction) -> None:
    result = probe.invoke({})
    assert result["env"] == {"PROBE_COLOUR": "blue"}
    assert result["function_name"] == "probe"
    assert 0 < result["remaining_ms"] <= 1000


def test_environments_are_reused_warm(probe: LocalFunction) -> None:
    first, second = probe.invoke({})["pid"], probe.invoke({})["pid"]
    assert first == second
    assert probe.cold_starts == 1


def test_a_handler_past_its_timeout_is_killed_and_replaced(probe: LocalFunction) -> None:
    pid = probe.invoke({})["pid"]

    with pytest.raises(FunctionTimeout):
        probe.invoke({"sleep": 3})

    assert probe.invoke({})["pid"] != pid
    assert any("timed out" in line for line in probe.logs)  # type: ignore[attr-defined]


def test_a_crashed_environment_is_replaced(probe: LocalFunction) -> None:
    with pytest.raises(EnvironmentCrashed):
        probe.invoke({"crash": True})
    assert probe.invoke({})["pid"]


def test_a_handler_error_is_a_function_error(probe: LocalFunction) -> None:
    with pytest.raises(FunctionError, match="ValueError: nope"):
        probe.invoke({"raise": "nope"})


def test_concurrency_is_capped(probe: LocalFunction) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        pids = set(pool.map(lambda _: probe.invoke({"sleep": 0.3})["pid"], range(6)))
    assert len(pids) == 2


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),
        ({"batchItemFailures": [{"id": "a"}]}, None),
        ("not a dict", None),
    ],
)
def test_batch_responses_are_read_as_lambda_reads_them(
    response: object, failed: set[str] | None
) -> None:
    assert _failed_ids(response, {"a", "b"}) == failed
