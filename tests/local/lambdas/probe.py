"""A test-only function for the local Lambda emulation: sleeps, crashes or echoes on demand."""

import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("crash"):
        os._exit(3)
    if event.get("raise"):
        raise ValueError(event["raise"])
    return {
        "pid": os.getpid(),
        "env": {k: v for k, v in os.environ.items() if k.startswith("PROBE_")},
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function_name": context.function_name,
    }
