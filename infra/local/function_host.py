"""One Lambda execution environment: a fresh interpreter that imports one handler and serves it.

Started by `infra.local.lambda_runtime` with the function's own environment variables only, so
functions share no module state, as in Lambda. Invocations arrive over a socket passed as a
file descriptor; stdout and stderr are the function's logs.

    python -I infra/local/function_host.py <fd> <module.attribute> <code dir>

Run in isolated mode (-I) by path: the interpreter sees the code directory and site-packages,
not the repository.
"""

from __future__ import annotations

import importlib
import os
import random
import signal
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    deadline_ms: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


ERROR_RATE = "LOCAL_FAULT_ERROR_RATE"
CRASH_RATE = "LOCAL_FAULT_CRASH_RATE"


def serve(connection: Connection, handler_path: str) -> None:
    module_name, attribute = handler_path.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception:  # an init error is reported to the caller, as Lambda reports it
        connection.send({"init_error": traceback.format_exc()})
        return
    connection.send({"ready": True})
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", module_name)
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    # Injected faults (tests and demos only): an invocation that fails before the handler runs,
    # and a process that dies after the handler did its work but before it could answer.
    error_rate = float(os.environ.get(ERROR_RATE, "0"))
    crash_rate = float(os.environ.get(CRASH_RATE, "0"))
    while True:
        try:
            request: dict[str, Any] = connection.recv()
        except EOFError:
            return
        context = LambdaContext(name, memory, request["deadline_ms"], request["request_id"])
        try:
            if random.random() < error_rate:
                raise RuntimeError("injected fault: invocation failed")
            result = handler(request["event"], context)
            if random.random() < crash_rate:
                print("injected fault: execution environment killed", flush=True)
                os._exit(137)
        except Exception as error:
            traceback.print_exc()
            connection.send(
                {"error": {"errorType": type(error).__name__, "errorMessage": str(error)}}
            )
        else:
            connection.send({"result": result})
        sys.stdout.flush()


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group; the runtime that started us decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd, handler_path, code_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    # Like /var/task: the code directory, not the repository (an editable install's .pth adds it).
    repository = os.path.dirname(os.path.abspath(code_dir))
    sys.path = [code_dir] + [p for p in sys.path if os.path.abspath(p or ".") != repository]
    serve(Connection(int(fd)), handler_path)
