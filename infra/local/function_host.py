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
import json
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


# Injected faults (tests and demos only), as JSON: for `error` (the invocation fails before the
# handler runs) and `crash` (the process dies after the handler did its work, before answering),
# `<fault>_rate` (random draws, reproducible with `seed`), `<fault>_every` (every n-th
# invocation) and `<fault>_on_invocations` (those invocations). Invocations are those of the
# function, numbered from 1 by the runtime that sends them, whichever environment runs them.
# See `infra.local.runtime.Faults`, which writes it.
INVOCATION_FAULTS = "LOCAL_INVOCATION_FAULTS"


class InvocationFaults:
    """When this environment injects a fault into an invocation, and the line that says so."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def fires(self, fault: str, invocation: int) -> bool:
        rate = float(self.spec.get(f"{fault}_rate", 0))
        every = int(self.spec.get(f"{fault}_every", 0))
        scheduled = invocation in self.spec.get(f"{fault}_on_invocations", ()) or (
            every > 0 and invocation % every == 0
        )
        return scheduled or (rate > 0 and self._draw(fault, invocation) < rate)

    def _draw(self, fault: str, invocation: int) -> float:
        """With a seed, the draw of one fault for one invocation number, the same every time."""
        seed = self.spec.get("seed")
        if seed is None:
            return random.random()
        return random.Random(f"{seed}:{fault}:{invocation}").random()

    @staticmethod
    def report(fault: str, invocation: int, context: LambdaContext) -> None:
        line = {
            "level": "WARNING",
            "message": "Fault injected",
            "fault": fault,
            "invocation": invocation,
            "function_name": context.function_name,
            "function_request_id": context.aws_request_id,
        }
        print(json.dumps(line), flush=True)


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
    faults = InvocationFaults(json.loads(os.environ.get(INVOCATION_FAULTS) or "{}"))
    served = 0
    while True:
        try:
            request: dict[str, Any] = connection.recv()
        except EOFError:
            return
        context = LambdaContext(name, memory, request["deadline_ms"], request["request_id"])
        served += 1
        number = request.get("invocation") or served  # the function's count, if the runtime sent it
        try:
            if faults.fires("error", number):
                faults.report("error", number, context)
                raise RuntimeError("injected fault: invocation failed")
            result = handler(request["event"], context)
            if faults.fires("crash", number):
                faults.report("crash", number, context)
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
