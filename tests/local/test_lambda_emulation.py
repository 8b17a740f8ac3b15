"""The local Lambda emulation itself: isolation, timeouts, crashes, concurrency."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from infra.local.event_source import _failed_ids
from infra.local.lambda_runtime import (
    EnvironmentCrashed,
    FunctionConfig,
    FunctionError,
    FunctionTimeout,
    LocalFunction,
)
from infra.local.runtime import Faults
from tests.local.conftest import wait_until

pytestmark = pytest.mark.local

LAMBDAS = Path(__file__).with_name("lambdas")
TIMEOUT_S = 3.0  # room for a busy machine: only a handler that sleeps past it times out


def probe_function(environment: dict[str, str], concurrency: int = 2) -> LocalFunction:
    logs: list[str] = []
    function = LocalFunction(
        FunctionConfig(
            name="probe",
            handler="probe.handler",
            code_dir=LAMBDAS,
            timeout_s=TIMEOUT_S,
            memory_mb=128,
            environment=environment,
            concurrency=concurrency,
        ),
        lambda _, line: logs.append(line),
    )
    function.logs = logs  # type: ignore[attr-defined]
    return function


@pytest.fixture
def probe() -> Iterator[LocalFunction]:
    function = probe_function({"PROBE_COLOUR": "blue"})
    yield function
    function.close()


def test_a_function_sees_only_its_own_environment(probe: LocalFunction) -> None:
    result = probe.invoke({})
    assert result["env"] == {"PROBE_COLOUR": "blue"}
    assert result["function_name"] == "probe"
    assert 0 < result["remaining_ms"] <= TIMEOUT_S * 1000


def test_environments_are_reused_warm(probe: LocalFunction) -> None:
    first, second = probe.invoke({})["pid"], probe.invoke({})["pid"]
    assert first == second
    assert probe.cold_starts == 1


def test_a_handler_past_its_timeout_is_killed_and_replaced(probe: LocalFunction) -> None:
    pid = probe.invoke({})["pid"]

    with pytest.raises(FunctionTimeout):
        probe.invoke({"sleep": 60})

    assert probe.invoke({})["pid"] != pid
    assert any("timed out" in line for line in probe.logs)  # type: ignore[attr-defined]


def test_a_crashed_environment_is_replaced(probe: LocalFunction) -> None:
    with pytest.raises(EnvironmentCrashed):
        probe.invoke({"crash": True})
    assert probe.invoke({})["pid"]


def test_a_handler_error_is_a_function_error(probe: LocalFunction) -> None:
    with pytest.raises(FunctionError, match="ValueError: nope"):
        probe.invoke({"raise": "nope"})


def test_injected_faults_fire_on_schedule_and_are_logged() -> None:
    # Given a function whose 2nd invocation fails and every 3rd dies after the handler ran
    faults = Faults(error_on_invocations=(2,), crash_every=3)
    probe = probe_function(faults.environment(), concurrency=1)
    try:
        pid = probe.invoke({})["pid"]
        with pytest.raises(FunctionError, match="injected fault"):
            probe.invoke({})
        with pytest.raises(EnvironmentCrashed):
            probe.invoke({})
        # the count is the function's: a new environment goes on from it
        assert probe.invoke({})["pid"] != pid
        probe.invoke({})
        with pytest.raises(EnvironmentCrashed):
            probe.invoke({})
    finally:
        probe.close()

    assert [(f["fault"], f["invocation"]) for f in injected(probe, 3)] == [
        ("error", 2),
        ("crash", 3),
        ("crash", 6),
    ]


def test_seeded_faults_draw_the_same_for_each_invocation_whichever_environment_runs_it() -> None:
    failed: list[set[int]] = []
    for concurrency in (1, 2):
        probe = probe_function(Faults(error_rate=0.5, seed=7).environment(), concurrency)
        try:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                errors = sum(pool.map(_fails, [probe] * 12))
            failed.append({f["invocation"] for f in injected(probe, errors)})
        finally:
            probe.close()
    assert failed[0] == failed[1]
    assert 0 < len(failed[0]) < 12


def injected(probe: LocalFunction, count: int) -> list[dict[str, Any]]:
    """The faults the probe logged, once there are `count` (lines come from its processes later)."""

    def logged() -> list[dict[str, Any]]:
        lines: list[str] = probe.logs  # type: ignore[attr-defined]
        return [json.loads(line) for line in lines if "Fault injected" in line]

    wait_until(lambda: len(logged()) >= count, 30, "the faults logged")
    return logged()


def _fails(probe: LocalFunction) -> bool:
    try:
        probe.invoke({})
    except FunctionError:
        return True
    return False


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
