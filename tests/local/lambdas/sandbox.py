"""A test-only function that reports what its execution environment lets it see and do."""

import datetime
import importlib.util
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TICKS: list[float] = []


def _tick() -> None:
    while True:
        TICKS.append(time.monotonic())
        time.sleep(0.01)


def handler(event: dict[str, Any], context: Any) -> Any:
    action = event.get("action")
    if action == "datetime":
        return {"now": datetime.datetime.now(datetime.UTC)}
    if action == "big-response":
        return "x" * event["size"]
    if action == "allocate":
        block = bytearray(event["mb"] * 1024 * 1024)
        return len(block)
    if action == "start-ticker":
        threading.Thread(target=_tick, daemon=True).start()
        time.sleep(0.1)
        return {"ticks": len(TICKS)}
    if action == "ticks":
        return {"ticks": len(TICKS)}
    if action == "write-tmp":
        path = Path(tempfile.gettempdir()) / "marker"
        existed = path.exists()
        path.write_text(event["value"])
        return {"tmp": tempfile.gettempdir(), "existed": existed}
    if action == "write-code":
        try:
            (Path(os.environ["LAMBDA_TASK_ROOT"]) / "sandbox.py").write_text("# replaced\n")
        except OSError as error:
            return {"written": False, "error": type(error).__name__}
        return {"written": True}
    return {
        "importable": {
            name: importlib.util.find_spec(name) is not None for name in event.get("modules", [])
        },
        "environ": dict(os.environ),
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "cwd": os.getcwd(),
    }
