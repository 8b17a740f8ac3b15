"""`orders-ops invoke FUNCTION EVENT_FILE --local`: run one function once on an event, the way
the local runtime invokes it (its own sandboxed interpreter, its environment from the running
`make run`, Lambda's invocation contract), and print the result.

Like `sam local invoke`, without Docker: the function talks to the running runtime's moto
server, so an SQS event from events/samples settles a real order there, and an API Gateway
event gets the answer the gateway would have passed on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from infra.local.lambda_runtime import FunctionConfig, InvocationError, LocalFunction

REPOSITORY = Path(__file__).resolve().parents[2]


class InvokeError(Exception):
    """The function is unknown, or the event file cannot be read."""


def invoke(state: dict[str, Any], function: str, event_file: Path) -> Any:
    """The function's result for the event; raises InvocationError as Lambda would fail it."""
    functions = state.get("functions") or {}
    if function not in functions:
        known = ", ".join(sorted(functions)) or "none (restart `make run`)"
        raise InvokeError(f"no function {function!r} in the running runtime; known: {known}")
    try:
        event = json.loads(event_file.read_text())
    except (OSError, ValueError) as error:
        raise InvokeError(f"cannot read the event {event_file}: {error}") from error
    spec = functions[function]
    config = FunctionConfig(
        name=function,
        handler=spec["handler"],
        code_dir=Path(spec["codeDir"]),
        timeout_s=float(spec["timeoutS"]),
        memory_mb=int(spec["memoryMb"]),
        environment=dict(spec["environment"]),
        concurrency=1,
        region=str(state.get("region", "us-east-1")),
    )
    lines: list[str] = []
    local = LocalFunction(config, lambda _, line: lines.append(line))
    try:
        return local.invoke(event)
    finally:
        local.close()
        for line in lines:  # the function's own log, after the result's summary
            print(f"[{function}] {line}", file=sys.stderr)


def run(state: dict[str, Any], function: str, event_file: Path) -> int:
    """The CLI's part: print the result as JSON (exit 0), or the error as Lambda reports it."""
    try:
        result = invoke(state, function, event_file)
    except InvokeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except InvocationError as error:
        print(json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}))
        return 1
    print(json.dumps(result, indent=2))
    return 0
