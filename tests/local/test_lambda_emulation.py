"""The local Lambda emulation itself: isolation, timeouts, crashes, concurrency, the invocation
contract (JSON, 6 MB) and the sandbox (imports, /tmp, memory, freezing, read-only code)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from infra.local.event_source import _failed_ids
from infra.local.lambda_runtime import (
    PAYLOAD_LIMIT_BYTES,
    EnvironmentCrashed,
    FunctionConfig,
    FunctionError,
    FunctionTimeout,
    LocalFunction,
    RequestTooLarge,
    ResponseTooLarge,
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


# The invocation contract and the sandbox (issue 12, points 3 and 4) -----------------------------


@pytest.fixture
def sandbox() -> Iterator[LocalFunction]:
    logs: list[str] = []
    function = LocalFunction(
        FunctionConfig(
            name="sandbox",
            handler="sandbox.handler",
            code_dir=LAMBDAS,
            timeout_s=5.0,
            memory_mb=128,
            environment={},
            concurrency=2,
        ),
        lambda _, line: logs.append(line),
    )
    function.logs = logs  # type: ignore[attr-defined]
    yield function
    function.close()


def test_a_result_json_cannot_carry_fails_as_lambda_marshal_error(sandbox: LocalFunction) -> None:
    # Lambda's Python runtime serializes the result as JSON: a datetime is Runtime.MarshalError
    with pytest.raises(FunctionError, match=r"Runtime\.MarshalError: Unable to marshal response"):
        sandbox.invoke({"action": "datetime"})


def test_requests_and_responses_over_6_mb_fail(sandbox: LocalFunction) -> None:
    with pytest.raises(RequestTooLarge):
        sandbox.invoke({"padding": "x" * PAYLOAD_LIMIT_BYTES})
    with pytest.raises(ResponseTooLarge, match=r"Function\.ResponseSizeTooLarge"):
        sandbox.invoke({"action": "big-response", "size": PAYLOAD_LIMIT_BYTES + 1})
    # just under the limit passes both ways (the JSON string adds its two quotes)
    assert len(sandbox.invoke({"action": "big-response", "size": PAYLOAD_LIMIT_BYTES - 2})) == (
        PAYLOAD_LIMIT_BYTES - 2
    )


def test_functions_import_only_what_lambda_gives_them(sandbox: LocalFunction) -> None:
    modules = ["boto3", "botocore", "aws_lambda_powertools", "pydantic", "aws_xray_sdk"]
    dev_only = ["moto", "pytest", "jsonschema", "joserfc", "infra", "aws_cdk", "standardwebhooks"]
    importable = sandbox.invoke({"modules": modules + dev_only})["importable"]
    assert importable == {name: name in modules for name in modules + dev_only}


def test_lambda_environment_variables_and_context(sandbox: LocalFunction) -> None:
    seen = sandbox.invoke({})
    environ = seen["environ"]
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == "sandbox"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environ["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/sandbox"
    assert environ["AWS_LAMBDA_LOG_STREAM_NAME"].count("/") == 3
    assert environ["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python3.")
    assert environ["_HANDLER"] == "sandbox.handler"
    assert environ["LAMBDA_TASK_ROOT"] == seen["cwd"] != str(LAMBDAS)
    assert environ["TZ"] == ":UTC"
    assert seen["memory_limit_in_mb"] == "128"  # a string, as in Lambda's Python runtime
    assert seen["log_group_name"] == "/aws/lambda/sandbox"
    assert seen["invoked_function_arn"].endswith(":function:sandbox")


def test_each_execution_environment_has_its_own_tmp(sandbox: LocalFunction) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(
            lambda value: sandbox.invoke({"action": "write-tmp", "value": value}), ["a", "b"]
        )
    assert first["tmp"] != second["tmp"]
    assert not first["existed"]
    assert not second["existed"]


def test_the_memory_size_is_enforced(sandbox: LocalFunction) -> None:
    assert sandbox.invoke({"action": "allocate", "mb": 16}) == 16 * 1024 * 1024
    with pytest.raises((FunctionError, EnvironmentCrashed)):
        sandbox.invoke({"action": "allocate", "mb": 200})  # over the function's 128 MB


def test_the_environment_is_frozen_between_invocations(sandbox: LocalFunction) -> None:
    started = sandbox.invoke({"action": "start-ticker"})["ticks"]
    assert started > 0
    after_return = sandbox.invoke({"action": "ticks"})["ticks"]
    time.sleep(0.5)  # a running thread would tick about 50 times here
    later = sandbox.invoke({"action": "ticks"})["ticks"]
    assert later - after_return < 10


def test_the_code_directory_is_read_only(sandbox: LocalFunction) -> None:
    assert sandbox.invoke({"action": "write-code"}) == {
        "written": False,
        "error": "PermissionError",
    }
    assert (LAMBDAS / "sandbox.py").read_text().startswith('"""A test-only function')
